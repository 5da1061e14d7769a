#!/usr/bin/env bash
# media_tools_test.sh: the media tools the policy tests run (ffmpeg,
# ffprobe, mkvmerge, mkvpropedit) are on PATH inside the Bazel test sandbox
# and work: each prints its version, then they make, read and edit a tiny
# Matroska file together. tools/bazel installs them into its chroot
# (CHROOT_PACKAGES); elsewhere, install Debian's ffmpeg and mkvtoolnix.
# It also prints whether CI reached the test (.bazelrc: test --test_env=CI),
# since tests may skip for a missing tool only when CI is unset.
set -euo pipefail

fail() { printf 'media_tools_test: FAIL: %s\n' "$*" >&2; exit 1; }

echo "PATH=$PATH"
echo "CI=${CI-<unset>}"
missing=()
for tool in ffmpeg ffprobe mkvmerge mkvpropedit; do
	command -v "$tool" >/dev/null || missing+=("$tool")
done
((${#missing[@]} == 0)) ||
	fail "not on PATH in the test sandbox: ${missing[*]} (Debian packages ffmpeg and mkvtoolnix; tools/bazel installs them into its chroot)"

for tool in ffmpeg ffprobe; do
	printf '%s: %s\n' "$tool" "$("$tool" -hide_banner -version | head -n1)"
done
for tool in mkvmerge mkvpropedit; do
	printf '%s: %s\n' "$tool" "$("$tool" --version | head -n1)"
done

t=$(mktemp -d "${TEST_TMPDIR:-/tmp}/media-tools.XXXXXX")
trap 'rm -rf "$t"' EXIT
ffmpeg -hide_banner -loglevel error -f lavfi -i testsrc=size=160x120:rate=10 \
	-f lavfi -i sine=frequency=440:sample_rate=8000 -t 1 \
	-c:v mpeg4 -q:v 10 -c:a mp2 -b:a 32k -metadata:s:a:0 language=fre "$t/a.mkv" ||
	fail "ffmpeg could not write a Matroska file"
mkvmerge -q -o "$t/b.mkv" "$t/a.mkv" || fail "mkvmerge could not remux the file"
mkvpropedit -q "$t/b.mkv" --edit track:a1 --set language=eng || fail "mkvpropedit could not edit the file"
lang=$(ffprobe -v error -select_streams a:0 -show_entries stream_tags=language -of default=nw=1:nk=1 "$t/b.mkv") ||
	fail "ffprobe could not read the file"
[[ $lang == eng ]] || fail "ffprobe reads language '$lang' after mkvpropedit set eng"
echo "PASS: ffmpeg wrote, mkvmerge remuxed, mkvpropedit edited, ffprobe read a Matroska file"
