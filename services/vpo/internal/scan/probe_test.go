package scan_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vpo-project/vpo/services/vpo/internal/scan"
)

// TestFFProbeRejectsInsaneOutput: output that is not sane is an error
// naming what is wrong; sane output is parsed.
func TestFFProbeRejectsInsaneOutput(t *testing.T) {
	for _, tc := range []struct {
		name, body, want string
	}{
		{"nan duration", `echo '{"streams":[],"format":{"duration":"nan"}}'`, "format.duration: nan is not a number"},
		{"inf duration", `echo '{"streams":[],"format":{"duration":"inf"}}'`, "format.duration: inf is too large"},
		{"negative duration", `echo '{"streams":[],"format":{"duration":"-3"}}'`, "format.duration: -3 is negative"},
		{"negative size", `echo '{"streams":[],"format":{"size":"-1"}}'`, "format.size: -1 is negative"},
		{"negative width", `echo '{"streams":[{"codec_type":"video","width":-640}],"format":{}}'`, "streams[0].width: -640 is negative"},
		{"nan stream duration", `echo '{"streams":[{"duration":"NaN"}],"format":{}}'`, "streams[0].duration: NaN is not a number"},
		{"not json", `echo 'Segmentation fault'`, "parse output"},
		{"huge output", `printf '{"x":"'; head -c 5000000 /dev/zero | tr '\0' a; echo '"}'`, "output larger than"},
		{"exit status", `echo 'moov atom not found' >&2; exit 1`, "moov atom not found"},
		{"exit status after long stderr", `echo 'moov atom not found' >&2; head -c 100000 /dev/zero | tr '\0' x >&2; exit 1`, "moov atom not found"},
		{"null", `echo null`, "ffprobe output is not a JSON object"},
		{"array", `echo '[{"streams":[],"format":{}}]'`, "ffprobe output is not a JSON object"},
		{"number", `echo 42`, "ffprobe output is not a JSON object"},
		{"string", `echo '"x"'`, "ffprobe output is not a JSON object"},
		{"empty object", `echo '{}'`, "ffprobe output is not a JSON object"},
		{"no streams", `echo '{"format":{"duration":"1"}}'`, "ffprobe output is not a JSON object"},
		{"no format", `echo '{"streams":[]}'`, "ffprobe output is not a JSON object"},
		{"null format", `echo '{"streams":[],"format":null}'`, "ffprobe output is not a JSON object"},
		{"streams not an array", `echo '{"streams":{},"format":{}}'`, "ffprobe output is not a JSON object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ff := &scan.FFProbe{Path: fakeFFProbe(t, tc.body)}
			info, err := ff.Probe(context.Background(), "/media/a.mkv")
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "/media/a.mkv") {
				t.Fatalf("Probe = codec %q, duration %v, %d tracks, %d bytes of JSON, error %v; want an error about the file with %q",
					info.Codec, info.DurationSeconds, info.Tracks, len(info.Raw), err, tc.want)
			}
		})
	}
	ff := &scan.FFProbe{Path: fakeFFProbe(t, `printf '{"streams":[{"codec_type":"video","codec_name":"h264","width":1920},{"codec_type":"audio"}],"format":{"duration":"N/A","size":"10","tags":{"title":"a\377.mkv"}}}'`)}
	info, err := ff.Probe(context.Background(), "/media/a.mkv")
	if err != nil || info.Codec != "h264" || info.Tracks != 2 || info.DurationSeconds != 0 || !strings.Contains(string(info.Raw), "a\uFFFD.mkv") {
		t.Fatalf("Probe = codec %q, duration %v, %d tracks, raw %s, error %v", info.Codec, info.DurationSeconds, info.Tracks, info.Raw, err)
	}
}

// TestFFProbeKillsItsProcessGroup: when a probe times out, ffprobe and
// every process it started are killed, and Probe returns without waiting
// for them.
func TestFFProbeKillsItsProcessGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	// The "ffprobe" starts a child that sleeps, records its pid, and sleeps
	// itself: both hold its stdout open.
	ff := &scan.FFProbe{Path: fakeFFProbe(t, "sleep 60 &\necho $! > "+pidFile+"\nsleep 60\n")}
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := ff.Probe(ctx, "/media/a.mkv")
		done <- err
	}()
	var err error
	select {
	case err = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Probe still running 20 s after its context ended")
	}
	if err == nil {
		t.Fatal("Probe of a hanging ffprobe succeeded")
	}
	b, rerr := os.ReadFile(pidFile)
	if rerr != nil {
		t.Fatalf("the fake ffprobe did not start its child: %v", rerr)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	deadline := time.Now().Add(10 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("ffprobe's child %d survived the probe's cancellation", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// alive tells whether pid runs (a zombie waiting for its reaper is dead).
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	return len(fields) > 0 && fields[0] != "Z"
}
