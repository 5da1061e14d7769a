package jobs_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vpo-project/vpo/libs/jobs"
	"github.com/vpo-project/vpo/libs/store"
)

// recorder is an Observer that keeps what it was told.
type recorder struct {
	mu    sync.Mutex
	calls []string
}

func (r *recorder) add(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, s)
}
func (r *recorder) JobClaimed(kind string) { r.add("claimed " + kind) }
func (r *recorder) JobEnded(kind, outcome string, d time.Duration) {
	if d < 0 {
		outcome += " (negative duration)"
	}
	r.add("ended " + kind + " " + outcome)
}
func (r *recorder) JobStalled(kind string) { r.add("stalled " + kind) }
func (r *recorder) LeaseLost(kind string)  { r.add("lost " + kind) }

func (r *recorder) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

// TestObserverSeesEveryRun: claims and the outcome of each run reach the
// observer: a completion, a failed attempt that is retried, a final
// failure.
func TestObserverSeesEveryRun(t *testing.T) {
	e := newEnv(t)
	var n int
	var mu sync.Mutex
	e.register("k", func(context.Context, store.Job, jobs.Progress) (json.RawMessage, error) {
		mu.Lock()
		defer mu.Unlock()
		n++
		if n == 1 {
			return nil, nil
		}
		return nil, errors.New("boom")
	})
	rec := &recorder{}
	ok := e.submit(store.NewJob{Kind: "k"})
	_, _ = e.start(jobs.PoolOptions{Workers: 1, Observer: rec})
	e.waitStatus(ok.ID, store.StatusCompleted)
	bad := e.submit(store.NewJob{Kind: "k", MaxAttempts: 2})
	e.waitStatus(bad.ID, store.StatusFailed)
	want := []string{"claimed k", "ended k completed", "claimed k", "ended k retried", "claimed k", "ended k failed"}
	deadline := time.Now().Add(10 * time.Second)
	for fmt.Sprint(rec.got()) != fmt.Sprint(want) {
		if time.Now().After(deadline) {
			t.Fatalf("observer told %q\nwant %q", rec.got(), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
