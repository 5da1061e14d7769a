package jobs_test

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vpo-project/vpo/libs/jobs"
	"github.com/vpo-project/vpo/libs/store"
)

// stuckHandler ignores its context: it returns ret once release is
// closed. It counts its starts.
type stuckHandler struct {
	starts  atomic.Int64
	release chan struct{}
	once    sync.Once
	ret     json.RawMessage
}

func newStuck(t *testing.T) *stuckHandler {
	h := &stuckHandler{release: make(chan struct{})}
	t.Cleanup(h.free)
	return h
}

func (h *stuckHandler) free() { h.once.Do(func() { close(h.release) }) }

func (h *stuckHandler) run(context.Context, store.Job, jobs.Progress) (json.RawMessage, error) {
	h.starts.Add(1)
	<-h.release
	return h.ret, nil
}

// TestAbandonedHandlerOutlivesLaterAttempts: a stalled handler that ignores
// its cancellation is abandoned, but no later attempt of its job starts a
// handler beside it, however many attempts wait for it and fail.
func TestAbandonedHandlerOutlivesLaterAttempts(t *testing.T) {
	e := newEnv(t)
	h := newStuck(t)
	e.register("stuck", h.run)
	j := e.submit(store.NewJob{Kind: "stuck", MaxAttempts: 4})
	e.start(jobs.PoolOptions{Workers: 2, StallTimeout: 30 * time.Millisecond, ShutdownGrace: 30 * time.Millisecond})
	got := e.waitTerminal(j.ID)
	if got.Status != store.StatusFailed || got.Attempts != 4 || got.Error != "stalled: no progress for 30ms" {
		t.Errorf("job = %s after %d attempts (error %q), want failed as stalled after 4", got.Status, got.Attempts, got.Error)
	}
	if n := h.starts.Load(); n != 1 {
		t.Errorf("handler started %d times, want 1 (no attempt may run beside the abandoned handler)", n)
	}
	if e.logged("job lease lost: run stopped, its outcome is discarded", j.ID) {
		t.Error("an ended run was reported as a lost lease")
	}
}

// TestAbandonedHandlerKeepsItsKindSlot: an abandoned handler still runs, so
// it still counts for the limit of its kind until it returns; the worker
// it had is free for other kinds.
func TestAbandonedHandlerKeepsItsKindSlot(t *testing.T) {
	e := newEnv(t)
	h := newStuck(t)
	e.register("stuck", h.run)
	e.register("k", noop)
	a := e.submit(store.NewJob{Kind: "stuck", MaxAttempts: 1})
	p, _ := e.start(jobs.PoolOptions{Workers: 2, StallTimeout: 30 * time.Millisecond, ShutdownGrace: 30 * time.Millisecond,
		Limits: map[string]int{"stuck": 1}})
	if got := e.waitTerminal(a.ID); got.Status != store.StatusFailed {
		t.Fatalf("stuck job = %s (error %q), want failed as stalled", got.Status, got.Error)
	}
	if !e.waitLogged("stalled job handler ignored cancellation: abandoned", a.ID) {
		t.Fatal("the stalled handler was not abandoned")
	}
	// b comes first in the queue, but its kind's only slot is taken by
	// the abandoned handler: c, of another kind, runs instead.
	b := e.submit(store.NewJob{Kind: "stuck", MaxAttempts: 1})
	c := e.submit(store.NewJob{Kind: "k", MaxAttempts: 1})
	p.Notify()
	e.waitStatus(c.ID, store.StatusCompleted)
	if got := e.job(b.ID); got.Status != store.StatusQueued || h.starts.Load() != 1 {
		t.Errorf("job of the kind at its limit = %s, handler starts %d; want queued, 1", got.Status, h.starts.Load())
	}
	// Once the abandoned handler returns, the slot is free.
	h.free()
	e.waitStatus(b.ID, store.StatusCompleted)
}

// TestCancelledHandlerIgnoringCancellationIsAbandoned: a job cancelled by
// its user ends cancelled after ShutdownGrace even when its handler
// ignores the cancellation, and its worker is free again.
func TestCancelledHandlerIgnoringCancellationIsAbandoned(t *testing.T) {
	e := newEnv(t)
	h := newStuck(t)
	h.ret = json.RawMessage(`{"done":true}`)
	e.register("stuck", h.run)
	e.register("k", noop)
	j := e.submit(store.NewJob{Kind: "stuck", MaxAttempts: 3})
	p, _ := e.start(jobs.PoolOptions{Workers: 1, StallTimeout: -1, ShutdownGrace: 30 * time.Millisecond,
		Limits: map[string]int{"stuck": 1}})
	for h.starts.Load() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := e.store.CancelJob(context.Background(), j.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	p.CheckCancel(j.ID)
	got := e.waitTerminal(j.ID)
	if got.Status != store.StatusCancelled || got.Attempts != 1 {
		t.Errorf("job = %s after %d attempts (error %q), want cancelled after 1", got.Status, got.Attempts, got.Error)
	}
	if !e.waitLogged("cancelled job handler ignored cancellation: abandoned", j.ID) {
		t.Errorf("abandonment not logged; warnings: %q", e.warnings(j.ID))
	}
	k := e.submit(store.NewJob{Kind: "k"})
	p.Notify()
	e.waitStatus(k.ID, store.StatusCompleted)
	// The handler returns success at last: the job stays cancelled.
	h.free()
	again := e.submit(store.NewJob{Kind: "stuck", MaxAttempts: 1})
	p.Notify()
	e.waitStatus(again.ID, store.StatusCompleted) // the kind's slot is free: the old handler returned
	if got := e.job(j.ID); got.Status != store.StatusCancelled || len(got.Result) != 0 {
		t.Errorf("after its handler returned, job = %s (result %s), want cancelled", got.Status, got.Result)
	}
}

// TestCancelledJobEndsCancelledWhateverHandlerReturns: a handler that
// returns success once cancelled by its user does not complete the job.
func TestCancelledJobEndsCancelledWhateverHandlerReturns(t *testing.T) {
	e := newEnv(t)
	started := make(chan struct{}, 1)
	e.register("k", func(ctx context.Context, _ store.Job, _ jobs.Progress) (json.RawMessage, error) {
		started <- struct{}{}
		<-ctx.Done()
		return json.RawMessage(`{"done":true}`), nil
	})
	j := e.submit(store.NewJob{Kind: "k", MaxAttempts: 3})
	p, _ := e.start(jobs.PoolOptions{Workers: 1})
	<-started
	if _, err := e.store.CancelJob(context.Background(), j.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	p.CheckCancel(j.ID)
	if got := e.waitTerminal(j.ID); got.Status != store.StatusCancelled || len(got.Result) != 0 {
		t.Errorf("job = %s (result %s), want cancelled", got.Status, got.Result)
	}
}
