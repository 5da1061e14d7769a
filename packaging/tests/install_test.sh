#!/usr/bin/env bash
# Installs the .deb (dpkg in a chroot) and the .rpm (rpm --root) into a
# scratch Debian 12 minbase root with procps: layout, user, modes, and the
# maintainer scripts on install, upgrade (to a release-2 package built here
# with the same tool), remove and purge. systemd is not running in the root:
# the scripts must still succeed. The booted-systemd test is not this one.
# Usage: install_test.sh DEB RPM VPO_PKG VPO_BINARY
set -euo pipefail
lib=packaging/tests/lib.sh # the runfiles root is the working directory
[[ -f $lib ]] || lib=$(dirname "$(readlink -f "$0")")/lib.sh
source "$lib"
deb=$(rpath "$1") rpm=$(rpath "$2") vpo_pkg=$(rpath "$3") vpo_bin=$(rpath "$4")
ensure_tools debootstrap:debootstrap rpm:rpm
runfiles=$PWD

t=$(scratch)
trap 'rm -rf "$t"' EXIT

# --- the cached minbase rootfs (built once, ~1 min) ---
# procps has /bin/kill, which the unit's ExecReload= runs. The .complete
# marker holds the recipe: a root built by another recipe is rebuilt.
base=$VPO_PKG_CACHE/rootfs-bookworm
readonly ROOTFS_INCLUDE=procps
mirror() {
	local u
	u=$(grep -hE '^\s*URIs:\s*\S+/debian/?\s*$' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1 | awk '{print $2}')
	[[ -n $u ]] || u=$(grep -hE '^\s*deb\s+\S+/debian/?\s' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | head -n1 | awk '{print $2}')
	[[ -n $u ]] || fail "no Debian mirror in /etc/apt/sources.list*"
	printf '%s\n' "${u%/}"
}
recipe="debootstrap --variant=minbase --include=$ROOTFS_INCLUDE bookworm"
(
	flock 9
	if [[ ! -f $base/.complete || $(cat "$base/.complete") != "$recipe" ]]; then
		say "building $base with debootstrap (once per recipe: $recipe)"
		rm -rf "$base.tmp"
		debootstrap --variant=minbase --include="$ROOTFS_INCLUDE" bookworm "$base.tmp" "$(mirror)" \
			>"$VPO_PKG_CACHE/debootstrap.log" 2>&1 ||
			fail "debootstrap failed, see $VPO_PKG_CACHE/debootstrap.log"
		rm -rf "$base.tmp/var/cache/apt/archives/"*.deb
		printf '%s\n' "$recipe" >"$base.tmp/.complete"
		rm -rf "$base"
		mv "$base.tmp" "$base"
	fi
) 9>"$VPO_PKG_CACHE/rootfs.lock"

# --- release-2 packages: the upgrade target ---
mkdir -p "$t/up"
ver=$(dpkg-deb -f "$deb" Version)
up_ver=${ver%-*}-2
{
	printf -- '- semver: %s\n  date: 2030-01-01T00:00:00Z\n  packager: test <test@vpo-project.org>\n  changes:\n    - note: upgrade test\n' "$up_ver"
	cat "$runfiles/packaging/changelog.yaml"
} >"$t/up/changelog.yaml"
for fmt in deb rpm; do
	(cd "$runfiles" && "$vpo_pkg" package --format "$fmt" --binary "$vpo_bin" --release 2 \
		--changelog "$t/up/changelog.yaml" --out "$t/up/vpo.$fmt") || fail "building the release-2 $fmt failed"
done

