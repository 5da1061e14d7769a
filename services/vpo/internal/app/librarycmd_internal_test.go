package app

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/vpo-project/vpo/libs/config"
	"github.com/vpo-project/vpo/libs/jobs"
	"github.com/vpo-project/vpo/libs/store"
	"github.com/vpo-project/vpo/services/vpo/internal/library"
	"github.com/vpo-project/vpo/services/vpo/internal/scan"
)

func TestChooseLibraries(t *testing.T) {
	libs := []library.Status{{ID: "aaaaaaaaaaaa", Path: "/srv/movies"}, {ID: "bbbbbbbbbbbb", Path: "/srv/shows"}}
	for _, tc := range []struct {
		names []string
		want  []string
		err   string
	}{
		{nil, []string{"/srv/movies", "/srv/shows"}, ""},
		{[]string{"bbbbbbbbbbbb"}, []string{"/srv/shows"}, ""},
		{[]string{"/srv/movies/"}, []string{"/srv/movies"}, ""},
		{[]string{"/srv/other"}, nil, `no library with id or path "/srv/other"`},
		{[]string{"srv/movies"}, nil, "aaaaaaaaaaaa  /srv/movies"},
	} {
		got, err := chooseLibraries(libs, tc.names)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%v: error %v, want %q", tc.names, err, tc.err)
			}
			continue
		}
		var paths []string
		for _, l := range got {
			paths = append(paths, l.Path)
		}
		if err != nil || strings.Join(paths, ",") != strings.Join(tc.want, ",") {
			t.Errorf("%v: %v, %v; want %v", tc.names, paths, err, tc.want)
		}
	}
}

func TestPrintLibraries(t *testing.T) {
	now := time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC)
	last := now.Add(-5 * time.Minute)
	libs := []library.Status{
		{ID: "aaaaaaaaaaaa", Path: "/srv/movies", Policy: "normalize", Watch: true, Watching: true, WatchedDirs: 12, Pending: 2, LastScan: &last},
		{ID: "bbbbbbbbbbbb", Path: "/srv/shows", Watch: true, FallbackReason: "inotify watch limit reached"},
	}
	var buf bytes.Buffer
	if err := printLibraries(&buf, false, libs, now); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"ID", "/srv/movies", "normalize", "yes", "(5m0s ago)", "(scan only)", "no (rescans)",
		"/srv/shows is not watched: inotify watch limit reached"} {
		if !strings.Contains(out, want) {
			t.Errorf("output without %q:\n%s", want, out)
		}
	}
	buf.Reset()
	if err := printLibraries(&buf, true, nil, now); err != nil || strings.TrimSpace(buf.String()) != "[]" {
		t.Errorf("JSON of none: %q, %v", buf.String(), err)
	}
	buf.Reset()
	if err := printLibraries(&buf, false, nil, now); err != nil || !strings.Contains(buf.String(), "no libraries configured") {
		t.Errorf("text of none: %q", buf.String())
	}
}

// finishingScanner is a scan handler with the OnFinished hook.
type finishingScanner struct {
	hook scan.FinishedFunc
}

func (f *finishingScanner) Run(context.Context, store.Job, jobs.Progress) (json.RawMessage, error) {
	return nil, nil
}

func (f *finishingScanner) OnFinished(h scan.FinishedFunc) {
	f.hook = h
}

// TestHookScans: a scanner with OnFinished is hooked to the manager; one
// without is reported.
func TestHookScans(t *testing.T) {
	m := library.New(library.Options{}, nil)
	reg := jobs.NewRegistry()
	if hookScans(reg, m) {
		t.Errorf("hooked without a scan kind")
	}
	f := &finishingScanner{}
	if err := reg.Register(scan.Kind, f); err != nil {
		t.Fatal(err)
	}
	if !hookScans(reg, m) || f.hook == nil {
		t.Fatalf("scanner with OnFinished not hooked")
	}
	f.hook(context.Background(), "/nowhere", scan.Result{}) // no library: nothing happens
}

// TestWatchLimitKnob: VPO_TEST_WATCH_LIMIT counts only with
// jobs.test_kinds.
func TestWatchLimitKnob(t *testing.T) {
	log := logrus.NewEntry(logrus.New())
	env := func(v string) Env { return Env{Environ: []string{testWatchLimitEnv + "=" + v}} }
	on, off := config.Config{}, config.Config{}
	on.Jobs.TestKinds = true
	for _, tc := range []struct {
		cfg  config.Config
		v    string
		want int
	}{
		{on, "3", 3}, {off, "3", 0}, {on, "", 0}, {on, "x", 0}, {on, "0", 0},
	} {
		if got := watchLimit(tc.cfg, env(tc.v), log); got != tc.want {
			t.Errorf("test_kinds=%v %s=%q: %d, want %d", tc.cfg.Jobs.TestKinds, testWatchLimitEnv, tc.v, got, tc.want)
		}
	}
}
