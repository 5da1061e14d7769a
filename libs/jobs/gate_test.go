package jobs_test

import (
	"context"
	"encoding/json"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vpo-project/vpo/libs/jobs"
	"github.com/vpo-project/vpo/libs/store"
)

// span is a processing window open from `from` (inclusive) until `until`
// (exclusive), and again at the same times every following day; with a
// zero until it stays open for ever once open.
type span struct{ from, until time.Time }

const day = 24 * time.Hour

func (w span) Open(t time.Time) bool {
	d := t.Sub(w.from)
	if d < 0 {
		return false
	}
	return w.until.IsZero() || d%day < w.until.Sub(w.from)
}

func (w span) NextOpen(t time.Time) time.Time {
	switch d := t.Sub(w.from); {
	case w.Open(t):
		return t
	case d < 0:
		return w.from
	default:
		return w.from.Add((d/day + 1) * day)
	}
}

// fakeClock is a clock the test moves.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *fakeClock) now() time.Time               { return time.Unix(0, c.ns.Load()) }
func (c *fakeClock) add(d time.Duration)          { c.ns.Add(int64(d)) }
func (c *fakeClock) at(d time.Duration) time.Time { return c.now().Add(d) }

// quiet gives a pool that claims nothing the time of several polls to
// claim something anyway (an absence cannot be waited for).
func quiet() { time.Sleep(150 * time.Millisecond) }

// TestPausedPoolClaimsNothingUntilResume: a pool paused before it runs
// (a pause restored at start) makes no claim at all, even when notified;
// Resume wakes it (its poll interval is an hour: only Resume can).
func TestPausedPoolClaimsNothingUntilResume(t *testing.T) {
	e := newEnv(t)
	e.register("k", noop)
	j := e.submit(store.NewJob{Kind: "k"})
	q := &claimRecorder{Store: e.store}
	p := jobs.NewPool(q, e.reg, jobs.PoolOptions{Workers: 2, PollInterval: time.Hour, Log: e.log})
	p.Pause(false)
	if paused, drain := p.Paused(); !paused || drain {
		t.Fatalf("Paused() = %v, %v after Pause(false), want true, false", paused, drain)
	}
	go func() { _ = p.Run(context.Background()) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = p.Shutdown(ctx)
	})
	<-p.Started()
	p.Notify()
	quiet()
	if n := len(q.claims()); n != 0 {
		t.Fatalf("a paused pool made %d claims, want none", n)
	}
	if got := e.job(j.ID); got.Status != store.StatusQueued || got.Attempts != 0 {
		t.Fatalf("job = %s (attempts %d) while paused, want queued", got.Status, got.Attempts)
	}
	p.Resume()
	if paused, _ := p.Paused(); paused {
		t.Error("Paused() = true after Resume")
	}
	if got := e.waitStatus(j.ID, store.StatusCompleted); got.Attempts != 1 {
		t.Errorf("job completed after %d attempts, want 1", got.Attempts)
	}
	resumed := false
	for _, en := range e.hook.AllEntries() {
		resumed = resumed || en.Message == "queue resumed: claiming jobs again"
	}
	if !resumed {
		t.Error("no log line about the resume")
	}
}

// TestPauseWithoutDrainRequeuesRunningJobs: running jobs are interrupted
// and requeued without spending an attempt, as at shutdown; after Resume
// they run again, their attempt count as if the interrupted run had never
// happened.
func TestPauseWithoutDrainRequeuesRunningJobs(t *testing.T) {
	e := newEnv(t)
	started := make(chan string, 4)
	cancelled := make(chan string, 4)
	var runs atomic.Int64
	e.register("slow", func(ctx context.Context, j store.Job, _ jobs.Progress) (json.RawMessage, error) {
		if runs.Add(1) > 2 {
			return nil, nil // the runs after the resume complete
		}
		started <- j.ID
		<-ctx.Done()
		cancelled <- j.ID
		return nil, ctx.Err()
	})
	a := e.submit(store.NewJob{Kind: "slow", MaxAttempts: 1})
	b := e.submit(store.NewJob{Kind: "slow", MaxAttempts: 1})
	p, _ := e.start(jobs.PoolOptions{Workers: 2})
	<-started
	<-started
	p.Pause(false)
	for _, id := range []string{a.ID, b.ID} {
		got := e.waitStatus(id, store.StatusQueued)
		if got.Attempts != 0 || got.Error != "" {
			t.Errorf("job %s after the pause: attempts %d, error %q; want requeued with no attempt spent", id, got.Attempts, got.Error)
		}
		if !e.waitLogged("job interrupted by a pause of the queue, requeued", id) {
			t.Errorf("no log line about the interruption of %s", id)
		}
	}
	// The job is requeued as its handler is cancelled, not after the
	// handler returned: wait for both handlers to see it.
	for i := range 2 {
		select {
		case <-cancelled:
		case <-time.After(10 * time.Second):
			t.Fatalf("%d handlers saw their context cancelled within 10s, want 2", i)
		}
	}
	p.Resume()
	for _, id := range []string{a.ID, b.ID} {
		// MaxAttempts 1: a spent attempt would have failed the job.
		if got := e.waitStatus(id, store.StatusCompleted); got.Attempts != 1 {
			t.Errorf("job %s completed after %d attempts, want 1", id, got.Attempts)
		}
	}
}