newroot() {
	rm -rf "$t/root"
	# Shared lock: another run may be rebuilding $base for a new recipe.
	(
		flock -s 9
		cp -a "$base" "$t/root"
	) 9>"$VPO_PKG_CACHE/rootfs.lock"
}
in_root() { chroot "$t/root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 HOME=/root "$@"; }
mode_of() { in_root stat -c '%a %U:%G' "$1"; }

check_installed() {
	local pw
	pw=$(in_root getent passwd vpo) || fail "$1: no vpo user"
	[[ $pw == vpo:x:*:*:*:/var/lib/vpo:/usr/sbin/nologin ]] || fail "$1: vpo user is '$pw'"
	in_root getent group vpo >/dev/null || fail "$1: no vpo group"
	expect_eq "$1: config mode" "$(mode_of /etc/vpo/config.toml)" "640 root:vpo"
	expect_eq "$1: binary mode" "$(mode_of /usr/bin/vpo)" "755 root:root"
	expect_eq "$1: unit mode" "$(mode_of /usr/lib/systemd/system/vpo.service)" "644 root:root"
	[[ -f $t/root/usr/lib/sysusers.d/vpo.conf ]] || fail "$1: no sysusers.d/vpo.conf"
	in_root /usr/bin/vpo config check --config /etc/vpo/config.toml >/dev/null || fail "$1: config check failed"
	in_root runuser -u vpo -- /usr/bin/vpo config check --config /etc/vpo/config.toml >/dev/null ||
		fail "$1: the vpo user cannot read its config"
}

add_state() {
	mkdir -p "$t/root/var/lib/vpo"
	echo "library" >"$t/root/var/lib/vpo/library.db"
	in_root chown -R vpo:vpo /var/lib/vpo
	echo '# local edit' >>"$t/root/etc/vpo/config.toml"
}

# ================= deb =================
echo "== deb: install"
newroot
cp "$deb" "$t/root/tmp/vpo.deb"
cp "$t/up/vpo.deb" "$t/root/tmp/vpo-up.deb"
in_root dpkg -i /tmp/vpo.deb || fail "dpkg -i failed"
check_installed "deb install"
has_dsh=false
if in_root sh -c 'command -v deb-systemd-helper' >/dev/null; then has_dsh=true; fi
if $has_dsh; then
	[[ -L $t/root/etc/systemd/system/multi-user.target.wants/vpo.service ]] ||
		fail "deb install: vpo.service not enabled (Debian enables services on install)"
fi
add_state

echo "== deb: upgrade to $up_ver"
in_root dpkg -i /tmp/vpo-up.deb || fail "dpkg -i (upgrade) failed"
expect_eq "deb upgrade version" "$(in_root dpkg-query -W -f '${Version}' vpo)" "$up_ver"
check_installed "deb upgrade"
grep -q '^# local edit$' "$t/root/etc/vpo/config.toml" || fail "deb upgrade lost the config edit"
expect_eq "deb upgrade database" "$(cat "$t/root/var/lib/vpo/library.db")" library

echo "== deb: remove"
in_root dpkg -r vpo || fail "dpkg -r failed"
[[ ! -e $t/root/usr/bin/vpo ]] || fail "deb remove left /usr/bin/vpo"
[[ -f $t/root/var/lib/vpo/library.db ]] || fail "deb remove deleted the database"
grep -q '^# local edit$' "$t/root/etc/vpo/config.toml" || fail "deb remove deleted the config"
if $has_dsh; then
	expect_eq "deb remove: unit masked" "$(readlink "$t/root/etc/systemd/system/vpo.service")" /dev/null
fi

echo "== deb: purge"
in_root dpkg -P vpo || fail "dpkg -P failed"
[[ ! -e $t/root/var/lib/vpo ]] || fail "deb purge left /var/lib/vpo"
[[ ! -e $t/root/etc/vpo ]] || fail "deb purge left /etc/vpo"
if find "$t/root/etc/systemd" -name 'vpo.service' 2>/dev/null | grep -q .; then
	fail "deb purge left systemd links: $(find "$t/root/etc/systemd" -name vpo.service)"
fi
in_root dpkg -i /tmp/vpo.deb >/dev/null || fail "deb reinstall after purge failed"
check_installed "deb reinstall after purge"

# ================= rpm =================
echo "== rpm: install"
newroot
rpm --root "$t/root" --initdb || fail "rpm --initdb failed"
R() { rpm --root "$t/root" --nosignature --nodeps "$@"; }
R -ivh "$rpm" || fail "rpm -i failed"
check_installed "rpm install"
add_state

echo "== rpm: upgrade to $up_ver"
R -Uvh "$t/up/vpo.rpm" || fail "rpm -U failed"
expect_eq "rpm upgrade version" "$(rpm --root "$t/root" -q --qf '%{VERSION}-%{RELEASE}' vpo)" "$up_ver"
check_installed "rpm upgrade"
grep -q '^# local edit$' "$t/root/etc/vpo/config.toml" || fail "rpm upgrade lost the config edit"
expect_eq "rpm upgrade database" "$(cat "$t/root/var/lib/vpo/library.db")" library

echo "== rpm: erase"
R -e vpo || fail "rpm -e failed"
[[ ! -e $t/root/usr/bin/vpo ]] || fail "rpm erase left /usr/bin/vpo"
[[ -f $t/root/var/lib/vpo/library.db ]] || fail "rpm erase deleted the database"
[[ -f $t/root/etc/vpo/config.toml.rpmsave ]] || fail "rpm erase did not keep the edited config as .rpmsave"
say PASS
