package joblog_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/vpo-project/vpo/libs/store"
	"github.com/vpo-project/vpo/services/vpo/internal/joblog"
)

// TestLinesOfJobsStored: entries with a job_id reach that job's stored
// log, formatted with their fields; others do not; Shutdown stores what
// is still queued.
func TestLinesOfJobsStored(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "library.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	j, err := st.CreateJob(ctx, store.NewJob{Kind: "k"})
	if err != nil {
		t.Fatal(err)
	}
	logger, _ := logtest.NewNullLogger()
	hook := joblog.NewHook()
	logger.AddHook(hook)
	w := joblog.NewWriter(hook, st, logrus.NewEntry(logger))
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()

	jl := logger.WithFields(logrus.Fields{"job_id": j.ID, "job_kind": "k", "attempt": 1})
	jl.WithField("file_path", "/media/a b.mkv").Info("job started")
	jl.WithError(errors.New("disk full")).Warn("apply failed")
	jl.WithField("file_path", "/m/x\x1b[31mRED\x1b]0;T\x07\xff.mkv").Warn("probe: \x01\x02 bad\r\n")
	logger.Info("a line of no job")
	logger.WithField("job_id", j.ID).Debug("below the logger's level: not kept")
	if err := w.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("writer did not stop")
	}
	lines, err := st.JobLog(ctx, j.ID, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range lines {
		got = append(got, l.Level+" "+l.Line)
	}
	want := []string{`info job started file_path="/media/a b.mkv"`, `warning apply failed error="disk full"`,
		`warning probe: \x01\x02 bad\r\n file_path="/m/x\x1b[31mRED\x1b]0;T\a\xff.mkv"`}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("stored log:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestHookNeverBlocks: with no writer running, the hook drops lines once
// its queue is full instead of blocking the logger.
func TestHookNeverBlocks(t *testing.T) {
	logger, _ := logtest.NewNullLogger()
	hook := joblog.NewHook()
	logger.AddHook(hook)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 10000 {
			logger.WithField("job_id", "j").Info("x")
		}
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("logging blocked on the job log queue")
	}
	if hook.Dropped() == 0 {
		t.Error("10,000 lines into a queue nobody reads: none counted as dropped")
	}
}
