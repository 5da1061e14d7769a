#!/usr/bin/env bash
# goreleaser check + `goreleaser release --snapshot --clean --skip=publish`
# in a temporary copy of the repository, offline apart from the Go module
# proxy. Installs goreleaser (pinned) with `go install` when missing (~3 min
# once, cached in $VPO_PKG_CACHE). Then compares the goreleaser-built amd64
# .deb/.rpm with the Bazel-built ones (file list, modes, owners, conffiles,
# scripts): .goreleaser.yaml's nfpms must describe the same package as
# packaging/nfpm.yaml.
#
# Run by //packaging:goreleaser_test; by hand: packaging/goreleaser_check.sh
# [BAZEL_DEB BAZEL_RPM] from anywhere in the repository.
set -euo pipefail
readonly GORELEASER_VERSION=v2.16.0
cache=${VPO_PKG_CACHE:-/var/cache/vpo-packaging}
say() { printf 'goreleaser_check: %s\n' "$*" >&2; }
fail() { say "FAIL: $*"; exit 1; }

here=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")
ws=$(git -C "$here" rev-parse --show-toplevel 2>/dev/null) || ws=$(cd "$here/.." && pwd)
[[ -d /usr/local/go/bin ]] && export PATH=/usr/local/go/bin:$PATH
command -v go >/dev/null || fail "go is not on PATH"
export GOMODCACHE=${GOMODCACHE:-$cache/gomod} GOCACHE=${GOCACHE:-$cache/gocache} GOFLAGS=-mod=mod
export GOTOOLCHAIN=local
export HOME=${HOME:-$cache/home} GOPATH=${GOPATH:-$cache/gopath}
mkdir -p "$HOME" "$GOPATH"
mkdir -p "$cache/bin"
gr=$cache/bin/goreleaser
if [[ ! -x $gr ]] || ! "$gr" --version 2>/dev/null | grep -q "${GORELEASER_VERSION#v}"; then
	say "installing goreleaser $GORELEASER_VERSION with go install (once, a few minutes)"
	(cd / && GOBIN=$cache/bin go install "github.com/goreleaser/goreleaser/v2@$GORELEASER_VERSION") ||
		fail "go install goreleaser $GORELEASER_VERSION failed"
fi

t=$(mktemp -d "${TEST_TMPDIR:-/tmp}/vpo-goreleaser.XXXXXX")
trap 'rm -rf "$t"' EXIT
src=$t/src
mkdir -p "$src"
# The working tree as it is (tracked and new files, not ignored ones).
(cd "$ws" && git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do
	[[ -e $f || -L $f ]] && printf '%s\0' "$f"
done | tar --null -T - -cf -) | tar -xf - -C "$src"
cd "$src"
git init -q
git add -A
git -c user.name=vpo -c user.email=ci@vpo-project.org commit -qm snapshot
git tag "v$(tr -d '[:space:]' <VERSION)"
git remote add origin https://github.com/vpo-project/vpo.git

"$gr" check || fail "goreleaser check failed"
"$gr" release --snapshot --clean --skip=publish || fail "goreleaser release --snapshot failed"
ls -l dist
for f in checksums.txt; do [[ -f dist/$f ]] || fail "no dist/$f"; done
for a in amd64 arm64; do
	ls dist/vpo_*_linux_"$a".tar.gz >/dev/null 2>&1 || fail "no $a archive"
	tar -tzf dist/vpo_*_linux_"$a".tar.gz | grep -v '^examples/' | sort | tr '\n' ' ' | grep -q 'LICENSE README.md config.toml.sample vpo vpo.service' ||
		fail "$a archive lacks files: $(tar -tzf dist/vpo_*_linux_"$a".tar.gz | tr '\n' ' ')"
	# The example policies, as the packages ship them.
	want=$(cd packaging/examples/policies && ls -- *.yaml | sed 's|^|examples/policies/|' | sort)
	got=$(tar -tzf dist/vpo_*_linux_"$a".tar.gz | grep '^examples/policies/.' | sort)
	[[ -n $want && $got == "$want" ]] ||
		fail "$a archive's examples/policies/ has '$(tr '\n' ' ' <<<"$got")', want '$(tr '\n' ' ' <<<"$want")'"
done
(cd dist && sha256sum -c checksums.txt >/dev/null) || fail "checksums.txt does not match"
gdeb=$(ls dist/vpo_*_amd64.deb) grpm=$(ls dist/vpo-*.x86_64.rpm)
ls dist/vpo_*_arm64.deb dist/vpo-*.aarch64.rpm >/dev/null || fail "no arm64 packages"

if (($# == 2)); then
	bdeb=$1 brpm=$2
	debfiles() { dpkg-deb -c "$1" | awk '{print $1, $2, $6}' | sort -k3; }
	diff -u <(debfiles "$bdeb") <(debfiles "$gdeb") || fail "goreleaser .deb content differs from //packaging:deb"
	for part in conffiles preinst postinst prerm postrm; do
		diff <(dpkg-deb -I "$bdeb" "$part") <(dpkg-deb -I "$gdeb" "$part") >/dev/null ||
			fail "goreleaser .deb $part differs from //packaging:deb"
	done
	for c in control; do
		diff <(dpkg-deb -f "$bdeb" Package Section Priority Maintainer Homepage Description Depends Recommends) \
			<(dpkg-deb -f "$gdeb" Package Section Priority Maintainer Homepage Description Depends Recommends) ||
			fail "goreleaser .deb control fields differ"
	done
	if command -v rpm >/dev/null; then
		rpmfiles() { rpm -qp --nosignature --qf '[%{FILEMODES:perms} %{FILEUSERNAME}/%{FILEGROUPNAME} flags=%{FILEFLAGS:fflags} %{FILENAMES}\n]' "$1" 2>/dev/null | sort -k4; }
		diff -u <(rpmfiles "$brpm") <(rpmfiles "$grpm") || fail "goreleaser .rpm content differs from //packaging:rpm"
		diff <(rpm -qp --nosignature --scripts "$brpm" 2>/dev/null) <(rpm -qp --nosignature --scripts "$grpm" 2>/dev/null) ||
			fail "goreleaser .rpm scripts differ"
		diff <(rpm -qp --nosignature --recommends "$brpm" 2>/dev/null) <(rpm -qp --nosignature --recommends "$grpm" 2>/dev/null) ||
			fail "goreleaser .rpm recommends differ"
	fi
	say "goreleaser packages match the Bazel-built ones"
fi
say PASS
