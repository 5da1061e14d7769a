# vpo %postun (rpm). $1: 0 = final erase, 1 = upgrade (new package stays).
# Like %systemd_postun_with_restart: after an upgrade, restart the daemon
# only if it was running. /var/lib/vpo and a changed config always stay.
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || :
	if [ "$1" -ge 1 ]; then
		systemctl try-restart vpo.service >/dev/null 2>&1 || :
	fi
fi
exit 0
