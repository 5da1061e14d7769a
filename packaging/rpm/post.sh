# vpo %post (rpm). $1: 1 = install, 2 = upgrade.
# Like %systemd_post: on first install apply the distribution's preset
# (Fedora's default is "disable": the admin runs systemctl enable --now vpo).
if [ "$1" -eq 1 ] && command -v systemctl >/dev/null 2>&1; then
	systemctl --no-reload preset vpo.service >/dev/null 2>&1 || :
fi
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || :
fi
exit 0
