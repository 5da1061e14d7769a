package jobs_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/vpo-project/vpo/libs/jobs"
	"github.com/vpo-project/vpo/libs/store"
)

// silentUntilCancelled is a handler that never reports progress and
// returns ret once its context is cancelled.
func silentUntilCancelled(calls *atomic.Int64, ret error) jobs.HandlerFunc {
	return func(ctx context.Context, _ store.Job, _ jobs.Progress) (json.RawMessage, error) {
		calls.Add(1)
		<-ctx.Done()
		return nil, ret
	}
}

// silentFor is a handler that reports nothing and completes after d,
// unless cancelled.
func silentFor(d time.Duration) jobs.HandlerFunc {
	return func(ctx context.Context, _ store.Job, _ jobs.Progress) (json.RawMessage, error) {
		select {
		case <-time.After(d):
			return json.RawMessage(`{"done":true}`), nil
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		}
	}
}

func (e *env) warnings(jobID string) []string {
	var out []string
	for _, en := range e.hook.AllEntries() {
		if en.Level == logrus.WarnLevel && en.Data["job_id"] == jobID {
			out = append(out, en.Message)
		}
	}
	return out
}

func TestStalledJobFails(t *testing.T) {
	// Whatever the handler returns after its cancellation (nil or an error
	// of its own), the job fails as stalled.
	for _, ret := range []error{nil, errors.New("ffmpeg: killed")} {
		t.Run(errString(ret), func(t *testing.T) {
			e := newEnv(t)
			var calls atomic.Int64
			e.register("k", silentUntilCancelled(&calls, ret))
			j := e.submit(store.NewJob{Kind: "k", MaxAttempts: 1})
			e.start(jobs.PoolOptions{Workers: 1, StallTimeout: 50 * time.Millisecond})
			got := e.waitStatus(j.ID, store.StatusFailed)
			if got.Error != "stalled: no progress for 50ms" || got.Attempts != 1 {
				t.Errorf("job error %q after %d attempts, want %q after 1", got.Error, got.Attempts, "stalled: no progress for 50ms")
			}
			if !e.logged("job stalled: no progress reported for 50ms, cancelling it", j.ID) {
				t.Errorf("no stall warning with job_id; warnings: %q", e.warnings(j.ID))
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return "nil"
	}
	return err.Error()
}

func TestStalledJobRetriedThenFailed(t *testing.T) {
	e := newEnv(t)
	var calls atomic.Int64
	e.register("k", silentUntilCancelled(&calls, context.Canceled))
	j := e.submit(store.NewJob{Kind: "k", MaxAttempts: 3})
	rec := &recorder{}
	e.start(jobs.PoolOptions{Workers: 1, StallTimeout: 30 * time.Millisecond, Observer: rec})
	got := e.waitStatus(j.ID, store.StatusFailed)
	if got.Attempts != 3 || calls.Load() != 3 || got.Error != "stalled: no progress for 30ms" {
		t.Errorf("job = %s after %d attempts (%d runs), error %q; want failed as stalled after 3",
			got.Status, got.Attempts, calls.Load(), got.Error)
	}
	// The observer (metrics) saw three stalls: two retried, one failed.
	want := []string{"claimed k", "stalled k", "ended k retried", "claimed k", "stalled k", "ended k retried",
		"claimed k", "stalled k", "ended k failed"}
	deadline := time.Now().Add(10 * time.Second)
	for !slices.Equal(rec.got(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("observer told %q\nwant %q", rec.got(), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestReportsKeepJobAlivePastStallTimeout(t *testing.T) {
	e := newEnv(t)
	e.register("k", func(ctx context.Context, _ store.Job, p jobs.Progress) (json.RawMessage, error) {
		// Runs for several stall timeouts, reporting more often than one.
		for i := range 30 {
			if i%2 == 0 {
				p.Report(float64(i), "working")
			} else {
				p.ReportETA(float64(i), "working", time.Second)
			}
			select {
			case <-time.After(10 * time.Millisecond):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		return nil, nil
	})
	j := e.submit(store.NewJob{Kind: "k", MaxAttempts: 1})
	e.start(jobs.PoolOptions{Workers: 1, StallTimeout: 200 * time.Millisecond})
	if got := e.waitTerminal(j.ID); got.Status != store.StatusCompleted {
		t.Errorf("job = %s (error %q), want completed", got.Status, got.Error)
	}
}

func TestStallTimeoutPerKindAndOff(t *testing.T) {
	e := newEnv(t)
	var calls atomic.Int64
	e.register("fast", silentUntilCancelled(&calls, nil))
	e.register("slow", silentFor(300*time.Millisecond))
	e.register("off", silentFor(300*time.Millisecond))
	fast := e.submit(store.NewJob{Kind: "fast", MaxAttempts: 1})
	slow := e.submit(store.NewJob{Kind: "slow", MaxAttempts: 1})
	off := e.submit(store.NewJob{Kind: "off", MaxAttempts: 1})
	p, _ := e.start(jobs.PoolOptions{Workers: 3, StallTimeout: 40 * time.Millisecond,
		StallTimeouts: map[string]time.Duration{"slow": time.Minute, "off": 0}})
	if got := e.waitTerminal(fast.ID); got.Error != "stalled: no progress for 40ms" {
		t.Errorf("job without override = %s (error %q), want failed after the default 40ms", got.Status, got.Error)
	}
	if got := e.waitTerminal(slow.ID); got.Status != store.StatusCompleted {
		t.Errorf("job with a 1m override = %s (error %q), want completed", got.Status, got.Error)
	}
	if got := e.waitTerminal(off.ID); got.Status != store.StatusCompleted {
		t.Errorf("job with stall detection off for its kind = %s (error %q), want completed", got.Status, got.Error)
	}
	if p.StallTimeout("slow") != time.Minute || p.StallTimeout("off") != 0 || p.StallTimeout("fast") != 40*time.Millisecond {
		t.Errorf("StallTimeout: slow %v off %v fast %v", p.StallTimeout("slow"), p.StallTimeout("off"), p.StallTimeout("fast"))
	}
}

func TestSetStallTimeoutsLive(t *testing.T) {
	e := newEnv(t)
	var calls atomic.Int64
	e.register("k", silentUntilCancelled(&calls, nil))
	e.register("quiet", silentFor(300*time.Millisecond))
	p, _ := e.start(jobs.PoolOptions{Workers: 2})
	if p.StallTimeout("k") != jobs.DefaultStallTimeout {
		t.Errorf("default stall timeout = %v, want %v", p.StallTimeout("k"), jobs.DefaultStallTimeout)
	}
	// 0 switches it off.
	p.SetStallTimeouts(0, nil)
	q := e.submit(store.NewJob{Kind: "quiet", MaxAttempts: 1})
	p.Notify()
	if got := e.waitTerminal(q.ID); got.Status != store.StatusCompleted {
		t.Errorf("with stall detection off, job = %s (error %q), want completed", got.Status, got.Error)
	}
	p.SetStallTimeouts(time.Hour, map[string]time.Duration{"k": 30 * time.Millisecond})
	j := e.submit(store.NewJob{Kind: "k", MaxAttempts: 1})
	p.Notify()
	if got := e.waitTerminal(j.ID); got.Error != "stalled: no progress for 30ms" {
		t.Errorf("job = %s (error %q), want stalled after the per-kind 30ms", got.Status, got.Error)
	}
}

func TestCancelledJobIsNotStalled(t *testing.T) {
	e := newEnv(t)
	started := make(chan string, 1)
	e.register("k", func(ctx context.Context, j store.Job, p jobs.Progress) (json.RawMessage, error) {
		started <- j.ID
		// Alive until cancelled, then silent and slow to return, well past
		// the stall timeout.
		for ctx.Err() == nil {
			p.Report(1, "working")
			select {
			case <-ctx.Done():
			case <-time.After(10 * time.Millisecond):
			}
		}
		time.Sleep(600 * time.Millisecond)
		return nil, ctx.Err()
	})
	j := e.submit(store.NewJob{Kind: "k", MaxAttempts: 3})
	p, _ := e.start(jobs.PoolOptions{Workers: 1, StallTimeout: 200 * time.Millisecond})
	<-started
	if _, err := e.store.CancelJob(context.Background(), j.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	p.CheckCancel(j.ID)
	got := e.waitTerminal(j.ID)
	if got.Status != store.StatusCancelled || got.Error != "" {
		t.Errorf("job = %s (error %q), want cancelled", got.Status, got.Error)
	}
	if e.logged("job stalled: no progress reported for 200ms, cancelling it", j.ID) {
		t.Error("a job cancelled by its user was also reported stalled")
	}
}

func TestStalledHandlerIgnoringCancellationIsAbandoned(t *testing.T) {
	e := newEnv(t)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	e.register("stuck", func(context.Context, store.Job, jobs.Progress) (json.RawMessage, error) {
		<-release // ignores ctx
		return nil, nil
	})
	e.register("k", noop)
	j := e.submit(store.NewJob{Kind: "stuck", MaxAttempts: 1})
	p, _ := e.start(jobs.PoolOptions{Workers: 1, StallTimeout: 30 * time.Millisecond, ShutdownGrace: 30 * time.Millisecond})
	got := e.waitTerminal(j.ID)
	if got.Status != store.StatusFailed || got.Error != "stalled: no progress for 30ms" {
		t.Errorf("job = %s (error %q), want failed as stalled", got.Status, got.Error)
	}
	if !e.logged("stalled job handler ignored cancellation: abandoned", j.ID) {
		t.Errorf("abandonment not logged; warnings: %q", e.warnings(j.ID))
	}
	// The worker is free again.
	k := e.submit(store.NewJob{Kind: "k"})
	p.Notify()
	e.waitStatus(k.ID, store.StatusCompleted)
}

// waitTerminal waits (bounded generously) until the job is completed,
// failed or cancelled.
func (e *env) waitTerminal(id string) store.Job {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		j := e.job(id)
		if j.Terminal() {
			return j
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("job %s is %s (attempts %d, error %q), want it finished", id, j.Status, j.Attempts, j.Error)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestRetryOfAbandonedStalledJobDoesNotHang: the retry of a job whose
// stalled handler never returns waits for that handler (never two
// handlers of one job), but only for the stall timeout: the job then
// fails for good instead of staying running.
func TestRetryOfAbandonedStalledJobDoesNotHang(t *testing.T) {
	e := newEnv(t)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	var calls atomic.Int64
	e.register("stuck", func(context.Context, store.Job, jobs.Progress) (json.RawMessage, error) {
		calls.Add(1)
		<-release // ignores ctx
		return nil, nil
	})
	j := e.submit(store.NewJob{Kind: "stuck", MaxAttempts: 2})
	e.start(jobs.PoolOptions{Workers: 2, StallTimeout: 30 * time.Millisecond, ShutdownGrace: 30 * time.Millisecond})
	got := e.waitTerminal(j.ID)
	if got.Status != store.StatusFailed || got.Attempts != 2 || got.Error != "stalled: no progress for 30ms" {
		t.Errorf("job = %s after %d attempts (error %q), want failed as stalled after 2", got.Status, got.Attempts, got.Error)
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("handler started %d times, want 1 (the retry must not run beside the stuck handler)", n)
	}
	if e.logged("job lease lost: run stopped, its outcome is discarded", j.ID) {
		t.Error("the abandoned run was reported as a lost lease")
	}
}
