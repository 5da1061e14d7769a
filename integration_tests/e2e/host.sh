#!/usr/bin/env bash
# host.sh — boots the vpo packages in a real systemd (systemd-nspawn) and
# collects what scenario.sh observed inside. Driven by e2e_test.go, which
# asserts on the results; this script judges nothing about vpo itself.
#
#   host.sh --deb FILE --rpm FILE --scenario FILE --run DIR
#
# Runs as root on the host (under tools/bazel, e2e_test.go pivots into the
# host root that tools/bazel leaves at /run/vpo-host). It installs what it needs with
# apt-get (debootstrap, systemd-container), keeps a Debian rootfs with
# systemd in $VPO_E2E_CACHE (default /var/cache/vpo-e2e; rebuilt when its
# recipe changes, when it is broken or older than 30 days), and boots a
# throw-away overlay of it, so every run starts from the same pristine tree.
#
# Results land in DIR/out: facts.tsv (key<TAB>value, one observation a line),
# ev/ (evidence: logs, journal export, JSON answers), console.log, done.
# Exit status: 0 = the scenario ran to its end (the facts say how vpo did),
# 77 = this machine cannot run the test (reason in DIR/out/skip-reason),
# anything else = the harness itself failed (message on stderr).
set -euo pipefail

# Bump when the rootfs recipe below changes: cached rootfs are rebuilt.
# procps: the deb depends on it (the unit's ExecReload= runs /bin/kill), and
# the container has no network to fetch it. ffmpeg and mkvtoolnix: the deb
# recommends them and the scenario applies a policy with them (and makes its
# media with ffmpeg); postgresql: the service is also run on a PostgreSQL
# database in the container; installed with apt-get after debootstrap, which
# resolves their many library dependencies better than debootstrap does.
readonly ROOTFS_RECIPE=4
readonly ROOTFS_PACKAGES=systemd,systemd-sysv,dbus,curl,adduser,rpm,procps
readonly ROOTFS_APT_PACKAGES="ffmpeg mkvtoolnix postgresql"
readonly ROOTFS_MAX_AGE_DAYS=30
readonly BOOT_TIMEOUT=600

say() { printf 'e2e host: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

deb='' rpm='' scenario='' run=''
while (($#)); do
	case $1 in
	--deb) deb=$2; shift 2 ;;
	--rpm) rpm=$2; shift 2 ;;
	--scenario) scenario=$2; shift 2 ;;
	--run) run=$2; shift 2 ;;
	*) die "unknown argument $1" ;;
	esac
done
[[ -f $deb && -f $rpm && -f $scenario && -n $run ]] || die "usage: host.sh --deb FILE --rpm FILE --scenario FILE --run DIR"
out=$run/out
mkdir -p "$out/ev"

skip() {
	printf '%s\n' "$*" >"$out/skip-reason"
	say "SKIPPED: $*"
	exit 77
}

# --- Can this machine do it? ---------------------------------------------
[[ $(id -u) == 0 ]] || skip "needs root (debootstrap and systemd-nspawn run as root)"
[[ -f /etc/debian_version ]] && command -v apt-get >/dev/null && command -v dpkg >/dev/null ||
	skip "not a Debian machine (needs apt-get and dpkg to build the Debian rootfs)"

# Private mount namespace: the overlays vanish with this process.
if [[ -z ${VPO_E2E_NS:-} ]]; then
	command -v unshare >/dev/null || skip "unshare (util-linux) is missing"
	VPO_E2E_NS=1 exec unshare --mount --propagation private -- "$BASH" "$0" \
		--deb "$deb" --rpm "$rpm" --scenario "$scenario" --run "$run"
fi

cache=${VPO_E2E_CACHE:-/var/cache/vpo-e2e}
mkdir -p "$cache"
exec 8>"$cache/.lock"

debian_mirror() {
	# The machine's own Debian mirror, from its apt sources.
	local uri
	uri=$(grep -hE '^\s*URIs:\s*\S+/debian/?\s*$' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1 | awk '{print $2}') || true
	if [[ -z $uri ]]; then
		uri=$(grep -hE '^\s*deb\s+(\[[^]]*\]\s+)?\S+/debian/?\s' /etc/apt/sources.list 2>/dev/null |
			sed -E 's/\[[^]]*\]//' | head -n1 | awk '{print $2}') || true
	fi
	printf '%s\n' "${uri%/}"
}

