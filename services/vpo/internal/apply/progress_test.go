package apply_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vpo-project/vpo/services/vpo/internal/apply"
)

// remuxProgress records the Progress calls of an apply.
type remuxProgress struct {
	mu       sync.Mutex
	percents []float64
	messages []string
}

func (l *remuxProgress) report(p float64, msg string, _ time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.percents = append(l.percents, p)
	l.messages = append(l.messages, msg)
}

// check fails unless there are at least min calls, with rising percents
// in 0..100, and every one of want among them.
func (l *remuxProgress) check(t *testing.T, min int, want ...float64) {
	t.Helper()
	if len(l.percents) < min {
		t.Fatalf("%d progress calls (%v), want at least %d", len(l.percents), l.percents, min)
	}
	for i, p := range l.percents {
		if p < 0 || p > 100 || i > 0 && p <= l.percents[i-1] {
			t.Errorf("progress %v (%q): not rising within 0..100", l.percents, l.messages)
			break
		}
	}
	for _, w := range want {
		found := false
		for _, p := range l.percents {
			found = found || p == w
		}
		if !found {
			t.Errorf("progress %v (%q): no %g", l.percents, l.messages, w)
		}
	}
}

// wrapTool writes a script that prints out (unless run with -J), then runs the real tool name
// with its arguments.
func wrapTool(t *testing.T, name, out string) string {
	t.Helper()
	real, err := exec.LookPath(name)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	p, printed := filepath.Join(dir, name), filepath.Join(dir, "out")
	if err := os.WriteFile(printed, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	// Not for mkvmerge -J (identify), whose output is JSON.
	script := fmt.Sprintf("#!/bin/sh\n[ \"$1\" = -J ] || cat %q\nexec %q \"$@\"\n", printed, real)
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRemuxReportsProgress checks that rewrites by mkvmerge and by an
// ffmpeg copy report their tools' progress: a wrapper prints progress
// the way each tool does, then runs the real tool.
func TestRemuxReportsProgress(t *testing.T) {
	for _, c := range []struct {
		name, tool, container, out string
		min                        int
		want                       []float64
	}{
		{"mkvmerge", "mkvmerge", "mkv", "#GUI#progress 10%\nnoise\n#GUI#progress 10%\n#GUI#progress 40%\n", 2, []float64{10, 40}},
		// Two blocks, then the real ffmpeg's last one (100%).
		{"ffmpeg", "ffmpeg", "mp4", "frame=5\nout_time_us=500000\nspeed=1x\nprogress=continue\n" +
			"frame=10\nout_time_us=1000000\nspeed=1x\nprogress=continue\n", 3, []float64{100}},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := fixture(t, fixtureMKV)
			probe, _ := newExecutor(t, nil)
			edit := dropJapanese
			if c.container == "mp4" {
				edit = toMP4
			}
			req := request(t, probe, path, c.container, edit)
			var log remuxProgress
			req.Progress = log.report
			tools := apply.Tools{}
			if c.tool == "mkvmerge" {
				tools.MkvMerge = wrapTool(t, "mkvmerge", c.out)
			} else {
				tools.FFmpeg = wrapTool(t, "ffmpeg", c.out)
			}
			e, err := apply.New(apply.Options{JournalDir: filepath.Join(t.TempDir(), "journal"), Tools: tools})
			if err != nil {
				t.Fatal(err)
			}
			res, err := e.Apply(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			if res.Executor != c.tool {
				t.Fatalf("executor %s, want %s", res.Executor, c.tool)
			}
			log.check(t, c.min, c.want...)
		})
	}
}

// TestMkvMergeRewriteReportsProgress checks that the real mkvmerge's
// rewrite reports progress.
func TestMkvMergeRewriteReportsProgress(t *testing.T) {
	path := fixture(t, fixtureMKV)
	e, _ := newExecutor(t, nil)
	req := request(t, e, path, "mkv", dropJapanese)
	var log remuxProgress
	req.Progress = log.report
	res, err := e.Apply(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if res.Executor != apply.ExecutorMkvMerge {
		t.Fatalf("executor %s, want mkvmerge", res.Executor)
	}
	log.check(t, 1)
}

// TestMkvMergeErrorIsReadable checks that mkvmerge's errors, printed as
// --gui-mode lines, are in the apply's error as mkvmerge words them.
func TestMkvMergeErrorIsReadable(t *testing.T) {
	path := fixture(t, fixtureMKV)
	probe, _ := newExecutor(t, nil)
	req := request(t, probe, path, "mkv", dropJapanese)
	tool := filepath.Join(t.TempDir(), "mkvmerge")
	real, err := exec.LookPath("mkvmerge")
	if err != nil {
		t.Fatal(err)
	}
	// Identify as the real one does; fail a rewrite as it does.
	script := fmt.Sprintf("#!/bin/sh\n[ \"$1\" = -J ] && exec %q \"$@\"\necho 'mkvmerge v1 64-bit'\necho '#GUI#progress 3%%'\necho '#GUI#error The file could not be opened for writing.'\nexit 2\n", real)
	if err := os.WriteFile(tool, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	e, err := apply.New(apply.Options{JournalDir: filepath.Join(t.TempDir(), "journal"), Tools: apply.Tools{MkvMerge: tool}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.Apply(context.Background(), req)
	if err == nil || !strings.Contains(err.Error(), "Error: The file could not be opened for writing.") || strings.Contains(err.Error(), "#GUI#") {
		t.Errorf("Apply: %v; want mkvmerge's error, without its --gui-mode prefix", err)
	}
}
