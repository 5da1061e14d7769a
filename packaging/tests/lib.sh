# Shared helpers of the packaging tests (sourced; bash).
# The tests run as root inside the Bazel chroot (tools/bazel) or on a Debian
# machine; they install the tools they need with apt-get themselves.

set -euo pipefail
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin${PATH:+:$PATH}

say() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
fail() { say "FAIL: $*"; exit 1; }

# Where tests keep what outlives one run (apt locks, the scratch rootfs).
readonly VPO_PKG_CACHE=${VPO_PKG_CACHE:-/var/cache/vpo-packaging}

# ensure_tools "cmd:package" ...: apt-get install the packages whose command
# is missing. Serialized with a lock, since tests run in parallel.
ensure_tools() {
	local spec missing=()
	for spec in "$@"; do
		command -v "${spec%%:*}" >/dev/null 2>&1 || missing+=("${spec#*:}")
	done
	((${#missing[@]})) || return 0
	mkdir -p "$VPO_PKG_CACHE"
	(
		flock 9
		local still=()
		for spec in "$@"; do
			command -v "${spec%%:*}" >/dev/null 2>&1 || still+=("${spec#*:}")
		done
		((${#still[@]})) || exit 0
		say "installing ${still[*]} with apt-get"
		export DEBIAN_FRONTEND=noninteractive
		apt-get -o Acquire::Check-Valid-Until=false -o DPkg::Lock::Timeout=600 -qq update >&2 ||
			fail "apt-get update failed"
		apt-get -o Acquire::Check-Valid-Until=false -o DPkg::Lock::Timeout=600 -qq -y \
			--no-install-recommends install "${still[@]}" >&2 ||
			fail "apt-get install ${still[*]} failed"
	) 9>"$VPO_PKG_CACHE/apt.lock"
}

# rpath FILE: absolute path of a runfile given as a path relative to the
# runfiles root (what $(rootpath) gives).
rpath() {
	local p=$1
	[[ $p == /* ]] || p=$PWD/$p
	[[ -e $p ]] || fail "missing runfile $1"
	readlink -f "$p"
}

scratch() {
	local d
	d=$(mktemp -d "${TEST_TMPDIR:-/tmp}/vpo-pkg.XXXXXX")
	printf '%s\n' "$d"
}

# expect_eq WHAT GOT WANT
expect_eq() {
	[[ $2 == "$3" ]] || fail "$1: got '$2', want '$3'"
}
