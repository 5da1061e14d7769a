package health_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/vpo-project/vpo/libs/health"
)

// blockingDB is a checker that signals when it starts and returns only when
// released.
func blockingDB(started chan<- struct{}, release <-chan struct{}, err error) *counter {
	return &counter{check: func(context.Context) error {
		started <- struct{}{}
		<-release
		return err
	}}
}

func TestConcurrentReportsCoalesce(t *testing.T) {
	started := make(chan struct{}, 100)
	release := make(chan struct{})
	db := blockingDB(started, release, errors.New("locked"))
	h := health.New(health.Options{Database: db, Timeout: time.Hour, Now: newClock().Now})
	h.SetReady(true)

	const n = 50
	var wg sync.WaitGroup
	statuses := make(chan string, n)
	for range n {
		wg.Go(func() { statuses <- h.Report(t.Context()).Status })
	}
	<-started
	close(release)
	wg.Wait()
	close(statuses)

	if calls := db.calls.Load(); calls != 1 {
		t.Errorf("checker called %d times, want 1", calls)
	}
	for s := range statuses {
		if s != "degraded" {
			t.Errorf("status %s, want degraded from the shared result", s)
		}
	}
}

func TestWaiterCancelDoesNotAffectOthers(t *testing.T) {
	started := make(chan struct{}, 10)
	release := make(chan struct{})
	db := blockingDB(started, release, nil)
	h := health.New(health.Options{Database: db, Timeout: time.Hour, Now: newClock().Now})
	h.SetReady(true)

	leaderCtx, cancelLeader := context.WithCancel(t.Context())
	leader := make(chan string, 1)
	go func() { leader <- h.Report(leaderCtx).Status }()
	<-started

	other := make(chan string, 1)
	go func() { other <- h.Report(t.Context()).Status }()

	// The first caller gives up; it gets its own error, the check goes on.
	cancelLeader()
	if got := <-leader; got != "degraded" {
		t.Errorf("cancelled caller status %s, want degraded", got)
	}
	close(release)
	if got := <-other; got != "healthy" {
		t.Errorf("waiting caller status %s, want healthy", got)
	}
	if calls := db.calls.Load(); calls != 1 {
		t.Errorf("checker called %d times, want 1", calls)
	}
}

func TestCacheExpiry(t *testing.T) {
	tests := []struct {
		name      string
		cacheFor  time.Duration
		advance   time.Duration
		wantCalls int32
	}{
		{"default, within", 0, 249 * time.Millisecond, 1},
		{"default, expired", 0, 250 * time.Millisecond, 2},
		{"custom, within", 5 * time.Second, 4 * time.Second, 1},
		{"custom, expired", 5 * time.Second, 6 * time.Second, 2},
		{"disabled", -1, 0, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			db := &counter{}
			h := health.New(health.Options{Database: db, CacheFor: tt.cacheFor, Now: clk.Now})
			h.Report(t.Context())
			h.Report(t.Context())
			clk.Advance(tt.advance)
			h.Report(t.Context())
			if calls := db.calls.Load(); calls != tt.wantCalls {
				t.Errorf("checker called %d times, want %d", calls, tt.wantCalls)
			}
		})
	}
}

func TestCheckerIgnoringContextIsNotStacked(t *testing.T) {
	started := make(chan struct{}, 10)
	release := make(chan struct{})
	db := blockingDB(started, release, nil) // ignores ctx
	t.Cleanup(func() { close(release) })
	clk := newClock()
	h := health.New(health.Options{Database: db, Timeout: time.Millisecond, Now: clk.Now})
	h.SetReady(true)

	if got := h.Report(t.Context()).Status; got != "degraded" {
		t.Errorf("status %s after the timeout, want degraded", got)
	}
	clk.Advance(time.Minute)
	if got := h.Report(t.Context()).Status; got != "degraded" {
		t.Errorf("status %s while the old check hangs, want degraded", got)
	}
	if calls := db.calls.Load(); calls != 1 {
		t.Errorf("checker called %d times, want 1 while the first still runs", calls)
	}
}

func TestCheckerPanicIsAnError(t *testing.T) {
	db := health.CheckerFunc(func(context.Context) error { panic("boom") })
	h := health.New(health.Options{Database: db})
	h.SetReady(true)
	if rep := h.Report(t.Context()); rep.Status != "degraded" || rep.Database != "disconnected" {
		t.Errorf("Report() = %+v, want degraded/disconnected", rep)
	}
}

func TestCheckerReceivesDeadline(t *testing.T) {
	var got time.Duration
	db := health.CheckerFunc(func(ctx context.Context) error {
		dl, ok := ctx.Deadline()
		if !ok {
			return errors.New("no deadline")
		}
		got = time.Until(dl)
		return nil
	})
	h := health.New(health.Options{Database: db}) // default 50ms
	if rep := h.Report(t.Context()); rep.Database != "connected" {
		t.Fatalf("database %s, want connected", rep.Database)
	}
	if got <= 0 || got > health.DefaultTimeout {
		t.Errorf("deadline in %v, want within (0, %v]", got, health.DefaultTimeout)
	}
}
