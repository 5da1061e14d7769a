package transcode_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/vpo-project/vpo/services/vpo/internal/transcode"
)

// sample is -progress output as ffmpeg writes it: blocks of key=value
// lines, each ended by progress=continue, the last by progress=end.
const sample = `frame=0
fps=0.00
stream_0_0_q=0.0
bitrate=N/A
total_size=0
out_time_us=N/A
out_time_ms=N/A
out_time=N/A
dup_frames=0
drop_frames=0
speed=N/A
progress=continue
frame=210
fps=41.9
bitrate= 120.3kbits/s
total_size=315392
out_time_us=70000000
out_time_ms=70000000
out_time=00:01:10.000000
speed=2.4x
progress=continue
frame=600
out_time_us=240000000
speed=2.51x
progress=end
`

func TestReadProgress(t *testing.T) {
	var got []transcode.Progress
	if err := transcode.ReadProgress(strings.NewReader(sample), func(p transcode.Progress) { got = append(got, p) }); err != nil {
		t.Fatal(err)
	}
	want := []transcode.Progress{
		{},
		{OutTime: 70 * time.Second, Speed: 2.4, Frame: 210},
		{OutTime: 240 * time.Second, Speed: 2.51, Frame: 600, End: true},
	}
	if len(got) != len(want) {
		t.Fatalf("%d blocks %+v, want %d", len(got), got, len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("block %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	total := 4 * time.Minute
	mid := got[1]
	if p := mid.Percent(total); p < 29.1 || p > 29.2 {
		t.Errorf("Percent = %v, want 29.17", p)
	}
	if eta, ok := mid.ETA(total); !ok || eta != 71*time.Second {
		t.Errorf("ETA = %v, %v; want 71s (170 s of media at 2.4x)", eta, ok)
	}
	if m := mid.Message(total); m != "speed 2.4x, 00:01:10 of 00:04:00" {
		t.Errorf("Message = %q", m)
	}
	if p, m := got[0].Percent(total), got[0].Message(0); p != 0 || m != "00:00:00" {
		t.Errorf("first block: %v%%, %q", p, m)
	}
	if _, ok := got[0].ETA(total); ok {
		t.Error("ETA known before ffmpeg reports a speed")
	}
	if p := got[2].Percent(total); p != 100 {
		t.Errorf("end block: %v%%", p)
	}
}

func TestReadProgressBadInput(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"no equals sign", "frame=1\ngarbage\n", `line 2: "garbage" is not key=value`},
		{"bad time", "out_time_us=soon\n", `out_time_us="soon" is not a number`},
		{"bad speed", "speed=fast\n", `speed="fast" is not a speed`},
		{"negative speed", "speed=-1x\n", `speed="-1x" is not a speed`},
		{"bad frame", "frame=-3\n", `frame="-3" is not a frame count`},
		{"bad progress", "progress=maybe\n", `progress="maybe" is neither continue nor end`},
		{"endless line", "frame=" + strings.Repeat("1", 5000) + "\n", "longer than 4096 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := transcode.ReadProgress(strings.NewReader(tc.in), func(transcode.Progress) {})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	// Output cut short (ffmpeg killed mid-block) is no error.
	var n int
	if err := transcode.ReadProgress(strings.NewReader("frame=1\nprogress=continue\nframe=2\nout_ti"), func(transcode.Progress) { n++ }); err != nil || n != 1 {
		t.Errorf("cut short: %d blocks, %v; want 1, nil", n, err)
	}
}

// TestReadProgressOfRealFFmpeg reads what the installed ffmpeg writes with
// -progress for a short encode: at least one block, the last one ends it,
// and media time never goes back.
func TestReadProgressOfRealFFmpeg(t *testing.T) {
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("ffmpeg is not installed (CI is set: the test environment must have it)")
		}
		t.Skip("ffmpeg is not installed (outside CI): skipping the real-ffmpeg progress test")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=10:duration=3",
		"-c:v", "mpeg4", "-stats_period", "0.1", "-progress", "pipe:1", "-f", "null", "-")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var got []transcode.Progress
	rerr := transcode.ReadProgress(out, func(p transcode.Progress) { got = append(got, p) })
	if err := cmd.Wait(); err != nil {
		t.Fatalf("ffmpeg: %v", err)
	}
	if rerr != nil {
		t.Fatalf("ReadProgress: %v", rerr)
	}
	if len(got) == 0 || !got[len(got)-1].End {
		t.Fatalf("blocks %+v; want at least one, the last with End", got)
	}
	last := got[len(got)-1]
	if last.OutTime < 2500*time.Millisecond || last.Frame < 25 {
		t.Errorf("last block %+v; want about 3 s and 30 frames written", last)
	}
	for i := 1; i < len(got); i++ {
		if got[i].OutTime < got[i-1].OutTime {
			t.Errorf("media time went back: %v after %v", got[i].OutTime, got[i-1].OutTime)
		}
	}
}

func FuzzReadProgress(f *testing.F) {
	f.Add(sample)
	f.Add("out_time_us=-9223372036854775807\nspeed=1e400x\nprogress=continue\n")
	f.Fuzz(func(t *testing.T, in string) {
		_ = transcode.ReadProgress(strings.NewReader(in), func(p transcode.Progress) {
			if p.OutTime < 0 || p.Speed < 0 || p.Frame < 0 {
				t.Fatalf("negative progress %+v from %q", p, in)
			}
			if pc := p.Percent(time.Minute); pc < 0 || pc > 100 {
				t.Fatalf("percent %v", pc)
			}
		})
	})
}