// TestPauseWithDrainLetsRunningJobsFinish: with drain the running job
// ends normally, the queued one is not claimed; Paused reports the drain.
func TestPauseWithDrainLetsRunningJobsFinish(t *testing.T) {
	e := newEnv(t)
	g := newGate()
	e.register("k", g.run)
	first := e.submit(store.NewJob{Kind: "k"})
	p, _ := e.start(jobs.PoolOptions{Workers: 2})
	<-g.started
	p.Pause(true)
	if paused, drain := p.Paused(); !paused || !drain {
		t.Fatalf("Paused() = %v, %v after Pause(true), want true, true", paused, drain)
	}
	second := e.submit(store.NewJob{Kind: "k"})
	p.Notify()
	quiet()
	if got := e.job(first.ID); got.Status != store.StatusRunning {
		t.Fatalf("running job = %s after a drain pause, want still running", got.Status)
	}
	close(g.released)
	if got := e.waitStatus(first.ID, store.StatusCompleted); got.Attempts != 1 {
		t.Errorf("drained job completed after %d attempts, want 1", got.Attempts)
	}
	quiet()
	if got := e.job(second.ID); got.Status != store.StatusQueued || got.Attempts != 0 {
		t.Fatalf("job queued during the pause = %s (attempts %d), want queued", got.Status, got.Attempts)
	}
	if p.Active() != 0 {
		t.Errorf("Active() = %d once drained, want 0", p.Active())
	}
	p.Resume()
	e.waitStatus(second.ID, store.StatusCompleted)
}

// TestPauseWithoutDrainAfterDrain: a drain that takes too long is turned
// into a pause that interrupts what still runs.
func TestPauseWithoutDrainAfterDrain(t *testing.T) {
	e := newEnv(t)
	started := make(chan string, 1)
	e.register("slow", blockOnCtx(started))
	j := e.submit(store.NewJob{Kind: "slow"})
	p, _ := e.start(jobs.PoolOptions{Workers: 1})
	<-started
	p.Pause(true)
	quiet()
	if got := e.job(j.ID); got.Status != store.StatusRunning {
		t.Fatalf("job = %s during a drain, want running", got.Status)
	}
	p.Pause(false)
	if got := e.waitStatus(j.ID, store.StatusQueued); got.Attempts != 0 {
		t.Errorf("requeued job has %d attempts, want 0", got.Attempts)
	}
}

// TestClosedWindowHoldsScheduledKinds: while the window is closed, queued
// jobs of the scheduled kinds stay queued and other kinds run; a job of a
// scheduled kind that runs when the window closes goes on to its end; the
// held jobs run once the clock reaches the window.
func TestClosedWindowHoldsScheduledKinds(t *testing.T) {
	e := newEnv(t)
	clock := newFakeClock()
	g := newGate()
	e.register("apply", g.run)
	e.register("scan", noop)
	running := e.submit(store.NewJob{Kind: "apply"})
	q := &claimRecorder{Store: e.store}
	p := jobs.NewPool(q, e.reg, jobs.PoolOptions{Workers: 3, Now: clock.now, Lease: time.Hour,
		PollInterval: 20 * time.Millisecond, Log: e.log})
	p.SetWindow(span{from: clock.at(-time.Hour), until: clock.at(time.Hour)}, []string{"apply"})
	go func() { _ = p.Run(context.Background()) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = p.Shutdown(ctx)
	})
	<-g.started // in the window

	clock.add(2 * time.Hour) // the window closed; it opens again at its "tomorrow"
	// A claim that began before the window closed may still take an apply
	// job: wait for one that began after (it leaves apply out).
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		c := q.claims()
		if len(c) > 0 && !slices.Contains(c[len(c)-1], "apply") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no claim without apply after the window closed: %v", c)
		}
	}
	if open, next := p.WindowOpen(); open || !next.Equal(clock.at(21*time.Hour)) {
		t.Fatalf("WindowOpen() = %v, %v; want closed, opening at %v", open, next, clock.at(21*time.Hour))
	}
	held := e.submit(store.NewJob{Kind: "apply"})
	scan := e.submit(store.NewJob{Kind: "scan"})
	p.Notify()
	e.waitStatus(scan.ID, store.StatusCompleted)
	quiet()
	if got := e.job(held.ID); got.Status != store.StatusQueued || got.Attempts != 0 {
		t.Fatalf("apply job queued outside the window = %s (attempts %d), want queued", got.Status, got.Attempts)
	}
	if got := e.job(running.ID); got.Status != store.StatusRunning {
		t.Fatalf("apply job that ran when the window closed = %s, want still running", got.Status)
	}
	close(g.released)
	e.waitStatus(running.ID, store.StatusCompleted)

	clock.add(22 * time.Hour) // in tomorrow's window
	if open, next := p.WindowOpen(); !open || !next.IsZero() {
		t.Fatalf("WindowOpen() = %v, %v in the window, want open, zero", open, next)
	}
	if got := e.waitStatus(held.ID, store.StatusCompleted); got.Attempts != 1 {
		t.Errorf("held job completed after %d attempts, want 1", got.Attempts)
	}
}

