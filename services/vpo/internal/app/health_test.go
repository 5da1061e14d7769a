package app_test

import (
	"context"
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
