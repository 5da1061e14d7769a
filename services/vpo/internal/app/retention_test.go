package app_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/vpo-project/vpo/services/vpo/internal/app"
)

// fakePruner records the cutoffs it is asked for and deletes from a count.
type fakePruner struct {
	mu      sync.Mutex
	left    int
	cutoffs []time.Time
	called  chan struct{}
	// events: the cutoffs and keep counts of PruneEvents
	eventCuts []time.Time
	eventKeep []int
}

func (f *fakePruner) PruneEvents(_ context.Context, before time.Time, keep, _ int) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.eventCuts = append(f.eventCuts, before)
	f.eventKeep = append(f.eventKeep, keep)
	return 0, nil
}

func (f *fakePruner) DeleteFinishedJobs(_ context.Context, cutoff time.Time, limit int) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cutoffs = append(f.cutoffs, cutoff)
	n := min(f.left, limit)
	f.left -= n
	select {
	case f.called <- struct{}{}:
	default:
	}
	return n, nil
}

func (f *fakePruner) calls() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Time(nil), f.cutoffs...)
}

// TestRetentionPeriodChangesLive: a pass deletes in batches until a short
// batch, SetDays applies a new period at once, and 0 deletes nothing.
func TestRetentionPeriodChangesLive(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	f := &fakePruner{left: 25, called: make(chan struct{}, 100)}
	logger, _ := logtest.NewNullLogger()
	r := app.NewRetention(f, 30, logrus.NewEntry(logger))
	app.SetRetentionClock(r, func() time.Time { return now }, 10)

	done := make(chan error, 1)
	go func() { done <- r.Run(context.Background()) }()
	waitCalls := func(n int) []time.Time {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			if c := f.calls(); len(c) >= n {
				return c
			}
			select {
			case <-f.called:
			case <-deadline:
				t.Fatalf("%d DeleteFinishedJobs calls, want %d", len(f.calls()), n)
			}
		}
	}
	// 25 rows in batches of 10: 10, 10, 5 (short: the pass ends).
	c := waitCalls(3)
	for _, cut := range c {
		if want := now.Add(-30 * 24 * time.Hour); !cut.Equal(want) {
			t.Errorf("cutoff %v, want %v", cut, want)
		}
	}
	r.SetDays(0) // keep forever: a pass that deletes nothing
	r.SetDays(7)
	c = waitCalls(4)
	if want := now.Add(-7 * 24 * time.Hour); !c[3].Equal(want) {
		t.Errorf("after SetDays(7): cutoff %v, want %v", c[3], want)
	}
	if r.Days() != 7 {
		t.Errorf("Days() = %d, want 7", r.Days())
	}
	if err := r.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Fatalf("Run = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after Shutdown")
	}
}

// TestRetentionZeroKeepsEverything: with 0 days no pass touches the store.
func TestRetentionZeroKeepsEverything(t *testing.T) {
	f := &fakePruner{left: 5, called: make(chan struct{}, 1)}
	logger, _ := logtest.NewNullLogger()
	r := app.NewRetention(f, 0, logrus.NewEntry(logger))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	r.SetDays(0)
	time.Sleep(50 * time.Millisecond)
	cancel()
	<-done
	if c := f.calls(); len(c) != 0 {
		t.Errorf("%d deletions with retention 0, want none", len(c))
	}
	// Events are pruned whatever the jobs' retention: a day, keeping the
	// newest 10,000.
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.eventCuts) == 0 || f.eventKeep[0] != 10000 || time.Since(f.eventCuts[0]) < 23*time.Hour {
		t.Errorf("event pruning: cutoffs %v keep %v, want one a day back keeping 10000", f.eventCuts, f.eventKeep)
	}
}
