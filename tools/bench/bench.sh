#!/usr/bin/env bash
# vpo benchmarks against real baselines; writes docs/benchmarks.md.
#
#   tools/bench/bench.sh [vpobench flags]     e.g. -idle 5s -runs 5 -files 10000
#
# Run as root on Debian 12 (or as a user with sudo rights for the one-time
# apt-get install). It installs the baseline tools (wrk, nginx-light,
# hyperfine; ffmpeg and mkvtoolnix for the policy benchmarks) from Debian
# when they are missing, builds vpo and the floor
# server with the Go on PATH, and runs tools/bench/vpobench, which measures
# start-up, stop, load, memory, queue, scan, the policy dry run and the
# apply overhead against their baselines.
# Exits non-zero only when something broke, not for a missed goal.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PATH:/usr/local/go/bin:/usr/sbin:/sbin"

need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || need+=(nginx-light)
command -v hyperfine >/dev/null || need+=(hyperfine)
command -v ffmpeg >/dev/null || need+=(ffmpeg)
command -v mkvmerge >/dev/null || need+=(mkvtoolnix)
if ((${#need[@]})); then
  sudo=()
  [[ $(id -u) -eq 0 ]] || sudo=(sudo)
  echo "bench: installing ${need[*]}" >&2
  # Keep apt from starting the nginx service (we start our own on loopback):
  # a policy-rc.d that denies, unless the machine already has one.
  policy=/usr/sbin/policy-rc.d
  created=""
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
    "${sudo[@]}" chmod 755 "$policy"
    created=1
  fi
  set +e
  "${sudo[@]}" apt-get update -q >&2 &&
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends "${need[@]}" >&2
  rc=$?
  set -e
  [[ -z $created ]] || "${sudo[@]}" rm -f "$policy"
  ((rc == 0)) || { echo "bench: apt-get install ${need[*]} failed" >&2; exit 1; }
fi

work=$(mktemp -d /var/tmp/vpobench.XXXXXX)
trap 'rm -rf "$work"' EXIT
echo "bench: building into $work" >&2
CGO_ENABLED=0 go build -trimpath -o "$work/vpo" ./services/vpo/cmd/vpo
CGO_ENABLED=0 go build -trimpath -o "$work/floor" ./tools/bench/floor
go build -o "$work/vpobench" ./tools/bench/vpobench
mkdir -p docs
command="tools/bench/bench.sh${*:+ $*}"
"$work/vpobench" -vpo "$work/vpo" -floor "$work/floor" -repo . -work "$work" \
  -out docs/benchmarks.md -command "$command" "$@"
