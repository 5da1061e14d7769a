#!/usr/bin/env bash
# systemd-analyze verify of vpo.service (with the packaged binary present)
# and its offline security exposure, which must be <= 1.0; the keys the
# service's behaviour relies on, ExecReload= (SIGHUP) among them.
# Usage: systemd_test.sh DEB
set -euo pipefail
lib=packaging/tests/lib.sh # the runfiles root is the working directory
[[ -f $lib ]] || lib=$(dirname "$(readlink -f "$0")")/lib.sh
source "$lib"
deb=$(rpath "$1")
readonly MAX_EXPOSURE=1.0
ensure_tools systemd-analyze:systemd man:man-db

t=$(scratch)
trap 'rm -rf "$t"' EXIT
root=$t/root
mkdir -p "$root"
dpkg-deb -x "$deb" "$root"
unit=$root/usr/lib/systemd/system/vpo.service
# ExecReload= runs /bin/kill, which the system provides (procps on Debian,
# which the deb depends on; util-linux on Fedora), not the package: a
# stand-in in the merged-/usr layout of both, so verify checks the unit, not
# this scratch root.
mkdir -p "$root/usr/bin"
ln -s usr/bin "$root/bin"
printf '#!/bin/sh\n' >"$root/usr/bin/kill"
chmod 0755 "$root/usr/bin/kill"

# exposure FILE: the overall exposure level systemd-analyze gives a unit file.
exposure() {
	local out
	out=$(systemd-analyze security --offline=true --no-pager "$1" 2>&1) || true
	sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' <<<"$out" | tail -n1
}

echo "== systemd-analyze verify ($(systemd-analyze --version | head -n1))"
# Documentation=man:vpo(1) is looked up with man: point it at the package.
out=$(MANPATH=$root/usr/share/man systemd-analyze verify --root="$root" /usr/lib/systemd/system/vpo.service 2>&1) || fail "verify failed: $out"
printf '%s\n' "$out"
[[ -z $out ]] || fail "systemd-analyze verify is not clean"

echo "== systemd-analyze security --offline=true"
systemd-analyze security --offline=true --no-pager "$unit" | tail -n 25 || true
score=$(exposure "$unit")
[[ -n $score ]] || fail "no exposure score in the output"
echo "exposure: $score (max $MAX_EXPOSURE)"
awk -v s="$score" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(s <= m) }' || fail "exposure $score > $MAX_EXPOSURE"

# The check must be able to fail: the same unit without its hardening
# scores far above the limit.
grep -Ev '^(Protect|Private|Restrict|SystemCall|Capability|NoNew|IPAddress|Lock|Memory|UMask|RemoveIPC|DevicePolicy|ProcSubset|AmbientCap)' "$unit" >"$t/bare.service"
bare=$(exposure "$t/bare.service")
awk -v s="$bare" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(s > m) }' || fail "self-check: a bare unit scored '$bare'"
echo "self-check: unhardened unit scores $bare"

for key in 'Type=notify' 'User=vpo' 'StateDirectory=vpo' 'StateDirectoryMode=0750' 'Restart=on-failure' \
	'RestartSec=5' 'RestartPreventExitStatus=3' 'TimeoutStopSec=40' 'KillMode=mixed' \
	'ExecStart=/usr/bin/vpo serve --config /etc/vpo/config.toml' 'EnvironmentFile=-/etc/default/vpo' \
	'ExecReload=/bin/kill -HUP $MAINPID'; do
	grep -qxF "$key" "$unit" || fail "vpo.service lacks '$key'"
done
# systemctl reload vpo sends SIGHUP to the daemon and nothing else: exactly
# one ExecReload= (a second would run after the first).
n=$(grep -c '^ExecReload=' "$unit" || true)
[[ $n == 1 ]] || fail "vpo.service has $n ExecReload= lines, want 1"
say PASS
