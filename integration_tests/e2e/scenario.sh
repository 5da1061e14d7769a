#!/bin/bash
# scenario.sh — runs inside the booted Debian container (vpo-e2e.service) and
# does what an administrator does with the vpo packages: apt install,
# systemctl enable --now, use, reload, crash, stop, misconfigure, upgrade, remove,
# purge; then installs the .rpm into a scratch root. It records what it saw
# as facts (/e2e/out/facts.tsv: key<TAB>value) and evidence (/e2e/out/ev/);
# e2e_test.go outside asserts on them. Nothing here decides pass or fail, so
# every step runs even when an earlier one went wrong.
set -uo pipefail

readonly OUT=/e2e/out EV=/e2e/out/ev
readonly URL=http://127.0.0.1:8321
readonly CONF=/etc/vpo/config.toml
readonly DROPIN=/etc/systemd/system/vpo.service.d
mkdir -p "$EV"
: >"$OUT/facts.tsv"
: >"$OUT/phases.tsv"
exec >"$OUT/scenario.log" 2>&1
# An administrator's root shell (a system unit has no HOME of its own).
export DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 HOME=/root
PS4='+ $(date +%T.%3N) '
set -x

# fact KEY VALUE: one observation (newlines and tabs flattened).
fact() { printf '%s\t%s\n' "$1" "$(printf '%s' "${2-}" | tr '\n\t' '  ')" >>"$OUT/facts.tsv"; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.3f", b-a}'; }
# phase NAME: ends the running phase, writing its duration to phases.tsv
# (NAME<TAB>seconds, in order; e2e_test.go prints them), and starts NAME
# ("" starts none).
phase_name='' phase_start=''
phase() {
	local t
	t=$(now)
	[[ -n $phase_name ]] && printf '%s\t%s\n' "$phase_name" "$(awk -v a="$phase_start" -v b="$t" 'BEGIN{printf "%.1f", b-a}')" >>"$OUT/phases.tsv"
	phase_name=$1 phase_start=$t
}
prop() { systemctl show --value -p "$1" vpo.service; }
vpo_cli() { vpo "$@" --config "$CONF"; }
# json_str FIELD < json: the first "FIELD":"value" (enough for vpo's flat answers).
json_str() { grep -o "\"$1\": *\"[^\"]*\"" | head -n1 | sed 's/^[^:]*: *"//; s/"$//'; }
json_num() { grep -o "\"$1\": *[0-9.]*" | head -n1 | sed 's/^[^:]*: *//'; }
# health NAME: GET /health into ev/NAME.json, prints the HTTP status.
health() { curl -s -m 5 -o "$EV/$1.json" -w '%{http_code}' "$URL/health"; }
# wait_until SECONDS CMD...: poll every 0.2 s until CMD succeeds.
wait_until() {
	local end=$(($(date +%s) + $1))
	shift
	until "$@"; do
		(($(date +%s) < end)) || return 1
		sleep 0.2
	done
}
is_active() { [[ $(prop ActiveState) == active ]]; }
healthy() { [[ $(health probe) == 200 ]]; }
job_status() { vpo_cli jobs show "$1" --json 2>/dev/null | json_str status; }
job_in() {
	local s
	s=$(job_status "$1")
	shift
	[[ " $* " == *" $s "* ]]
}
# submit KIND PAYLOAD: prints the new job's id.
submit() { vpo_cli jobs submit "$1" --payload "$2" --json | json_str id; }
main_user() {
	local pid uid
	pid=$(prop MainPID)
	uid=$(awk '/^Uid:/ {print $2}' "/proc/$pid/status" 2>/dev/null)
	getent passwd "$uid" | cut -d: -f1
}
unit_facts() { # PREFIX: the unit's state now
	local p
	for p in ActiveState SubState Result ExecMainCode ExecMainStatus NRestarts MainPID InvocationID StatusText; do
		fact "$1.$p" "$(prop "$p")"
	done
}

fact scenario.started "$(date -u +%FT%TZ)"
fact os "$(. /etc/os-release && echo "$PRETTY_NAME")"
fact systemd.version "$(systemctl --version | head -n1)"
deb=$(ls /e2e/pkg/*.deb | head -n1)
rpm=$(ls /e2e/pkg/*.rpm | head -n1)
fact deb.file "${deb##*/}"
fact deb.version "$(dpkg-deb -f "$deb" Version)"
fact rpm.file "${rpm##*/}"

# --- 1. apt install ---------------------------------------------------------
phase "apt install"
cp "$deb" /root/
apt-get install -y "/root/${deb##*/}" </dev/null >"$EV/apt-install.log" 2>&1
fact install.rc $?
fact install.version "$(dpkg-query -W -f='${Version}' vpo 2>/dev/null)"
fact install.conffiles "$(dpkg-query -W -f='${Conffiles}' vpo 2>/dev/null)"
fact user.passwd "$(getent passwd vpo)"
fact user.shell "$(getent passwd vpo | cut -d: -f7)"
fact user.uid "$(id -u vpo 2>/dev/null)"
fact statedir.owner "$(stat -c '%U:%G' /var/lib/vpo 2>&1)"
fact config.perms "$(stat -c '%U:%G %a' "$CONF" 2>&1)"
fact install.policies_perms "$(stat -c '%U:%G %a' /etc/vpo/policies 2>&1)"
fact install.examples "$(ls /usr/share/doc/vpo/examples/policies 2>&1)"
fact install.recommends "$(dpkg-query -W -f='${Recommends}' vpo 2>/dev/null)"
fact unit.path "$(prop FragmentPath)"
fact install.enabled "$(systemctl is-enabled vpo.service 2>&1)"

# --- 2. systemctl enable --now ------------------------------------------------
phase "enable --now"
systemctl enable --now vpo.service >"$EV/enable.log" 2>&1
fact enable.rc $?
fact enable.is_enabled "$(systemctl is-enabled vpo.service 2>&1)"
wait_until 15 healthy
unit_facts start
fact start.Type "$(prop Type)"
fact start.health_code "$(health health)"
fact start.user "$(main_user)"
start_invocation=$(prop InvocationID)

# --- 3. a job through the CLI: scan a small tree ------------------------------
phase "scan job"
mkdir -p /srv/media/shows/s01
for f in movie.mkv clip.mp4 shows/s01/e01.avi notes.txt; do head -c 65536 /dev/urandom >"/srv/media/$f"; done
scan_id=$(submit scan '{"path":"/srv/media"}')
fact scan.id "$scan_id"
wait_until 60 job_in "$scan_id" completed failed cancelled
vpo_cli jobs show "$scan_id" --json >"$EV/scan-job.json" 2>&1
fact scan.status "$(json_str status <"$EV/scan-job.json")"
curl -s -m 5 "$URL/api/files?limit=100" >"$EV/files.json"
fact scan.files "$(grep -o '"path": *"[^"]*"' "$EV/files.json" | sed 's/^"path": *"//; s/"$//' | sort | tr '\n' ' ')"

# --- 3b. systemctl reload: a config edit takes effect without a restart ------
phase "reload"
# logging.level info -> debug in the config file, then `systemctl reload vpo`
# (ExecReload= sends SIGHUP). Afterwards: the unit still active on the same
# PID, no restart, /health counts the reload, and debug lines appear in the
# journal (none before). The edit is undone after, so later steps see the
# shipped file.
cp -p "$CONF" /root/config.toml.orig
fact reload.invocation "$(prop InvocationID)"
reload_pid=$(prop MainPID)
fact reload.pid_before "$reload_pid"
fact reload.NRestarts_before "$(prop NRestarts)"
fact reload.ExecReload "$(prop ExecReload)"
fact reload.kill_binary "$(ls -l /bin/kill 2>&1)"
sed -i 's/^# level = .*/level = "debug"/' "$CONF"
fact reload.edit "$(grep -c '^level = "debug"$' "$CONF")"
fact reload.since_us "$(date +%s%6N)"
t=$(now)
timeout 60 systemctl reload vpo.service >"$EV/reload.log" 2>&1
fact reload.rc $?
fact reload.seconds "$(since "$t")"
reload_counted() {
	local n
	is_active || return 0 # no point in waiting
	n=$(curl -s -m 5 "$URL/health" | json_num config_reload_count)
	[[ -n $n && $n != 0 ]]
}
# Bounded: the count may lag the reply of systemctl reload a little.
wait_until 15 reload_counted
# Something for the daemon to log at debug level: a small scan.
reload_scan=$(submit scan '{"path":"/srv/media"}')
[[ -n $reload_scan ]] && wait_until 60 job_in "$reload_scan" completed failed cancelled
fact reload.scan_status "$([[ -n $reload_scan ]] && job_status "$reload_scan")"
fact reload.health_code "$(health health-reload)"
fact reload.config_reload_count "$(json_num config_reload_count <"$EV/health-reload.json")"
fact reload.config_reload_error "$(grep -o '"config_reload_error": *[^,}]*' "$EV/health-reload.json" | sed 's/^[^:]*: *//')"
unit_facts reload
journalctl -u vpo.service --no-pager -o short-precise --since "@$(awk -v t="$t" 'BEGIN{printf "%d", t-1}')" >"$EV/reload-journal.txt" 2>&1
cat /root/config.toml.orig >"$CONF"
rm -f /root/config.toml.orig
fact reload.restored "$(grep -c '^level = ' "$CONF")"
# Whatever the reload did (a daemon without SIGHUP handling dies of it),
# the later steps start from a running service, as they always did.
if [[ $(prop MainPID) != "$reload_pid" ]] || ! is_active; then
	systemctl reset-failed vpo.service
	systemctl restart vpo.service
	wait_until 15 healthy
fi

# --- 4. idle stop: SIGTERM, clean exit -----------------------------------------
phase "idle stop"
fact stop.KillSignal "$(prop KillSignal)"
fact stop.TimeoutStopUSec "$(prop TimeoutStopUSec)"
fact stop.invocation "$(prop InvocationID)"
t=$(now)
systemctl stop vpo.service
fact stop.rc $?
fact stop.seconds "$(since "$t")"
unit_facts stop
systemctl start vpo.service
wait_until 15 healthy

# --- 5. kill -9: systemd restarts it, the interrupted job is recovered -------
phase "kill -9 and recovery"
# Test settings by drop-in: test-only job kinds, a short lease (recovery after
# a crash takes one lease) and a short shutdown_timeout (for step 6).
mkdir -p "$DROPIN"
cat >"$DROPIN/50-e2e.conf" <<'EOF'
[Service]
Environment=VPO_JOBS_TEST_KINDS=true VPO_JOBS_LEASE_DURATION=3s VPO_SERVER_SHUTDOWN_TIMEOUT=3s
EOF
systemctl daemon-reload
systemctl restart vpo.service
wait_until 15 healthy
fact kill.RestartUSec "$(prop RestartUSec)"
fact kill.NRestarts_before "$(prop NRestarts)"
pid=$(prop MainPID)
fact kill.pid_before "$pid"
sleep_id=$(submit test.sleep '{"seconds":5}')
fact kill.job_id "$sleep_id"
wait_until 20 job_in "$sleep_id" running
fact kill.job_status_before "$(job_status "$sleep_id")"
t=$(now)
# Never "kill -9 0" (the whole process group) when vpo is not running.
((pid > 1)) && kill -9 "$pid"
restarted() { [[ $(prop MainPID) != "$pid" && $(prop MainPID) != 0 ]] && is_active; }
wait_until 60 restarted
fact kill.restart_seconds "$(since "$t")"
unit_facts kill
wait_until 15 healthy
wait_until 60 job_in "$sleep_id" completed failed cancelled
vpo_cli jobs show "$sleep_id" --json >"$EV/kill-job.json" 2>&1
fact kill.job_status_after "$(json_str status <"$EV/kill-job.json")"
fact kill.job_attempts "$(json_num attempts <"$EV/kill-job.json")"
fact kill.recovered_seconds "$(since "$t")"

# --- 6. stop with a long job: within shutdown_timeout, job requeued ---------
phase "stop with a long job"
long_id=$(submit test.sleep '{"seconds":120}')
fact longstop.job_id "$long_id"
wait_until 20 job_in "$long_id" running
fact longstop.job_status_before "$(job_status "$long_id")"
fact longstop.invocation "$(prop InvocationID)"
fact longstop.shutdown_timeout "$(systemctl show -p Environment --value vpo.service | tr ' ' '\n' | sed -n 's/^VPO_SERVER_SHUTDOWN_TIMEOUT=//p')"
t=$(now)
systemctl stop vpo.service
fact longstop.rc $?
fact longstop.seconds "$(since "$t")"
unit_facts longstop
# The requeued job is claimed again at once: it must be queued or running
# with its attempt count unchanged (the interrupted attempt does not count).
systemctl start vpo.service
wait_until 15 healthy
vpo_cli jobs show "$long_id" --json >"$EV/longstop-job.json" 2>&1
fact longstop.job_status_after "$(json_str status <"$EV/longstop-job.json")"
fact longstop.job_attempts_after "$(json_num attempts <"$EV/longstop-job.json")"
vpo_cli jobs cancel "$long_id" >/dev/null 2>&1
wait_until 10 job_in "$long_id" cancelled completed failed

# --- 7. broken config: fails once with exit 3, no restart loop ---------------
phase "broken config"
binary=$(systemctl show -p ExecStart --value vpo.service | sed -n 's/.*path=\([^ ;]*\).*/\1/p')
fact broken.binary "$binary"
printf '[server]\nport = "eighty"\n' >/etc/vpo/broken.toml
chown root:vpo /etc/vpo/broken.toml
chmod 0640 /etc/vpo/broken.toml
cat >"$DROPIN/60-broken.conf" <<EOF
[Service]
ExecStart=
ExecStart=$binary serve --config /etc/vpo/broken.toml
EOF
systemctl stop vpo.service
systemctl daemon-reload
systemctl reset-failed vpo.service
broken_since=$(date +%s)
fact broken.since_us "$(date +%s%6N)"
fact broken.NRestarts_before "$(prop NRestarts)"
systemctl start vpo.service >"$EV/broken-start.log" 2>&1
fact broken.start_rc $?
# Long enough for two restarts, had there been any.
restart_s=$(prop RestartUSec | sed -n 's/^\([0-9.]*\)s$/\1/p')
sleep "$(awk -v r="${restart_s:-5}" 'BEGIN{print 2*r + 3}')"
unit_facts broken
fact broken.NRestarts_after "$(prop NRestarts)"
journalctl -u vpo.service --no-pager -o short-precise --since "@$broken_since" >"$EV/broken-journal.txt" 2>&1
rm -f "$DROPIN/60-broken.conf" "$DROPIN/50-e2e.conf" /etc/vpo/broken.toml
systemctl daemon-reload
systemctl reset-failed vpo.service
systemctl start vpo.service
wait_until 15 healthy
fact broken.recovered_health "$(health after-broken)"

# --- 8. upgrade: config edit and data kept, restarted on the new binary -----
phase "upgrade"
sed -i 's/^# workers = .*/workers = 3/' "$CONF"
# An administrator's policy file, which the upgrade must keep as it is.
printf 'schema_version: 13\n# admin edit (e2e)\nphases:\n  - name: audio\n    keep_audio:\n      languages: [eng, jpn]\n' >/etc/vpo/policies/admin.yaml
chown root:vpo /etc/vpo/policies/admin.yaml
chmod 0640 /etc/vpo/policies/admin.yaml
admin_policy_sha=$(sha256sum /etc/vpo/policies/admin.yaml | cut -d' ' -f1)
fact upgrade.edit_before "$(grep -c '^workers = 3$' "$CONF")"
fact upgrade.files_before "$(grep -o '"path": *"[^"]*"' "$EV/files.json" | wc -l)"
old_pid=$(prop MainPID)
old_sha=$(sha256sum /usr/bin/vpo | cut -d' ' -f1)
fact upgrade.pid_before "$old_pid"
old_version=$(dpkg-query -W -f='${Version}' vpo)
new_version=$old_version+e2e1
rm -rf /root/up
dpkg-deb -R "$deb" /root/up
sed -i "s/^Version: .*/Version: $new_version/" /root/up/DEBIAN/control
# A different binary: the same program with a marker appended (ELF ignores it).
printf '\nvpo-e2e-upgrade-marker\n' >>/root/up/usr/bin/vpo
(cd /root/up && md5sum usr/bin/vpo) >/root/up/md5.new
grep -v ' usr/bin/vpo$' /root/up/DEBIAN/md5sums >>/root/up/md5.new
mv /root/up/md5.new /root/up/DEBIAN/md5sums
new_deb=/root/vpo_${new_version}_amd64.deb
dpkg-deb -b /root/up "$new_deb" >"$EV/upgrade-build.log" 2>&1
fact upgrade.built "$(dpkg-deb -f "$new_deb" Version 2>&1)"
dpkg --compare-versions "$new_version" gt "$old_version" && fact upgrade.version_higher yes || fact upgrade.version_higher no
apt-get install -y "$new_deb" </dev/null >"$EV/apt-upgrade.log" 2>&1
fact upgrade.rc $?
wait_until 15 healthy
fact upgrade.version "$(dpkg-query -W -f='${Version}' vpo)"
unit_facts upgrade
new_pid=$(prop MainPID)
fact upgrade.pid_changed "$([[ $new_pid != "$old_pid" ]] && echo yes || echo no)"
fact upgrade.exe "$(readlink "/proc/$new_pid/exe")"
fact upgrade.binary_changed "$([[ $(sha256sum /usr/bin/vpo | cut -d' ' -f1) != "$old_sha" ]] && echo yes || echo no)"
fact upgrade.running_new_binary "$([[ $(sha256sum "/proc/$new_pid/exe" | cut -d' ' -f1) == $(sha256sum /usr/bin/vpo | cut -d' ' -f1) ]] && echo yes || echo no)"
fact upgrade.edit_after "$(grep -c '^workers = 3$' "$CONF")"
fact upgrade.config_perms "$(stat -c '%U:%G %a' "$CONF")"
fact upgrade.etc_files "$(ls /etc/vpo | tr '\n' ' ')"
fact upgrade.policies_perms "$(stat -c '%U:%G %a' /etc/vpo/policies 2>&1)"
fact upgrade.policy_kept "$([[ $(sha256sum /etc/vpo/policies/admin.yaml 2>/dev/null | cut -d' ' -f1) == "$admin_policy_sha" ]] && echo yes || echo no)"
fact upgrade.health_code "$(health health-upgrade)"
vpo_cli jobs show "$scan_id" --json >"$EV/upgrade-scan-job.json" 2>&1
fact upgrade.scan_status "$(json_str status <"$EV/upgrade-scan-job.json")"
curl -s -m 5 "$URL/api/files?limit=100" >"$EV/upgrade-files.json"
fact upgrade.files_after "$(grep -o '"path": *"[^"]*"' "$EV/upgrade-files.json" | wc -l)"

# --- 8b. a policy applied by the daemon under systemd -------------------------
# policy_apply_step: what an administrator does to apply a policy: a small
# MKV (video, English and French audio) in /srv/media, the policy
# keep-english in /etc/vpo/policies, the ReadWritePaths= drop-in for the
# library (the unit keeps ProtectSystem=strict), an apply job through
# POST /api/jobs, polled to its end; then ffprobe: the French track is gone,
# the video is still there, the file's owner, group and mode are as before,
# and nothing is left next to it. Its own function, so it can be run alone.
policy_apply_step() {
	local media=/srv/media f=/srv/media/x.mkv id code t
	# (stderr dropped: libgcrypt may warn about insecure memory in a container)
	audio() { ffprobe -v error -select_streams a -show_entries stream_tags=language -of csv=p=0 "$1" 2>/dev/null | paste -sd' '; }
	videos() { ffprobe -v error -select_streams v -show_entries stream=index -of csv=p=0 "$1" 2>/dev/null | wc -l; }
	api_status() { curl -s -m 5 "$URL/api/jobs/$1" | json_str status; }
	ended() { [[ " completed failed cancelled " == *" $(api_status "$1") "* ]]; }

	rm -f "$f"
	ffmpeg -nostdin -hide_banner -loglevel error -f lavfi -i testsrc=size=160x120:rate=10 \
		-f lavfi -i sine=frequency=440:sample_rate=8000 -f lavfi -i sine=frequency=660:sample_rate=8000 \
		-t 2 -map 0:v -map 1:a -map 2:a -c:v mpeg4 -q:v 10 -c:a mp2 -b:a 32k \
		-metadata:s:a:0 language=eng -metadata:s:a:1 language=fre "$f" >"$EV/policy-ffmpeg.log" 2>&1
	fact policy.ffmpeg_rc $?
	# The library is writable by the service user (a rewritten file
	# replaces the old one). A file counts as settled once its mtime and
	# ctime are older than policies.min_file_age (1 minute by default; the
	# chown and touch below renew the ctime): the drop-in below makes it 2 s,
	# and the step waits that long before it submits the job.
	chown vpo:vpo "$media" "$f"
	chmod 0644 "$f"
	touch -d '3 days ago' "$f"
	fact policy.audio_before "$(audio "$f")"
	fact policy.videos_before "$(videos "$f")"
	fact policy.owner_before "$(stat -c '%U:%G %a' "$f" 2>&1)"
	fact policy.dir_before "$(ls -A "$media" | paste -sd' ')"

	cat >/etc/vpo/policies/keep-english.yaml <<-'YAML'
		schema_version: 13
		description: Keeps the English audio tracks only (vpo e2e test).
		phases:
		  - name: audio
		    keep_audio:
		      languages: [eng]
	YAML
	chown root:vpo /etc/vpo/policies/keep-english.yaml
	chmod 0640 /etc/vpo/policies/keep-english.yaml
	fact policy.dir_perms "$(stat -c '%U:%G %a' /etc/vpo/policies 2>&1)"

	cat >"$DROPIN/70-media.conf" <<-EOF
		[Service]
		ReadWritePaths=$media
		Environment=VPO_POLICIES_MIN_FILE_AGE=2s
	EOF
	systemctl daemon-reload
	systemctl restart vpo.service
	wait_until 15 healthy
	fact policy.ReadWritePaths "$(prop ReadWritePaths)"
	fact policy.ActiveState "$(prop ActiveState)"
	fact policy.ProtectSystem "$(prop ProtectSystem)"
	sleep 2.5

	t=$(now)
	code=$(curl -s -m 10 -o "$EV/policy-submit.json" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
		--data '{"kind":"apply","payload":{"policy":"keep-english","path":"/srv/media/x.mkv"}}' "$URL/api/jobs")
	fact policy.submit_code "$code"
	fact policy.submit_body "$(head -c 500 "$EV/policy-submit.json")"
	id=$(json_str id <"$EV/policy-submit.json")
	fact policy.job_id "$id"
	[[ -n $id ]] && wait_until 120 ended "$id"
	fact policy.seconds "$(since "$t")"
	if [[ -n $id ]]; then
		curl -s -m 5 "$URL/api/jobs/$id" >"$EV/policy-job.json"
	else
		echo '(no job: the submission failed)' >"$EV/policy-job.json"
	fi
	fact policy.job_status "$(json_str status <"$EV/policy-job.json")"
	fact policy.job_error "$(json_str error <"$EV/policy-job.json")"

	fact policy.audio_after "$(audio "$f")"
	fact policy.videos_after "$(videos "$f")"
	fact policy.owner_after "$(stat -c '%U:%G %a' "$f" 2>&1)"
	fact policy.dir_after "$(ls -A "$media" | paste -sd' ')"
	journalctl -u vpo.service --no-pager -o short-precise --since "@$(awk -v t="$t" 'BEGIN{printf "%d", t-1}')" \
		>"$EV/policy-journal.txt" 2>&1

	transcode_step
	library_step
	rm -f "$DROPIN/70-media.conf"
	systemctl daemon-reload
}

# transcode_step: under the same drop-in, an MPEG-4 clip re-encoded to H.264
# by a policy with a transcode phase (an apply job that hands the file to a
# transcode job): the job completes, the file is H.264, nothing is left next
# to it, and the unit let vpo lower the encode's priority (no "runs at vpo's
# priority" warning in the journal: setpriority/ioprio_set are allowed).
transcode_step() {
	local f=/srv/media/t.mkv id code t
	vcodec() { ffprobe -v error -select_streams v -show_entries stream=codec_name -of csv=p=0 "$1" 2>/dev/null | paste -sd' '; }
	ffmpeg -nostdin -hide_banner -loglevel error -f lavfi -i testsrc=size=160x120:rate=10 \
		-f lavfi -i sine=frequency=440:sample_rate=8000 -t 2 -c:v mpeg4 -q:v 10 -c:a mp2 -b:a 32k \
		"$f" >"$EV/transcode-ffmpeg.log" 2>&1
	fact transcode.ffmpeg_rc $?
	chown vpo:vpo "$f"
	chmod 0644 "$f"
	touch -d '3 days ago' "$f"
	fact transcode.codec_before "$(vcodec "$f")"
	cat >/etc/vpo/policies/to-h264.yaml <<-'YAML'
		schema_version: 13
		description: Re-encodes the video to H.264 (vpo e2e test).
		phases:
		  - name: video
		    transcode:
		      video:
		        to: h264
		        crf: 35
		        preset: ultrafast
		        hw: none
	YAML
	chown root:vpo /etc/vpo/policies/to-h264.yaml
	chmod 0640 /etc/vpo/policies/to-h264.yaml
	sleep 2.5 # the chown renewed the ctime: let policies.min_file_age (2 s) pass
	t=$(now)
	code=$(curl -s -m 10 -o "$EV/transcode-submit.json" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
		--data '{"kind":"apply","payload":{"policy":"to-h264","path":"/srv/media/t.mkv"}}' "$URL/api/jobs")
	fact transcode.submit_code "$code"
	id=$(json_str id <"$EV/transcode-submit.json")
	fact transcode.job_id "$id"
	[[ -n $id ]] && wait_until 120 ended "$id"
	fact transcode.seconds "$(since "$t")"
	if [[ -n $id ]]; then
		curl -s -m 5 "$URL/api/jobs/$id" >"$EV/transcode-job.json"
		curl -s -m 5 "$URL/api/jobs?parent=$id" >"$EV/transcode-children.json"
	fi
	fact transcode.job_status "$(json_str status <"$EV/transcode-job.json" 2>/dev/null)"
	fact transcode.job_error "$(json_str error <"$EV/transcode-job.json" 2>/dev/null)"
	fact transcode.child_kind "$(json_str kind <"$EV/transcode-children.json" 2>/dev/null)"
	fact transcode.encoder "$(json_str encoder <"$EV/transcode-children.json" 2>/dev/null)"
	fact transcode.codec_after "$(vcodec "$f")"
	fact transcode.leftovers "$(ls -A /srv/media | grep -c 'vpo-tmp')"
	journalctl -u vpo.service --no-pager -o short-precise --since "@$(awk -v t="$t" 'BEGIN{printf "%d", t-1}')" \
		>"$EV/transcode-journal.txt" 2>&1
	fact transcode.priority_warnings "$(grep -c "at vpo's priority" "$EV/transcode-journal.txt")"
}
# library_step: under the same drop-in, a watched library: a [[library]]
# with the keep-english policy appended to the config and a systemctl
# reload; the library is then watched (GET /api/libraries); a clip moved in
# (made next to it first, as a downloader does) loses its French track by
# itself, through exactly one apply job, and nothing is left next to it.
# The config is restored (and reloaded) at the end.
library_step() {
	local lib=/srv/media/watched f=/srv/media/watched/w.mkv t
	mkdir -p "$lib"
	chown vpo:vpo "$lib"
	cp "$CONF" "$EV/config-before-library.toml"
	cat >>"$CONF" <<-EOF

		[[library]]
		path = "$lib"
		policy = "keep-english"
		hold = "2s"
		rescan_interval = "0s"
	EOF
	systemctl reload vpo.service
	fact library.reload_rc $?
	watching() { curl -s -m 5 "$URL/api/libraries" | grep -q '"watching": *true'; }
	wait_until 15 watching
	curl -s -m 5 "$URL/api/libraries" >"$EV/library-list.json"
	fact library.watching "$(grep -o '"watching": *[a-z]*' "$EV/library-list.json" | head -n1 | sed 's/.*: *//')"
	ffmpeg -nostdin -hide_banner -loglevel error -f lavfi -i testsrc=size=160x120:rate=10 \
		-f lavfi -i sine=frequency=440:sample_rate=8000 -f lavfi -i sine=frequency=660:sample_rate=8000 \
		-t 2 -map 0:v -map 1:a -map 2:a -c:v mpeg4 -q:v 10 -c:a mp2 -b:a 32k \
		-metadata:s:a:0 language=eng -metadata:s:a:1 language=fre /srv/media/.incoming.mkv >"$EV/library-ffmpeg.log" 2>&1
	fact library.ffmpeg_rc $?
	chown vpo:vpo /srv/media/.incoming.mkv
	chmod 0644 /srv/media/.incoming.mkv
	fact library.audio_before "$(audio /srv/media/.incoming.mkv)"
	t=$(now)
	mv /srv/media/.incoming.mkv "$f"
	eng_only() { [[ $(audio "$f") == eng ]]; }
	wait_until 90 eng_only
	fact library.seconds "$(since "$t")"
	# vpo's own rewrite of the file is an event too: it must not queue
	# another apply (hold 2 s: one would be queued by now).
	sleep 4
	curl -s -m 5 "$URL/api/jobs?kind=apply&limit=100" >"$EV/library-jobs.json"
	# (the payload's path: a result names the path too)
	fact library.apply_jobs "$(grep -o "\"payload\": *{[^}]*\"path\": *\"$f\"" "$EV/library-jobs.json" | wc -l)"
	fact library.audio_after "$(audio "$f")"
	fact library.dir_after "$(ls -A "$lib" | paste -sd' ')"
	journalctl -u vpo.service --no-pager -o short-precise --since "@$(awk -v t="$t" 'BEGIN{printf "%d", t-1}')" \
		>"$EV/library-journal.txt" 2>&1
	cp "$EV/config-before-library.toml" "$CONF"
	systemctl reload vpo.service
}
phase "apply a policy"
policy_apply_step

# --- 8c. the service on PostgreSQL in the container ------------------------------
# postgres_step: Debian's postgresql (its main cluster) with a role and a
# database for the vpo user, reached over the local socket with peer
# authentication (no password); a drop-in points the service at it
# (database.url) under a node name. Then a job and its node, the nodes list,
# a PostgreSQL outage (/health 503 and no restart of vpo, then 200 by
# itself), and back to the SQLite file. Its own function, so it can be run
# alone.
postgres_step() {
	local id restarts
	systemctl start postgresql.service >"$EV/pg-start.log" 2>&1
	fact pg.start_rc $?
	runuser -u postgres -- psql -qc 'CREATE ROLE vpo LOGIN' >>"$EV/pg-start.log" 2>&1
	runuser -u postgres -- createdb -O vpo vpo >>"$EV/pg-start.log" 2>&1
	fact pg.createdb_rc $?
	cat >"$DROPIN/80-postgres.conf" <<-'EOF'
		[Service]
		Environment=VPO_DATABASE_URL=postgres:///vpo?host=/run/postgresql VPO_NODE_NAME=e2e-node VPO_JOBS_TEST_KINDS=true
	EOF
	systemctl daemon-reload
	systemctl restart vpo.service
	wait_until 60 healthy
	fact pg.health_code "$(health pg-health)"
	fact pg.database "$(json_str database <"$EV/pg-health.json")"
	id=$(submit test.sleep '{"seconds":0.2}')
	fact pg.job_id "$id"
	wait_until 60 job_in "$id" completed failed cancelled
	vpo_cli jobs show "$id" --json >"$EV/pg-job.json" 2>&1
	fact pg.job_status "$(json_str status <"$EV/pg-job.json")"
	fact pg.job_node "$(json_str node <"$EV/pg-job.json")"
	fact pg.rows "$(runuser -u postgres -- psql -d vpo -tAc "SELECT count(*) FROM jobs WHERE id = '$id' AND status = 'completed' AND node = 'e2e-node'" 2>&1)"
	vpo_cli nodes >"$EV/pg-nodes.txt" 2>&1
	fact pg.nodes_up "$(grep -c '^e2e-node (this) *up ' "$EV/pg-nodes.txt")"
	restarts=$(prop NRestarts)
	systemctl stop postgresql.service
	degraded() { [[ $(health pg-outage) == 503 ]]; }
	wait_until 15 degraded
	fact pg.outage_health "$(health pg-outage)"
	fact pg.outage_database "$(json_str database <"$EV/pg-outage.json")"
	systemctl start postgresql.service
	if wait_until 60 healthy; then fact pg.recovered yes; else fact pg.recovered no; fi
	fact pg.restarts_during_outage "$(($(prop NRestarts) - restarts))"
	fact pg.ActiveState "$(prop ActiveState)"
	journalctl -u vpo.service -o cat --no-pager >"$EV/pg-journal.txt" 2>&1
	fact pg.journal_database "$(grep -c 'starting vpo.*postgres:///vpo?host=/run/postgresql' "$EV/pg-journal.txt")"
	rm -f "$DROPIN/80-postgres.conf"
	systemctl daemon-reload
	systemctl restart vpo.service
	wait_until 60 healthy
	fact pg.back_to_sqlite "$(health pg-back)"
}
phase "postgresql"
postgres_step

# --- 9. remove keeps the data; purge removes it --------------------------------
phase "remove and purge"
yes_no() { "$@" >/dev/null 2>&1 && echo yes || echo no; }
apt-get remove -y vpo </dev/null >"$EV/apt-remove.log" 2>&1
fact remove.rc $?
fact remove.status "$(dpkg-query -W -f='${db:Status-Abbrev}' vpo 2>&1)"
fact remove.active "$(systemctl is-active vpo.service 2>&1)"
fact remove.binary "$(yes_no test -e /usr/bin/vpo)"
fact remove.statedir "$(yes_no test -d /var/lib/vpo)"
fact remove.db "$(yes_no test -s /var/lib/vpo/library.db)"
fact remove.config "$(yes_no test -f "$CONF")"
fact remove.user "$(yes_no getent passwd vpo)"
apt-get purge -y vpo </dev/null >"$EV/apt-purge.log" 2>&1
fact purge.rc $?
fact purge.status "$(dpkg-query -W -f='${db:Status-Abbrev}' vpo 2>&1)"
fact purge.statedir "$(yes_no test -e /var/lib/vpo)"
fact purge.etc "$(yes_no test -e /etc/vpo)"
fact purge.user "$(yes_no getent passwd vpo)"
fact purge.group "$(yes_no getent group vpo)"

# The daemon's whole journal, for the priority and error-message checks.
journalctl -u vpo.service -o json --no-pager >"$EV/journal.json" 2>"$EV/journal.err"
fact journal.start_invocation "$start_invocation"

# --- 10. the .rpm in a scratch root, with its scriptlets ----------------------
phase "rpm in a scratch root"
R=/e2e/rpmroot
rpm --root "$R" --initdb >"$EV/rpm-initdb.log" 2>&1
fact rpm.initdb_rc $?
rpm -qp --requires "$rpm" 2>/dev/null | grep -v '^rpmlib(' | sort -u >"$EV/rpm-requires.txt"
fact rpm.requires "$(tr '\n' ' ' <"$EV/rpm-requires.txt")"
if [[ -s $EV/rpm-requires.txt ]]; then
	# The scratch root (a Debian tree) has what they name; tell rpm so with
	# a stub package that provides exactly those capabilities.
	mkdir -p /root/stub/SPECS
	{
		printf 'Name: vpo-e2e-provides\nVersion: 1\nRelease: 1\nSummary: stub\nLicense: none\nBuildArch: noarch\n'
		sed 's/^/Provides: /' "$EV/rpm-requires.txt"
		printf '%%description\nstub\n%%files\n'
	} >/root/stub/SPECS/stub.spec
	rpmbuild -bb --define "_topdir /root/stub" /root/stub/SPECS/stub.spec >"$EV/rpm-stub.log" 2>&1
	rpm --root "$R" -i /root/stub/RPMS/noarch/*.rpm >>"$EV/rpm-stub.log" 2>&1
	fact rpm.stub_rc $?
fi
rpm --root "$R" -ivh "$rpm" >"$EV/rpm-install.log" 2>&1
fact rpm.install_rc $?
fact rpm.scriptlet_failures "$(grep -ci 'scriptlet failed' "$EV/rpm-install.log")"
fact rpm.verify "$(rpm --root "$R" -V vpo 2>&1)"
fact rpm.binary "$(chroot "$R" stat -c '%U:%G %a' /usr/bin/vpo 2>&1)"
fact rpm.unit "$(chroot "$R" stat -c '%U:%G %a' /usr/lib/systemd/system/vpo.service 2>&1)"
fact rpm.sysusers "$(chroot "$R" stat -c '%U:%G %a' /usr/lib/sysusers.d/vpo.conf 2>&1)"
fact rpm.config_perms "$(chroot "$R" stat -c '%U:%G %a' /etc/vpo/config.toml 2>&1)"
fact rpm.policies_perms "$(chroot "$R" stat -c '%U:%G %a' /etc/vpo/policies 2>&1)"
fact rpm.examples "$(ls "$R/usr/share/doc/vpo/examples/policies" 2>&1)"
fact rpm.user_shell "$(chroot "$R" getent passwd vpo | cut -d: -f7)"
cmp -s "$R/usr/lib/systemd/system/vpo.service" /root/up/usr/lib/systemd/system/vpo.service &&
	fact rpm.unit_same_as_deb yes || fact rpm.unit_same_as_deb no
systemd-analyze verify --man=no --root="$R" vpo.service >"$EV/rpm-unit-verify.log" 2>&1
fact rpm.unit_verify_rc $?
fact rpm.config_flags "$(rpm --root "$R" -q --qf '[%{FILENAMES}\t%{FILEFLAGS:fflags}\n]' vpo | awk -F'\t' '$1 == "/etc/vpo/config.toml" {print $2}')"
echo '# local edit (e2e)' >>"$R/etc/vpo/config.toml"
mkdir -p "$R/var/lib/vpo"
echo data >"$R/var/lib/vpo/library.db"
rpm --root "$R" -e vpo >"$EV/rpm-erase.log" 2>&1
fact rpm.erase_rc $?
fact rpm.rpmsave "$(grep -c '^# local edit (e2e)$' "$R/etc/vpo/config.toml.rpmsave" 2>&1)"
fact rpm.erase_config "$(yes_no test -e "$R/etc/vpo/config.toml")"
fact rpm.erase_binary "$(yes_no test -e "$R/usr/bin/vpo")"
fact rpm.erase_data "$(yes_no test -e "$R/var/lib/vpo/library.db")"

phase ''
fact scenario.finished "$(date -u +%FT%TZ)"
date -u +%FT%TZ >"$OUT/done"
