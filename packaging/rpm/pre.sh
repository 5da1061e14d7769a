# vpo %pre (rpm). $1: 1 = install, 2 = upgrade.
# Create the vpo system user and group before rpm unpacks files owned by
# group vpo (what %sysusers_create_package does).
if ! getent passwd vpo >/dev/null 2>&1; then
	if command -v systemd-sysusers >/dev/null 2>&1 &&
		echo 'u vpo - "Video Policy Orchestrator daemon" /var/lib/vpo /usr/sbin/nologin' |
		systemd-sysusers --replace=/usr/lib/sysusers.d/vpo.conf -; then
		:
	else
		getent group vpo >/dev/null 2>&1 || groupadd -r vpo
		useradd -r -g vpo -d /var/lib/vpo -M -s /usr/sbin/nologin \
			-c "Video Policy Orchestrator daemon" vpo
	fi
fi
exit 0