ensure_tools() {
	local missing=()
	command -v debootstrap >/dev/null || missing+=(debootstrap)
	command -v systemd-nspawn >/dev/null || missing+=(systemd-container)
	command -v flock >/dev/null || missing+=(util-linux)
	((${#missing[@]})) || return 0
	say "installing ${missing[*]} with apt-get"
	flock -x 8
	{
		apt-get update -qq &&
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
	} >"$cache/apt-host.log" 2>&1 ||
		skip "cannot install ${missing[*]} with apt-get (see $cache/apt-host.log): no debootstrap/systemd-nspawn possible here"
	flock -u 8
}
ensure_tools

suite=$(. /etc/os-release && printf '%s' "${VERSION_CODENAME:-}")
[[ -n $suite ]] || skip "cannot tell the Debian release (no VERSION_CODENAME in /etc/os-release)"
mirror=$(debian_mirror)
[[ -n $mirror ]] || skip "no Debian mirror in /etc/apt/sources.list* to debootstrap from"

rootfs=$cache/rootfs-$suite
recipe="recipe=$ROOTFS_RECIPE suite=$suite packages=$ROOTFS_PACKAGES apt=${ROOTFS_APT_PACKAGES// /,} mirror=$mirror"

# A usable rootfs has its stamp (written last), the recipe we want, the
# tools the scenario relies on, a clean dpkg database, and is not too old.
rootfs_ok() {
	local f
	[[ -f $rootfs/.vpo-e2e-stamp && $(cat "$rootfs/.vpo-e2e-stamp") == "$recipe" ]] || return 1
	[[ -z $(find "$rootfs/.vpo-e2e-stamp" -mtime +"$ROOTFS_MAX_AGE_DAYS") ]] || return 1
	for f in /sbin/init /usr/lib/systemd/systemd /usr/bin/systemctl /usr/bin/journalctl /usr/bin/dbus-daemon \
		/usr/bin/curl /usr/bin/apt-get /usr/bin/dpkg-deb /usr/bin/rpm /usr/bin/rpmbuild /usr/sbin/adduser /bin/kill \
		/usr/bin/ffmpeg /usr/bin/ffprobe /usr/bin/mkvmerge /usr/bin/mkvpropedit /usr/bin/pg_lsclusters; do
		[[ -e $rootfs$f ]] || return 1
	done
	[[ -z $(chroot "$rootfs" dpkg --audit 2>&1) ]] || return 1
}

# Run a command inside a rootfs (not booted).
in_rootfs() {
	local r=$1
	shift
	systemd-nspawn -q --register=no --keep-unit -D "$r" --setenv=DEBIAN_FRONTEND=noninteractive "$@" </dev/null
}

build_rootfs() {
	local tmp=$rootfs.tmp u
	say "building the Debian $suite rootfs with systemd in $rootfs (once; a few minutes)"
	rm -rf "$tmp"
	if ! debootstrap --variant=minbase --include="$ROOTFS_PACKAGES" "$suite" "$tmp" "$mirror" \
		>"$cache/debootstrap.log" 2>&1; then
		die "debootstrap $suite from $mirror failed, see $cache/debootstrap.log"
	fi
	cat >"$tmp/etc/apt/apt.conf.d/99vpo-e2e" <<-'APT'
		Acquire::Check-Valid-Until "false";
		APT::Install-Recommends "false";
	APT
	# Package lists, so `apt install ./vpo.deb` can resolve dependencies.
	in_rootfs "$tmp" apt-get update -qq >>"$cache/debootstrap.log" 2>&1 || die "apt-get update in the rootfs failed, see $cache/debootstrap.log"
	# shellcheck disable=SC2086 # a list of package names
	in_rootfs "$tmp" apt-get install -y -qq $ROOTFS_APT_PACKAGES >>"$cache/debootstrap.log" 2>&1 ||
		die "apt-get install $ROOTFS_APT_PACKAGES in the rootfs failed, see $cache/debootstrap.log"
	in_rootfs "$tmp" apt-get clean >/dev/null 2>&1 || true
	# Nothing may hold the dpkg lock or fight for the console during a run.
	for u in apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer e2scrub_all.timer fstrim.timer \
		console-getty.service getty@.service; do
		ln -sf /dev/null "$tmp/etc/systemd/system/$u"
	done
	: >"$tmp/etc/machine-id"
	printf '%s\n' "$recipe" >"$tmp/.vpo-e2e-stamp"
	rm -rf "$rootfs"
	mv "$tmp" "$rootfs"
}

flock -x 8
rootfs_start=$(date +%s.%N)
if ! rootfs_ok; then
	build_rootfs
	rootfs_ok || die "the freshly built rootfs $rootfs is not usable"
	echo cold >"$out/rootfs-cache"
else
	echo warm >"$out/rootfs-cache"
fi
# seconds A B: B - A, one decimal.
seconds() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.1f", b-a}'; }
printf 'rootfs_seconds\t%s\n' "$(seconds "$rootfs_start" "$(date +%s.%N)")" >"$out/host.tsv"
# Shared from here on: a concurrent run may use the rootfs, none rebuilds it.
flock -s 8

# Old runs left behind (killed test) are removed after a day.
find "$cache/runs" -mindepth 1 -maxdepth 1 -mtime +1 -exec rm -rf {} + 2>/dev/null || true

# --- A pristine machine: an overlay over the cached rootfs -----------------
# (a copy when overlayfs is unavailable). The rpm test gets its own root.
pristine() {
	local name=$1 dir=$run/$1
	mkdir -p "$dir/upper" "$dir/work" "$dir/root"
	if ! mount -t overlay overlay -o "lowerdir=$rootfs,upperdir=$dir/upper,workdir=$dir/work" "$dir/root" 2>/dev/null; then
		cp -a --reflink=auto "$rootfs/." "$dir/root/"
	fi
	printf '%s\n' "$dir/root"
}
machine=$(pristine machine)
rpmroot=$(pristine rpmroot)
cleanup() {
	umount -l "$run/machine/root" "$run/rpmroot/root" 2>/dev/null || true
	rm -rf "$run/machine" "$run/rpmroot" "$run/pkg"
}
trap cleanup EXIT

mkdir -p "$run/pkg"
cp "$deb" "$run/pkg/"
cp "$rpm" "$run/pkg/"
chmod 0644 "$run/pkg/"*

# The harness unit: runs the scenario once the system is up, then powers off
# whatever happens (SuccessAction/FailureAction).
mkdir -p "$machine/e2e" "$machine/etc/systemd/system/multi-user.target.wants"
install -m 0755 "$scenario" "$machine/e2e/scenario.sh"
cat >"$machine/etc/systemd/system/vpo-e2e.service" <<'UNIT'
[Unit]
Description=vpo end-to-end scenario
After=basic.target dbus.service systemd-journald.service
SuccessAction=poweroff-force
FailureAction=poweroff-force

[Service]
Type=oneshot
ExecStart=/bin/bash /e2e/scenario.sh
TimeoutStartSec=540
StandardOutput=journal
StandardError=journal
UNIT
ln -sf ../vpo-e2e.service "$machine/etc/systemd/system/multi-user.target.wants/vpo-e2e.service"

say "booting $suite with systemd-nspawn ($(cat "$out/rootfs-cache") rootfs)"
start=$(date +%s.%N)
set +e
# --private-network: vpo's 127.0.0.1:8321 is the container's own loopback.
timeout --kill-after=15 "$BOOT_TIMEOUT" systemd-nspawn -q --register=no --keep-unit -b \
	--private-network --machine="vpo-e2e-$$" -D "$machine" \
	--bind="$out:/e2e/out" --bind-ro="$run/pkg:/e2e/pkg" --bind="$rpmroot:/e2e/rpmroot" \
	</dev/null >"$out/console.log" 2>&1
rc=$?
set -e
end=$(date +%s.%N)
printf 'boot_rc\t%s\nboot_seconds\t%s\n' "$rc" "$(seconds "$start" "$end")" >>"$out/host.tsv"
((rc != 124 && rc != 137)) || die "the container did not power off within ${BOOT_TIMEOUT}s (console: $out/console.log)"
[[ -f $out/done ]] || say "the scenario did not finish (nspawn exit $rc); see $out/console.log and $out/scenario.log"
exit 0
