#!/usr/bin/env bash
# Package content test: the .deb's control fields, conffiles, files, modes
# and owners; the .rpm's file flags, scripts and requires; the shipped config
# (`vpo config sample`, all commented, passes `vpo config check`); the man
# page renders without warnings; the changelog matches the version.
# Usage: content_test.sh DEB RPM GOLDEN_DIR
set -euo pipefail
lib=packaging/tests/lib.sh # the runfiles root is the working directory
[[ -f $lib ]] || lib=$(dirname "$(readlink -f "$0")")/lib.sh
source "$lib"
deb=$(rpath "$1") rpm=$(rpath "$2") golden=$(rpath "$3")
ensure_tools rpm:rpm man:man-db groff:groff-base

t=$(scratch)
trap 'rm -rf "$t"' EXIT
ver=$(dpkg-deb -f "$deb" Version)

# --- deb control ---
expect_eq Package "$(dpkg-deb -f "$deb" Package)" vpo
expect_eq Architecture "$(dpkg-deb -f "$deb" Architecture)" amd64
expect_eq Section "$(dpkg-deb -f "$deb" Section)" net
expect_eq Priority "$(dpkg-deb -f "$deb" Priority)" optional
[[ $ver =~ ^[0-9]+\.[0-9]+\.[0-9]+-[0-9]+$ ]] || fail "Version '$ver' is not UPSTREAM-RELEASE"
[[ $(dpkg-deb -f "$deb" Maintainer) == *"<"*"@"*">" ]] || fail "Maintainer has no address"
[[ -n $(dpkg-deb -f "$deb" Homepage) ]] || fail "no Homepage"
expect_eq "Description synopsis" "$(dpkg-deb -f "$deb" Description | head -n1)" "Video Policy Orchestrator daemon"
# The binary is static; the unit's ExecReload= runs /bin/kill (procps).
expect_eq Depends "$(dpkg-deb -f "$deb" Depends)" procps
# Policies run the media tools; the daemon runs without them.
expect_eq Recommends "$(dpkg-deb -f "$deb" Recommends)" "ffmpeg, mkvtoolnix"

mkdir "$t/ctl"
dpkg-deb -e "$deb" "$t/ctl"
expect_eq conffiles "$(cat "$t/ctl/conffiles")" /etc/vpo/config.toml
for s in preinst postinst prerm postrm; do
	[[ -x $t/ctl/$s ]] || fail "deb has no executable $s"
	sh -n "$t/ctl/$s" || fail "deb $s: syntax error"
	head -n1 "$t/ctl/$s" | grep -qx '#!/bin/sh' || fail "deb $s: not #!/bin/sh"
	grep -q '^set -e' "$t/ctl/$s" || fail "deb $s: no set -e"
done

# perms owner/group path, sorted: must equal the golden list.
dpkg-deb -c "$deb" | awk '{print $1, $2, $6}' | sort -k3 >"$t/deb-contents"
diff -u "$golden/deb-contents.txt" "$t/deb-contents" || fail "deb contents differ from tests/deb-contents.txt"
# /etc/vpo/policies: the package's directory, 0750; root:root in data.tar
# (dpkg resolves owner names before preinst creates the group), so postinst
# must give it to group vpo.
grep -qx 'drwxr-x--- root/root ./etc/vpo/policies/' "$t/deb-contents" || fail "deb: /etc/vpo/policies is not a 0750 directory"
grep -q 'chown root:vpo /etc/vpo/policies$' "$t/ctl/postinst" && grep -q 'chmod 0750 /etc/vpo/policies$' "$t/ctl/postinst" ||
	fail "deb postinst does not make /etc/vpo/policies root:vpo 0750"
# The example policies (packaging/examples/policies/*.yaml) in both packages.
examples=(anime-japanese-audio mp4-for-devices normalize-english)
for e in "${examples[@]}"; do
	grep -qx -- "-rw-r--r-- root/root ./usr/share/doc/vpo/examples/policies/$e.yaml" "$t/deb-contents" ||
		fail "deb lacks the example policy /usr/share/doc/vpo/examples/policies/$e.yaml"
done

