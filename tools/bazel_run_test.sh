#!/usr/bin/env bash
# tools/bazel_run_test.sh — proves that `tools/bazel run` runs its target on
# the host, as the caller, even when tools/bazel builds in its chroot:
#
#   1. `tools/bazel run //services/vpo -- serve --config vpo.toml`, started in
#      a scratch directory with a scratch HOME: the relative --config is read
#      from that directory; a scan of a directory that exists only on the
#      host records its files; the default database appears under the
#      scratch HOME on the host; the process tools/bazel started is vpo
#      itself (same PID), and SIGTERM to it ends it with exit 0.
#   2. `tools/bazel run //:gazelle -- DIR` still writes into the workspace.
#
# It calls tools/bazel, so it cannot be a Bazel test; .ci/run runs it after
# `tools/bazel test //...` (the build it needs is then cached).
# Usage: tools/bazel_run_test.sh
set -euo pipefail
ws=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
bazel=$ws/tools/bazel

say() { printf 'bazel_run_test: %s\n' "$*" >&2; }
fail() {
	say "FAIL: $*"
	[[ -f ${log:-} ]] && { say "vpo's output:"; tail -n 40 "$log" >&2; }
	exit 1
}

t=$(mktemp -d /tmp/vpo-bazel-run.XXXXXX)
pid='' gz=''
cleanup() {
	[[ -n $pid ]] && kill -KILL "$pid" 2>/dev/null || true
	[[ -n $gz ]] && rm -rf "$gz"
	rm -rf "$t"
}
trap cleanup EXIT

# wait_until SECONDS CMD...: poll CMD until it succeeds (a bound, not a
# timing assertion: it only keeps a broken run from hanging).
wait_until() {
	local end=$((SECONDS + $1))
	shift
	until "$@"; do
		((SECONDS < end)) || return 1
		sleep 0.2
	done
}

# A free loopback port (vpo takes no port 0).
port=''
for _ in $(seq 50); do
	p=$((20000 + RANDOM % 40000))
	if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then port=$p && break; fi
done
[[ -n $port ]] || fail "no free port"

# The build first, so the bounded waits below measure vpo, not Bazel.
"$bazel" build //services/vpo >"$t/build.log" 2>&1 || { cat "$t/build.log" >&2; fail "tools/bazel build //services/vpo failed"; }
cli=$ws/bazel-bin/services/vpo/cmd/vpo/vpo_/vpo
[[ -x $cli ]] || fail "no binary at $cli (the path the README gives)"

# What only the host has: a media directory under the host's /tmp (the
# chroot has its own /tmp), a HOME and a working directory of our own.
media=$t/media
mkdir -p "$media/sub" "$t/home" "$t/cwd"
printf 'x' >"$media/host-only.mkv"
printf 'x' >"$media/sub/also-host-only.mp4"
for r in /var/cache/vpo-bazel/sid "${VPO_BAZEL_CACHE:-/var/cache/vpo-bazel}/sid"; do
	[[ ! -e $r$media ]] || fail "$media exists in the chroot $r too: the test would prove nothing"
