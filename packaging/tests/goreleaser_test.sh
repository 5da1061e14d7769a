#!/usr/bin/env bash
# Runs packaging/goreleaser_check.sh against the Bazel-built packages.
# Usage: goreleaser_test.sh CHECK_SCRIPT DEB RPM
set -euo pipefail
lib=packaging/tests/lib.sh # the runfiles root is the working directory
[[ -f $lib ]] || lib=$(dirname "$(readlink -f "$0")")/lib.sh
source "$lib"
check=$(rpath "$1") deb=$(rpath "$2") rpm=$(rpath "$3")
ensure_tools rpm:rpm git:git
exec "$check" "$deb" "$rpm"
