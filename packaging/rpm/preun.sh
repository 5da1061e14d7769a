# vpo %preun (rpm). $1: 0 = final erase, 1 = upgrade (old package going).
# Like %systemd_preun: on erase, disable and stop; on upgrade, nothing.
if [ "$1" -eq 0 ] && command -v systemctl >/dev/null 2>&1; then
	if [ -d /run/systemd/system ]; then
		systemctl --no-reload disable --now vpo.service >/dev/null 2>&1 || :
	else
		systemctl --no-reload disable vpo.service >/dev/null 2>&1 || :
	fi
fi
exit 0