done
cat >"$t/cwd/vpo.toml" <<EOF
[server]
port = $port
shutdown_timeout = "5s"
[logging]
level = "debug"
EOF
log=$t/vpo.log
say "tools/bazel run //services/vpo -- serve --config vpo.toml (in $t/cwd, HOME=$t/home, port $port)"
(cd "$t/cwd" && HOME=$t/home BAZEL_RUN_TEST_MARK=host-env exec "$bazel" run //services/vpo -- serve --config vpo.toml) \
	</dev/null >"$log" 2>&1 &
pid=$!
# http_get PATH: the daemon's whole HTTP answer (bash only: no curl needed).
http_get() {
	(
		exec 3<>"/dev/tcp/127.0.0.1/$port" &&
			printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$1" >&3 &&
			timeout 5 cat <&3
	) 2>/dev/null
}
health() { http_get /health/ready | head -n1 | grep -q ' 200 '; }
ready_or_gone() { health || ! kill -0 "$pid" 2>/dev/null; }
wait_until 300 ready_or_gone || fail "vpo did not become ready on port $port"
if ! kill -0 "$pid" 2>/dev/null; then
	rc=0
	wait "$pid" || rc=$?
	pid=''
	fail "tools/bazel run exited with $rc before vpo was ready on port $port"
fi

# The process tools/bazel started is vpo itself, on the host, as the caller.
exe=$(readlink "/proc/$pid/exe") || fail "process $pid is gone"
[[ ${exe##*/} == vpo ]] || fail "PID $pid (started as tools/bazel) runs $exe, not vpo: tools/bazel did not exec it"
[[ $(readlink "/proc/$pid/cwd") == "$t/cwd" ]] || fail "vpo runs in $(readlink "/proc/$pid/cwd"), not the caller's directory $t/cwd"
tr '\0' '\n' <"/proc/$pid/environ" | grep -qx "HOME=$t/home" || fail "vpo does not have the caller's HOME"
tr '\0' '\n' <"/proc/$pid/environ" | grep -qx "BAZEL_RUN_TEST_MARK=host-env" || fail "vpo does not have the caller's environment"
tr '\0' '\n' <"/proc/$pid/environ" | grep -qx "BUILD_WORKING_DIRECTORY=$t/cwd" || fail "BUILD_WORKING_DIRECTORY is not the caller's directory"
[[ $(readlink "/proc/$pid/root") == / ]] || fail "vpo's root is $(readlink "/proc/$pid/root"), not the host's"

# The database is on the host, under the caller's HOME.
db=$t/home/.vpo/library.db
[[ -f $db ]] || fail "no database at $db on the host"

# A scan of the host-only directory records its files.
id=$(HOME=$t/home "$cli" jobs submit scan --payload "{\"path\": \"$media\"}" --config "$t/cwd/vpo.toml" --json |
	grep -o '"id": *"[^"]*"' | head -n1 | sed 's/.*"\([^"]*\)"$/\1/') || fail "vpo jobs submit scan failed"
[[ -n $id ]] || fail "no job id from vpo jobs submit"
done_job() {
	HOME=$t/home "$cli" jobs show "$id" --json --config "$t/cwd/vpo.toml" 2>/dev/null | grep -qE '"status": *"(completed|failed|cancelled)"'
}
wait_until 60 done_job || fail "scan job $id did not finish"
HOME=$t/home "$cli" jobs show "$id" --json --config "$t/cwd/vpo.toml" | grep -qE '"status": *"completed"' ||
	fail "scan job $id did not complete: $(HOME=$t/home "$cli" jobs show "$id" --json --config "$t/cwd/vpo.toml" 2>&1)"
files=$(http_get "/api/files?limit=100")
for f in "$media/host-only.mkv" "$media/sub/also-host-only.mp4"; do
	grep -qF "\"$f\"" <<<"$files" || fail "the scan did not record $f: $files"
done

# SIGTERM to the PID tools/bazel had: a clean stop, exit 0.
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
pid=''
((rc == 0)) || fail "vpo exited $rc after SIGTERM, want 0"
grep -q 'stopped cleanly' "$log" || fail "no 'stopped cleanly' line"
say "vpo: host paths, HOME, cwd, environment, database on the host, SIGTERM -> exit 0"

# Other targets keep working: gazelle writes a BUILD file into the workspace.
gz=$(mktemp -d "$ws/bazel_run_test_gazelle.XXXXXX")
printf 'package probe\n' >"$gz/probe.go"
"$bazel" run //:gazelle -- "${gz#"$ws"/}" >"$t/gazelle.log" 2>&1 || { cat "$t/gazelle.log" >&2; fail "tools/bazel run //:gazelle failed"; }
grep -q 'go_library' "$gz/BUILD.bazel" 2>/dev/null || fail "gazelle wrote no go_library into $gz/BUILD.bazel"
say "gazelle: wrote ${gz#"$ws"/}/BUILD.bazel"
say PASS
