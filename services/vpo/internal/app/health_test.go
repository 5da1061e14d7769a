package app_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/vpo-project/vpo/services/vpo/internal/app"
)

// slowStore answers the health check's queries; Ping takes delay and, like a
// query stuck in SQLite, ignores its context.
type slowStore struct {
	delay  atomic.Int64 // nanoseconds
	queued int
}

func (s *slowStore) Ping(context.Context) error {
	time.Sleep(time.Duration(s.delay.Load()))
	return nil
}

func (s *slowStore) CountQueued(context.Context) (int, error) { return s.queued, nil }

// TestDatabaseCheckLogsTimeout: a check that outlives its time limit (the
// probe has answered 503 already) is a failure, logged once like any other;
// the recovery is logged once too.
func TestDatabaseCheckLogsTimeout(t *testing.T) {
	logger, hook := logtest.NewNullLogger()
	st := &slowStore{queued: 3}
	st.delay.Store(int64(30 * time.Millisecond))
	var queued atomic.Int64
	check := app.DatabaseCheck(st, logrus.NewEntry(logger), &queued)

	for i := 0; i < 3; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
		err := check.Check(ctx)
		cancel()
		if err == nil || !strings.Contains(err.Error(), "deadline exceeded") {
			t.Fatalf("check %d past its deadline = %v, want a deadline error", i, err)
		}
	}
	st.delay.Store(0)
	if err := check.Check(context.Background()); err != nil {
		t.Fatalf("fast check = %v", err)
	}
	if queued.Load() != 3 {
		t.Errorf("jobs_queued = %d, want 3", queued.Load())
	}

	var failed, passed int
	for _, e := range hook.AllEntries() {
		switch {
		case e.Level == logrus.ErrorLevel && strings.Contains(e.Message, "database check failed") &&
			strings.Contains(e.Message, "time limit"):
			failed++
		case strings.Contains(e.Message, "database check passes again"):
			passed++
		}
	}
	if failed != 1 || passed != 1 {
		t.Errorf("logged %d timeouts and %d recoveries, want 1 and 1: %v", failed, passed, hook.AllEntries())
	}
}

// countStore pings at once; CountQueued fails with err or, when block is
// set, blocks ignoring its context until release is closed.
type countStore struct {
	queued  int
	err     error
	block   bool
	release chan struct{}
}

func (s *countStore) Ping(context.Context) error { return nil }

func (s *countStore) CountQueued(context.Context) (int, error) {
	if s.block {
		<-s.release
	}
	return s.queued, s.err
}

// TestDatabaseCheckCountIsNotTheDatabase: only the ping decides the
// database's state. A queue count that fails or outlives the check's time
// limit leaves the check passing (the database "connected") and jobs_queued
// at its last value, logged once as a warning.
func TestDatabaseCheckCountIsNotTheDatabase(t *testing.T) {
	tests := []struct {
		name string
		st   *countStore
		warn int // warnings logged; none while the one count is still blocked
	}{
		{"count fails", &countStore{queued: 9, err: errors.New("count queued jobs: context deadline exceeded")}, 1},
		{"count ignores its deadline", &countStore{queued: 9, block: true, release: make(chan struct{})}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logger, hook := logtest.NewNullLogger()
			var queued atomic.Int64
			queued.Store(4)
			check := app.DatabaseCheck(tt.st, logrus.NewEntry(logger), &queued)
			for i := 0; i < 3; i++ {
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
				err := check.Check(ctx)
				cancel()
				if err != nil {
					t.Fatalf("check %d = %v, want nil (the ping passed)", i, err)
				}
			}
			if queued.Load() != 4 {
				t.Errorf("jobs_queued = %d, want the last value 4", queued.Load())
			}
			var warned, failed int
			for _, e := range hook.AllEntries() {
				switch {
				case e.Level == logrus.WarnLevel && strings.Contains(e.Message, "jobs_queued not refreshed"):
					warned++
				case strings.Contains(e.Message, "database check failed"):
					failed++
				}
			}
			if tt.st.block {
				close(tt.st.release)
			}
			if warned != tt.warn || failed != 0 {
				t.Errorf("logged %d count warnings and %d database failures, want %d and 0: %v",
					warned, failed, tt.warn, hook.AllEntries())
			}
		})
	}
}
