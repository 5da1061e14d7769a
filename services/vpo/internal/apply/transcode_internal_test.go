package apply

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRunTranscodeReportsOnlyAdvances runs a stand-in ffmpeg that writes
// -progress blocks, one of them repeating the last: it is not reported,
// so a stuck encode stops reporting.
func TestRunTranscodeReportsOnlyAdvances(t *testing.T) {
	ff := filepath.Join(t.TempDir(), "ffmpeg")
	blocks := []string{
		"frame=25\nout_time_us=1000000\nspeed=2x\nprogress=continue",
		"frame=25\nout_time_us=1000000\nspeed=2x\nprogress=continue",
		"frame=50\nout_time_us=2000000\nspeed=2x\nprogress=continue",
		"frame=100\nout_time_us=4000000\nspeed=2x\nprogress=end",
	}
	if err := os.WriteFile(ff, []byte("#!/bin/sh\nprintf '%s\\n' '"+strings.Join(blocks, "\n")+"'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	e, err := New(Options{JournalDir: filepath.Join(t.TempDir(), "journal")})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	err = e.runFFmpeg(context.Background(), encodeRun{ffmpeg: ff, encoder: "libx265"}, true, 4*time.Second,
		func(p float64, msg string, eta time.Duration) {
			got = append(got, fmt.Sprintf("%g%% %s eta %v", p, msg, eta))
		})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"25% speed 2x, 00:00:01 of 00:00:04 eta 2s",
		"50% speed 2x, 00:00:02 of 00:00:04 eta 1s",
		"100% speed 2x, 00:00:04 of 00:00:04 eta 0s",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("reports\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