# --- rpm ---
q() { rpm -qp --nosignature "$@" "$rpm" 2>/dev/null; }
expect_eq "rpm name" "$(q --qf '%{NAME}')" vpo
expect_eq "rpm version-release" "$(q --qf '%{VERSION}-%{RELEASE}')" "$ver"
expect_eq "rpm arch" "$(q --qf '%{ARCH}')" x86_64
expect_eq "rpm license" "$(q --qf '%{LICENSE}')" Apache-2.0
q --qf '[%{FILEMODES:perms} %{FILEUSERNAME}/%{FILEGROUPNAME} flags=%{FILEFLAGS:fflags} %{FILENAMES}\n]' | sort -k4 >"$t/rpm-contents"
diff -u "$golden/rpm-contents.txt" "$t/rpm-contents" || fail "rpm contents differ from tests/rpm-contents.txt"
grep -qx -- '-rw-r----- root/vpo flags=cn /etc/vpo/config.toml' "$t/rpm-contents" ||
	fail "config.toml is not %config(noreplace) root:vpo 0640"
grep -qx -- 'drwxr-x--- root/vpo flags= /etc/vpo/policies' "$t/rpm-contents" ||
	fail "rpm: /etc/vpo/policies is not the package's directory root:vpo 0750"
for e in "${examples[@]}"; do
	grep -qx -- "-rw-r--r-- root/root flags=d /usr/share/doc/vpo/examples/policies/$e.yaml" "$t/rpm-contents" ||
		fail "rpm lacks the example policy /usr/share/doc/vpo/examples/policies/$e.yaml (%doc)"
done
# Weak dependencies, as the deb's Recommends.
expect_eq "rpm recommends" "$(q --recommends | sort | tr '\n' ' ')" "ffmpeg mkvtoolnix "
q --requires | sort >"$t/rpm-requires"
diff -u "$golden/rpm-requires.txt" "$t/rpm-requires" || fail "rpm requires differ from tests/rpm-requires.txt"
q --scripts >"$t/rpm-scripts"
for s in preinstall postinstall preuninstall postuninstall; do
	grep -q "^$s scriptlet (using /bin/sh):" "$t/rpm-scripts" || fail "rpm has no $s scriptlet"
done
grep -q 'useradd -r' "$t/rpm-scripts" || fail "rpm %pre does not create the user"
grep -q 'try-restart vpo.service' "$t/rpm-scripts" || fail "rpm %postun does not try-restart"
[[ -n $(q --changelog) ]] || fail "rpm has no changelog"

# --- installed files ---
mkdir "$t/root"
dpkg-deb -x "$deb" "$t/root"
vpo=$t/root/usr/bin/vpo
file_ver=$("$vpo" version)
[[ $file_ver == "vpo ${ver%-*} "* ]] || fail "vpo version says '$file_ver', package is $ver"
"$vpo" config sample >"$t/sample.toml"
diff -u "$t/sample.toml" "$t/root/etc/vpo/config.toml" ||
	fail "packaging/config.toml differs from 'vpo config sample': regenerate it with 'vpo config sample > packaging/config.toml'"
if grep -nEv '^\s*(#.*)?$|^\[[a-z_]+\]$' "$t/root/etc/vpo/config.toml"; then
	fail "config.toml sets a value (every setting must stay commented out)"
fi
HOME=$t "$vpo" config check --config "$t/root/etc/vpo/config.toml" || fail "vpo config check rejects the shipped config"

# The user is declared once in sysusers.d; the deb and rpm scripts that
# create it before unpacking must say the same (line, home, shell, comment).
sysline=$(grep -v '^#' "$t/root/usr/lib/sysusers.d/vpo.conf" | grep '^u vpo ')
read -r _ _ _ _ home shell <<<"$(sed 's/"[^"]*"/GECOS/' <<<"$sysline")"
gecos=$(sed -n 's/^[^"]*"\([^"]*\)".*/\1/p' <<<"$sysline")
for script in "$t/ctl/preinst" "$t/rpm-scripts"; do
	grep -qF "'$sysline'" "$script" || fail "${script##*/} does not feed systemd-sysusers the line of sysusers.d/vpo.conf: $sysline"
	ua=$(grep -A1 'useradd' "$script" | tr -d '\\\n')
	[[ $ua == *"$home"* && $ua == *"$shell"* && $ua == *"$gecos"* ]] ||
		fail "${script##*/}: useradd fallback disagrees with sysusers.d/vpo.conf (home $home, shell $shell, comment $gecos): $ua"
done

zcat "$t/root/usr/share/doc/vpo/changelog.Debian.gz" | head -n1 | grep -q "^vpo ($ver) " ||
	fail "changelog.Debian.gz does not start with version $ver"

warn=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$t/root/usr/share/man/man1/vpo.1.gz" 2>&1 >"$t/man.txt")
[[ -z $warn ]] || fail "man -l warns: $warn"
grep -q 'vpo - Video Policy Orchestrator daemon' "$t/man.txt" || fail "man page has no NAME line"
grep -q 'config check' "$t/man.txt" || fail "man page lacks the commands"

say "PASS ($ver)"
