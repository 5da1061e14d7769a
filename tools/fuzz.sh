#!/usr/bin/env bash
# Runs every Go fuzz target of the repository for a short time each.
#
#   tools/fuzz.sh            # 10s per target
#   tools/fuzz.sh 2m         # 2 minutes per target
#   FUZZTIME=30s tools/fuzz.sh
#
# The seed corpora (testdata/fuzz/<Target>/) already run as ordinary tests
# in `go test ./...` and `tools/bazel test //...`; this script explores
# beyond them. A failing input is written to testdata/fuzz/<Target>/ by
# `go test`: commit it together with the fix. Exits non-zero on the first
# failure.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${1:-${FUZZTIME:-10s}}

# package directory + target name, found from the *_test.go files.
mapfile -t targets < <(grep -rlE --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*\(f \*testing\.F\)' . \
  | grep -v '/bazel-' | sort | while read -r file; do
    dir=$(dirname "$file")
    sed -nE 's/^func (Fuzz[A-Za-z0-9_]*)\(f \*testing\.F\).*/\1/p' "$file" | sed "s|^|$dir |"
  done)
[[ ${#targets[@]} -gt 0 ]] || { echo "no fuzz targets found" >&2; exit 1; }

for entry in "${targets[@]}"; do
  dir=${entry% *}
  name=${entry#* }
  printf '==> %s %s (%s)\n' "$dir" "$name" "$fuzztime"
  go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "$dir"
done
echo "fuzz: ${#targets[@]} targets passed, $fuzztime each"
