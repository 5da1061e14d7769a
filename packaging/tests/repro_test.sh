#!/usr/bin/env bash
# Reproducibility: building the packages again, from copies of the inputs
# with other mtimes, another umask, path and host name, gives the same bytes
# as the Bazel-built //packaging:deb and //packaging:rpm.
# Usage: repro_test.sh DEB RPM VPO_PKG VPO_BINARY
set -euo pipefail
lib=packaging/tests/lib.sh # the runfiles root is the working directory
[[ -f $lib ]] || lib=$(dirname "$(readlink -f "$0")")/lib.sh
source "$lib"
deb=$(rpath "$1") rpm=$(rpath "$2") vpo_pkg=$(rpath "$3") vpo_bin=$(rpath "$4")
release=$(dpkg-deb -f "$deb" Version)
release=${release##*-}

t=$(scratch)
trap 'rm -rf "$t"' EXIT
for run in 1 2; do
	w=$t/run$run
	mkdir -p "$w"
	# Dereferenced copies of the runfiles inputs.
	cp -rL packaging "$w/packaging"
	cp -L "$vpo_bin" "$w/vpo"
	find "$w" -exec touch -d "@$((1000000000 + run * 86400))" {} +
	for fmt in deb rpm; do
		(cd "$w" && umask 0077 && "$vpo_pkg" package --format "$fmt" --binary ./vpo \
			--release "$release" --out "$t/vpo$run.$fmt") || fail "run $run: building $fmt failed"
	done
done
for fmt in deb rpm; do
	want=$deb
	[[ $fmt == rpm ]] && want=$rpm
	a=$(sha256sum <"$want" | cut -d' ' -f1)
	for run in 1 2; do
		b=$(sha256sum <"$t/vpo$run.$fmt" | cut -d' ' -f1)
		[[ $a == "$b" ]] || fail "$fmt: rebuild $run gives $b, Bazel built $a"
	done
	echo "$fmt: $a (3 builds identical)"
done
say PASS