// TestPoolWakesWhenWindowOpens: with an hour between polls, only the
// wake-up at NextOpen can start the held job; it never runs before the
// window opens.
func TestPoolWakesWhenWindowOpens(t *testing.T) {
	e := newEnv(t)
	ran := make(chan time.Time, 1)
	e.register("apply", func(context.Context, store.Job, jobs.Progress) (json.RawMessage, error) {
		ran <- time.Now()
		return nil, nil
	})
	j := e.submit(store.NewJob{Kind: "apply"})
	opens := time.Now().Add(300 * time.Millisecond)
	p := jobs.NewPool(e.store, e.reg, jobs.PoolOptions{Workers: 1, PollInterval: time.Hour, Log: e.log})
	p.SetWindow(span{from: opens}, []string{"apply"})
	if open, next := p.WindowOpen(); open || !next.Equal(opens) {
		t.Fatalf("WindowOpen() = %v, %v before the window, want closed, %v", open, next, opens)
	}
	go func() { _ = p.Run(context.Background()) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = p.Shutdown(ctx)
	})
	select {
	case at := <-ran:
		if at.Before(opens) {
			t.Errorf("held job ran at %v, before its window opened at %v", at, opens)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the pool did not wake when the window opened")
	}
	e.waitStatus(j.ID, store.StatusCompleted)
}

// TestWindowWithoutKindsOrNilIsOpen: SetWindow(nil, …) and a window that
// holds no kind leave every kind claimable.
func TestWindowWithoutKindsOrNilIsOpen(t *testing.T) {
	e := newEnv(t)
	e.register("apply", noop)
	clock := newFakeClock()
	closed := span{from: clock.at(time.Hour)}
	p, _ := e.start(jobs.PoolOptions{Workers: 1, Now: clock.now, Lease: time.Hour})
	p.SetWindow(closed, nil)
	if open, _ := p.WindowOpen(); !open {
		t.Error("a window holding no kind reports closed")
	}
	e.waitStatus(e.submit(store.NewJob{Kind: "apply"}).ID, store.StatusCompleted)
	p.SetWindow(closed, []string{"apply"})
	p.SetWindow(nil, []string{"apply"})
	if open, _ := p.WindowOpen(); !open {
		t.Error("a nil window reports closed")
	}
	j := e.submit(store.NewJob{Kind: "apply"})
	p.Notify()
	e.waitStatus(j.ID, store.StatusCompleted)
}

// TestPausedClaimIsGivenBack: a job claimed by a pool that was paused
// during its claim goes back to the queue untouched (the claim itself is
// made to race the pause by a queue that pauses the pool while claiming).
func TestPausedClaimIsGivenBack(t *testing.T) {
	e := newEnv(t)
	var runs atomic.Int64
	e.register("k", func(context.Context, store.Job, jobs.Progress) (json.RawMessage, error) {
		runs.Add(1)
		return nil, nil
	})
	j := e.submit(store.NewJob{Kind: "k", MaxAttempts: 1})
	q := &pausingClaimer{Store: e.store}
	p := jobs.NewPool(q, e.reg, jobs.PoolOptions{Workers: 1, PollInterval: 20 * time.Millisecond, Log: e.log})
	q.pool = p
	go func() { _ = p.Run(context.Background()) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = p.Shutdown(ctx)
	})
	if !e.waitLogged("job interrupted by a pause of the queue, requeued", j.ID) {
		t.Fatal("the job claimed during the pause was not given back")
	}
	if got := e.job(j.ID); got.Status != store.StatusQueued || got.Attempts != 0 {
		t.Fatalf("job = %s (attempts %d), want queued, untouched", got.Status, got.Attempts)
	}
	if runs.Load() != 0 {
		t.Errorf("handler ran %d times during the pause", runs.Load())
	}
	p.Resume()
	e.waitStatus(j.ID, store.StatusCompleted)
}

// pausingClaimer is the store; its first claim pauses the pool, as a
// pause arriving during a claim would.
type pausingClaimer struct {
	*store.Store
	pool  *jobs.Pool
	fired atomic.Bool
}

func (q *pausingClaimer) ClaimJob(ctx context.Context, owner string, kinds []string, lease time.Duration, now time.Time) (store.Job, bool, error) {
	j, ok, err := q.Store.ClaimJob(ctx, owner, kinds, lease, now)
	if ok && !q.fired.Swap(true) {
		q.pool.Pause(true)
	}
	return j, ok, err
}
