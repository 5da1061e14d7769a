#!/usr/bin/env bash
# lintian on the .deb and rpmlint on the .rpm: no error and no warning that is
# not overridden (packaging/lintian-overrides, packaging/rpmlint.toml, each
# with its reason).
# Usage: lint_test.sh DEB RPM RPMLINT_TOML
set -euo pipefail
lib=packaging/tests/lib.sh # the runfiles root is the working directory
[[ -f $lib ]] || lib=$(dirname "$(readlink -f "$0")")/lib.sh
source "$lib"
deb=$(rpath "$1") rpm=$(rpath "$2") rpmlint_cfg=$(rpath "$3")
ensure_tools lintian:lintian rpmlint:rpmlint cpio:cpio rpm:rpm

t=$(scratch)
trap 'rm -rf "$t"' EXIT
rc=0

echo "== lintian $(lintian --version)"
lintian --fail-on error,warning --display-info --show-overrides --tag-display-limit 0 "$deb" >"$t/lintian.out" 2>&1 || rc=$?
grep -v '^running with root privileges' "$t/lintian.out" || true
if ((rc != 0)) || grep -q '^[EW]: ' "$t/lintian.out"; then
	fail "lintian reports errors or warnings (exit $rc)"
fi

# rpmlint unpacks nfpm rpms with absolute paths onto this machine unless cpio
# gets --no-absolute-filenames: put a shim first on PATH.
mkdir "$t/shim"
cat >"$t/shim/cpio" <<'SHIM'
#!/bin/sh
exec /usr/bin/cpio --no-absolute-filenames "$@"
SHIM
chmod +x "$t/shim/cpio"
echo "== rpmlint"
rc=0
(cd "$t" && PATH=$t/shim:$PATH rpmlint --config "$rpmlint_cfg" "$rpm") >"$t/rpmlint.out" 2>&1 || rc=$?
cat "$t/rpmlint.out"
grep -Eq ' 0 errors, 0 warnings' "$t/rpmlint.out" || fail "rpmlint reports errors or warnings (exit $rc)"
((rc == 0)) || fail "rpmlint exit $rc"
say PASS
