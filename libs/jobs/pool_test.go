package jobs_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/vpo-project/vpo/libs/jobs"
	"github.com/vpo-project/vpo/libs/store"
)

type env struct {
	t     *testing.T
	store *store.Store
	reg   *jobs.Registry
	hook  *logtest.Hook
	log   *logrus.Entry
}

func newEnv(t *testing.T) *env {
	t.Helper()
	s, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "vpo.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	logger, hook := logtest.NewNullLogger()
	logger.SetLevel(logrus.DebugLevel)
	return &env{t: t, store: s, reg: jobs.NewRegistry(), hook: hook, log: logrus.NewEntry(logger)}
}

func (e *env) register(kind string, f jobs.HandlerFunc) {
	e.t.Helper()
	if err := e.reg.Register(kind, f); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) submit(nj store.NewJob) store.Job {
	e.t.Helper()
	j, err := e.store.CreateJob(context.Background(), nj)
	if err != nil {
		e.t.Fatal(err)
	}
	return j
}

// start runs a pool; the test's cleanup shuts it down.
func (e *env) start(opts jobs.PoolOptions) (*jobs.Pool, <-chan error) {
	e.t.Helper()
	if opts.Lease == 0 {
		opts.Lease = 300 * time.Millisecond
	}
	if opts.PollInterval == 0 {
		opts.PollInterval = 20 * time.Millisecond
	}
	opts.Log = e.log
	p := jobs.NewPool(e.store, e.reg, opts)
	errc := make(chan error, 1)
	go func() { errc <- p.Run(context.Background()) }()
	e.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = p.Shutdown(ctx)
	})
	return p, errc
}

func (e *env) job(id string) store.Job {
	e.t.Helper()
	j, err := e.store.GetJob(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return j
}

// waitStatus waits (bounded generously) until the job has status.
func (e *env) waitStatus(id, status string) store.Job {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		j := e.job(id)
		if j.Status == status {
			return j
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("job %s is %s (attempts %d, error %q), want %s", id, j.Status, j.Attempts, j.Error, status)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (e *env) logged(msg, jobID string) bool {
	for _, en := range e.hook.AllEntries() {
		if en.Message == msg && en.Data["job_id"] == jobID {
			return true
		}
	}
	return false
}

// waitLogged waits (bounded generously) for a log line with msg and
// job_id, for lines logged after a write the test has already seen.
func (e *env) waitLogged(msg, jobID string) bool {
	deadline := time.Now().Add(10 * time.Second)
	for !e.logged(msg, jobID) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

func noop(context.Context, store.Job, jobs.Progress) (json.RawMessage, error) { return nil, nil }

func blockOnCtx(started chan<- string) jobs.HandlerFunc {
	return func(ctx context.Context, j store.Job, _ jobs.Progress) (json.RawMessage, error) {
		started <- j.ID
		<-ctx.Done()
		return nil, ctx.Err()
	}
}

func TestPoolRunsJobsToCompletion(t *testing.T) {
	e := newEnv(t)
	var calls atomic.Int64
	e.register("echo", func(_ context.Context, j store.Job, p jobs.Progress) (json.RawMessage, error) {
		calls.Add(1)
		p.Report(50, "half")
		return j.Payload, nil
	})
	var ids []string
	for i := 0; i < 40; i++ {
		ids = append(ids, e.submit(store.NewJob{Kind: "echo", Payload: json.RawMessage(fmt.Sprintf(`{"n":%d}`, i))}).ID)
	}
	p, _ := e.start(jobs.PoolOptions{Workers: 4})
	if p.Workers() != 4 {
		t.Errorf("Workers() = %d", p.Workers())
	}
	for i, id := range ids {
		j := e.waitStatus(id, store.StatusCompleted)
		if string(j.Result) != fmt.Sprintf(`{"n":%d}`, i) || j.Attempts != 1 || j.ProgressPercent != 100 {
			t.Errorf("job %d = %+v", i, j)
		}
	}
	if calls.Load() != 40 {
		t.Errorf("handler called %d times, want 40", calls.Load())
	}
	if !p.Running() {
		t.Error("Running() = false while running")
	}
}

func TestPriorityOrderWithOneWorker(t *testing.T) {
	e := newEnv(t)
	var mu sync.Mutex
	var order []string
	e.register("k", func(_ context.Context, j store.Job, _ jobs.Progress) (json.RawMessage, error) {
		mu.Lock()
		order = append(order, j.ID)
		mu.Unlock()
		return nil, nil
	})
	prios := []int{500, 10, 500, 0, 10}
	var ids []string
	for _, pr := range prios {
		ids = append(ids, e.submit(store.NewJob{Kind: "k", Priority: pr}).ID)
	}
	e.start(jobs.PoolOptions{Workers: 1})
	for _, id := range ids {
		e.waitStatus(id, store.StatusCompleted)
	}
	want := []string{ids[3], ids[1], ids[4], ids[0], ids[2]}
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(order) != fmt.Sprint(want) {
		t.Errorf("run order %v\nwant %v", order, want)
	}
}

func TestCancelRunningJob(t *testing.T) {
	e := newEnv(t)
	started := make(chan string, 1)
	e.register("slow", blockOnCtx(started))
	j := e.submit(store.NewJob{Kind: "slow"})
	e.start(jobs.PoolOptions{Workers: 1, Lease: 150 * time.Millisecond})
	<-started
	if _, err := e.store.CancelJob(context.Background(), j.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	got := e.waitStatus(j.ID, store.StatusCancelled)
	if got.FinishedAt == nil || got.Attempts != 1 {
		t.Errorf("cancelled job = %+v", got)
	}
	// The line is logged just after the status is written.
	if !e.waitLogged("job cancelled", j.ID) {
		t.Error(`no "job cancelled" log line with job_id`)
	}
}

func TestCheckCancelActsBeforeLeaseRenewal(t *testing.T) {
	e := newEnv(t)
	started := make(chan string, 1)
	e.register("slow", blockOnCtx(started))
	j := e.submit(store.NewJob{Kind: "slow"})
	// Renewal every 20 minutes: only CheckCancel can make the worker look.
	p, _ := e.start(jobs.PoolOptions{Workers: 1, Lease: time.Hour})
	<-started
	if _, err := e.store.CancelJob(context.Background(), j.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	p.CheckCancel("no-such-job") // ignored
	p.CheckCancel(j.ID)
	if got := e.waitStatus(j.ID, store.StatusCancelled); got.Attempts != 1 {
		t.Errorf("cancelled job = %+v", got)
	}
}

func TestShutdownLetsFastJobFinish(t *testing.T) {
	e := newEnv(t)
	started := make(chan struct{})
	e.register("fast", func(context.Context, store.Job, jobs.Progress) (json.RawMessage, error) {
		close(started)
		time.Sleep(100 * time.Millisecond)
		return json.RawMessage(`"done"`), nil
	})
	j := e.submit(store.NewJob{Kind: "fast"})
	p, errc := e.start(jobs.PoolOptions{Workers: 1})
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-errc; err != nil {
		t.Errorf("Run: %v", err)
	}
	if got := e.job(j.ID); got.Status != store.StatusCompleted || string(got.Result) != `"done"` {
		t.Errorf("job after shutdown = %+v", got)
	}
	if p.Running() || p.Active() != 0 {
		t.Errorf("after shutdown: Running %v, Active %d", p.Running(), p.Active())
	}
}

func TestShutdownRequeuesSlowJob(t *testing.T) {
	e := newEnv(t)
	started := make(chan string, 1)
	e.register("slow", blockOnCtx(started))
	j := e.submit(store.NewJob{Kind: "slow"})
	other := e.submit(store.NewJob{Kind: "slow", Priority: 1})
	p, errc := e.start(jobs.PoolOptions{Workers: 1})
	<-started
	if p.Active() != 1 {
		t.Errorf("Active() = %d, want 1", p.Active())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := p.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-errc; err != nil {
		t.Errorf("Run: %v", err)
	}
	got := e.job(j.ID)
	if got.Status != store.StatusQueued || got.Attempts != 0 || got.LeaseOwner != "" {
		t.Errorf("interrupted job = %+v, want queued with 0 attempts", got)
	}
	if st := e.job(other.ID).Status; st != store.StatusQueued {
		t.Errorf("unstarted job is %s", st)
	}
	if !e.logged("job interrupted by shutdown, requeued", j.ID) {
		t.Error("no requeue log line with job_id")
	}
}

func TestShutdownAbandonsHandlerIgnoringCancellation(t *testing.T) {
	e := newEnv(t)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	started := make(chan struct{})
	e.register("stuck", func(context.Context, store.Job, jobs.Progress) (json.RawMessage, error) {
		close(started)
		<-release // ignores ctx
		return nil, nil
	})
	j := e.submit(store.NewJob{Kind: "stuck"})
	p, errc := e.start(jobs.PoolOptions{Workers: 1, ShutdownGrace: 100 * time.Millisecond})
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.Shutdown(ctx) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown blocked on a handler that ignores cancellation")
	}
	if err := <-errc; err != nil {
		t.Errorf("Run: %v", err)
	}
	if got := e.job(j.ID); got.Status != store.StatusQueued || got.Attempts != 0 {
		t.Errorf("job = %+v, want queued", got)
	}
	if !e.logged("job handler ignored cancellation: abandoned", j.ID) {
		t.Error("abandonment not logged")
	}
}

// TestWaitHandlersWaitsForAbandonedHandlers: after a Shutdown that
// abandoned a handler, WaitHandlers says it still runs until it returns.
func TestWaitHandlersWaitsForAbandonedHandlers(t *testing.T) {
	e := newEnv(t)
	release := make(chan struct{})
	released := false
	t.Cleanup(func() {
		if !released {
			close(release)
		}
	})
	started := make(chan struct{})
	e.register("stuck", func(context.Context, store.Job, jobs.Progress) (json.RawMessage, error) {
		close(started)
		<-release // ignores ctx
		return nil, nil
	})
	e.submit(store.NewJob{Kind: "stuck"})
	p, errc := e.start(jobs.PoolOptions{Workers: 1, ShutdownGrace: time.Millisecond})
	<-started
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the deadline is now
	if err := p.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-errc; err != nil {
		t.Errorf("Run: %v", err)
	}
	if p.WaitHandlers(ctx) {
		t.Error("WaitHandlers: all returned, but the abandoned handler still runs")
	}
	close(release)
	released = true
	if !p.WaitHandlers(context.Background()) {
		t.Error("WaitHandlers without a deadline did not wait")
	}
}

func TestRunContextCancelRequeues(t *testing.T) {
	e := newEnv(t)
	started := make(chan string, 1)
	e.register("slow", blockOnCtx(started))
	j := e.submit(store.NewJob{Kind: "slow"})
	p := jobs.NewPool(e.store, e.reg, jobs.PoolOptions{Workers: 1, Log: e.log})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- p.Run(ctx) }()
	<-started
	cancel()
	if err := <-errc; err != nil {
		t.Errorf("Run: %v", err)
	}
	if got := e.job(j.ID); got.Status != store.StatusQueued || got.Attempts != 0 {
		t.Errorf("job = %+v, want queued", got)
	}
}

func TestNotifyWakesIdlePool(t *testing.T) {
	e := newEnv(t)
	e.register("k", noop)
	p, _ := e.start(jobs.PoolOptions{Workers: 2, PollInterval: time.Hour})
	time.Sleep(50 * time.Millisecond) // let the pool find the queue empty and go idle
	j := e.submit(store.NewJob{Kind: "k"})
	time.Sleep(100 * time.Millisecond)
	if st := e.job(j.ID).Status; st != store.StatusQueued {
		t.Fatalf("job is %s before Notify; the idle pool should only wake on Notify", st)
	}
	p.Notify()
	e.waitStatus(j.ID, store.StatusCompleted)
}

func TestFailedJobRetriedUntilMaxAttempts(t *testing.T) {
	e := newEnv(t)
	var calls atomic.Int64
	e.register("bad", func(context.Context, store.Job, jobs.Progress) (json.RawMessage, error) {
		calls.Add(1)
		return nil, errors.New("probe failed")
	})
	j := e.submit(store.NewJob{Kind: "bad", MaxAttempts: 3})
	e.start(jobs.PoolOptions{Workers: 2})
	got := e.waitStatus(j.ID, store.StatusFailed)
	if got.Attempts != 3 || got.Error != "probe failed" || calls.Load() != 3 {
		t.Errorf("failed job = %+v after %d calls", got, calls.Load())
	}
}

func TestHandlerPanicFailsJob(t *testing.T) {
	e := newEnv(t)
	e.register("panic", func(context.Context, store.Job, jobs.Progress) (json.RawMessage, error) {
		panic("boom")
	})
	j := e.submit(store.NewJob{Kind: "panic", MaxAttempts: 1})
	e.start(jobs.PoolOptions{Workers: 1})
	if got := e.waitStatus(j.ID, store.StatusFailed); !strings.Contains(got.Error, "panicked: boom") {
		t.Errorf("error = %q", got.Error)
	}
}

func TestLogLinesCarryJobIDAndFilePath(t *testing.T) {
	e := newEnv(t)
	e.register("scan", noop)
	j := e.submit(store.NewJob{Kind: "scan", Payload: json.RawMessage(`{"path":"/media/a.mkv"}`)})
	e.start(jobs.PoolOptions{Workers: 1})
	e.waitStatus(j.ID, store.StatusCompleted)
	n := 0
	for _, en := range e.hook.AllEntries() {
		if en.Data["job_id"] == nil {
			continue
		}
		n++
		if en.Data["job_id"] != j.ID || en.Data["file_path"] != "/media/a.mkv" {
			t.Errorf("log line %q has fields %v", en.Message, en.Data)
		}
	}
	if n == 0 {
		t.Error("no log line about the job")
	}
}

func TestProgressIsStored(t *testing.T) {
	e := newEnv(t)
	finish := make(chan struct{})
	e.register("k", func(_ context.Context, _ store.Job, p jobs.Progress) (json.RawMessage, error) {
		p.Report(10, "starting")
		p.Report(42, "probing")
		<-finish
		return nil, nil
	})
	j := e.submit(store.NewJob{Kind: "k"})
	e.start(jobs.PoolOptions{Workers: 1, ProgressInterval: 10 * time.Millisecond})
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := e.job(j.ID)
		if got.ProgressPercent == 42 && got.ProgressMessage == "probing" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("progress = %v %q", got.ProgressPercent, got.ProgressMessage)
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(finish)
	e.waitStatus(j.ID, store.StatusCompleted)
}

func TestProgressETAIsStored(t *testing.T) {
	e := newEnv(t)
	finish := make(chan struct{})
	e.register("k", func(_ context.Context, _ store.Job, p jobs.Progress) (json.RawMessage, error) {
		p.ReportETA(42, "encoding", 70*time.Second)
		<-finish
		return nil, nil
	})
	j := e.submit(store.NewJob{Kind: "k"})
	e.start(jobs.PoolOptions{Workers: 1, ProgressInterval: 10 * time.Millisecond})
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := e.job(j.ID)
		if got.ETASeconds != nil && *got.ETASeconds == 70 && got.ProgressPercent == 42 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("progress = %v %q eta %v", got.ProgressPercent, got.ProgressMessage, got.ETASeconds)
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(finish)
	if got := e.waitStatus(j.ID, store.StatusCompleted); got.ETASeconds != nil {
		t.Errorf("completed job keeps eta %d", *got.ETASeconds)
	}
}

func TestLastProgressOfCompletedJobIsStored(t *testing.T) {
	e := newEnv(t)
	e.register("k", func(_ context.Context, _ store.Job, p jobs.Progress) (json.RawMessage, error) {
		p.Report(10, "first")
		time.Sleep(50 * time.Millisecond) // the first report is written at once
		p.Report(99, "last")              // within the interval: pending
		return nil, nil
	})
	j := e.submit(store.NewJob{Kind: "k"})
	e.start(jobs.PoolOptions{Workers: 1, ProgressInterval: time.Hour})
	if got := e.waitStatus(j.ID, store.StatusCompleted); got.ProgressMessage != "last" {
		t.Errorf("completed job's progress message = %q, want the last report %q", got.ProgressMessage, "last")
	}
}

func TestExpiredLeasesRecoveredAtStart(t *testing.T) {
	e := newEnv(t)
	e.register("k", noop)
	j := e.submit(store.NewJob{Kind: "k"})
	// A crashed worker claimed it an hour ago.
	if _, ok, err := e.store.ClaimJob(context.Background(), "dead", []string{"k"}, time.Minute, time.Now().Add(-time.Hour)); !ok || err != nil {
		t.Fatal(ok, err)
	}
	e.start(jobs.PoolOptions{Workers: 1, PollInterval: time.Hour})
	if got := e.waitStatus(j.ID, store.StatusCompleted); got.Attempts != 2 {
		t.Errorf("attempts = %d, want 2 (the lost attempt counts)", got.Attempts)
	}
}

func TestLostLeaseCancelsHandlerAndDiscardsOutcome(t *testing.T) {
	e := newEnv(t)
	var calls atomic.Int64
	cancelled := make(chan struct{})
	e.register("k", func(ctx context.Context, _ store.Job, _ jobs.Progress) (json.RawMessage, error) {
		if calls.Add(1) == 1 {
			<-ctx.Done()
			close(cancelled)
			return json.RawMessage(`"first"`), nil
		}
		return json.RawMessage(`"second"`), nil
	})
	j := e.submit(store.NewJob{Kind: "k"})
	rec := &recorder{}
	p, _ := e.start(jobs.PoolOptions{Workers: 1, Lease: 150 * time.Millisecond, RecoverInterval: time.Hour, Observer: rec})
	for calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	// Another node decides the lease expired (e.g. clock or partition).
	if rq, _, err := e.store.RecoverExpired(context.Background(), time.Now().Add(time.Hour)); rq != 1 || err != nil {
		t.Fatal(rq, err)
	}
	select {
	case <-cancelled:
	case <-time.After(10 * time.Second):
		t.Fatal("handler not cancelled after its lease was lost")
	}
	p.Notify()
	if got := e.waitStatus(j.ID, store.StatusCompleted); string(got.Result) != `"second"` || got.Attempts != 2 {
		t.Errorf("job = %+v", got)
	}
	// The lost run is a lease loss to the observer, not an outcome.
	want := []string{"claimed k", "lost k", "claimed k", "ended k completed"}
	deadline := time.Now().Add(10 * time.Second)
	for !slices.Equal(rec.got(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("observer told %q\nwant %q", rec.got(), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestSetWorkers(t *testing.T) {
	e := newEnv(t)
	release := make(chan struct{})
	var running atomic.Int64
	e.register("k", func(context.Context, store.Job, jobs.Progress) (json.RawMessage, error) {
		running.Add(1)
		<-release
		return nil, nil
	})
	var ids []string
	for i := 0; i < 4; i++ {
		ids = append(ids, e.submit(store.NewJob{Kind: "k"}).ID)
	}
	p, _ := e.start(jobs.PoolOptions{Workers: 1})
	for running.Load() != 1 {
		time.Sleep(time.Millisecond)
	}
	p.SetWorkers(3)
	for running.Load() != 3 {
		time.Sleep(time.Millisecond)
	}
	if p.Active() != 3 || p.Workers() != 3 {
		t.Errorf("Active %d Workers %d", p.Active(), p.Workers())
	}
	close(release)
	for _, id := range ids {
		e.waitStatus(id, store.StatusCompleted)
	}
}

func TestShutdownBeforeRun(t *testing.T) {
	e := newEnv(t)
	p := jobs.NewPool(e.store, e.reg, jobs.PoolOptions{})
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Started():
		t.Fatal("Started closed although Run never started")
	default:
	}
}

func TestStartedClosesWhenRunStarts(t *testing.T) {
	e := newEnv(t)
	p := jobs.NewPool(e.store, e.reg, jobs.PoolOptions{})
	select {
	case <-p.Started():
		t.Fatal("Started closed before Run")
	default:
	}
	go func() { _ = p.Run(context.Background()) }()
	select {
	case <-p.Started():
	case <-time.After(10 * time.Second):
		t.Fatal("Started not closed after Run began")
	}
	if !p.Running() {
		t.Error("Running() = false after Started")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestRegistry(t *testing.T) {
	r := jobs.NewRegistry()
	h := jobs.HandlerFunc(noop)
	for _, tc := range []struct {
		kind    string
		h       jobs.Handler
		wantErr bool
	}{
		{"scan", h, false},
		{"apply", h, false},
		{"scan", h, true},
		{"", h, true},
		{"x", nil, true},
	} {
		if err := r.Register(tc.kind, tc.h); (err != nil) != tc.wantErr {
			t.Errorf("Register(%q) = %v, want error %v", tc.kind, err, tc.wantErr)
		}
	}
	if got := fmt.Sprint(r.Kinds()); got != "[apply scan]" {
		t.Errorf("Kinds() = %s", got)
	}
	if _, ok := r.Lookup("scan"); !ok {
		t.Error("Lookup(scan) failed")
	}
	if _, ok := r.Lookup("x"); ok {
		t.Error("Lookup(x) succeeded")
	}
}

// TestReclaimedJobStopsStaleRun: the job's lease is recovered (by another
// process: this pool renews its own leases before it recovers expired
// ones) and the same pool claims the job again while the first run's
// handler is still going. The first run must be told at once (its context
// is cancelled, its result discarded, one warning logged with the job id),
// and the new run must not start its handler before the old one returned:
// a job never has two handlers running at once in one process.
func TestReclaimedJobStopsStaleRun(t *testing.T) {
	e := newEnv(t)
	type run struct {
		ctx     context.Context
		release chan struct{}
	}
	runs := make(chan run, 4)
	var live, maxLive atomic.Int64
	e.register("k", func(ctx context.Context, j store.Job, _ jobs.Progress) (json.RawMessage, error) {
		n := live.Add(1)
		defer live.Add(-1)
		for m := maxLive.Load(); n > m && !maxLive.CompareAndSwap(m, n); m = maxLive.Load() {
		}
		r := run{ctx: ctx, release: make(chan struct{})}
		runs <- r
		<-r.release // finishes its work whatever its context says
		return json.RawMessage(fmt.Sprintf(`{"attempt":%d}`, j.Attempts)), nil
	})
	nextRun := func(what string) run {
		t.Helper()
		select {
		case r := <-runs:
			return r
		case <-time.After(10 * time.Second):
			t.Fatalf("no %s run started", what)
			return run{}
		}
	}
	j := e.submit(store.NewJob{Kind: "k"})
	// In real time the lease never needs renewing during the test.
	e.start(jobs.PoolOptions{Workers: 2, Lease: time.Minute, RecoverInterval: 10 * time.Millisecond})
	first := nextRun("first")

	// Another process finds the lease expired (its clock is an hour ahead)
	// and recovers the job; this pool claims it again.
	if rq, _, err := e.store.RecoverExpired(context.Background(), time.Now().Add(time.Hour)); rq != 1 || err != nil {
		t.Fatalf("recover = %d, %v; want the job requeued", rq, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for got := e.job(j.ID); got.Status != store.StatusRunning || got.Attempts != 2; got = e.job(j.ID) {
		if time.Now().After(deadline) {
			t.Fatalf("job = %s, attempts %d; want claimed again (running, attempt 2)", got.Status, got.Attempts)
		}
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case <-first.ctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the stale run's context was not cancelled when its job was claimed again")
	}
	// The new claim's handler waits for the stale one.
	select {
	case <-runs:
		t.Fatal("the handler of the new claim started while the stale run's handler was still running")
	case <-time.After(300 * time.Millisecond):
	}
	close(first.release)
	second := nextRun("second")
	for !e.logged("job handler returned after its lease was lost: outcome discarded", j.ID) {
		if time.Now().After(deadline) {
			t.Fatal("the stale run's outcome was not discarded")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := e.job(j.ID); got.Status != store.StatusRunning || got.Result != nil {
		t.Fatalf("after the stale run returned, job = %+v; want still running under the new claim", got)
	}
	if second.ctx.Err() != nil {
		t.Fatal("the current run was cancelled")
	}
	close(second.release)
	if got := e.waitStatus(j.ID, store.StatusCompleted); string(got.Result) != `{"attempt":2}` || got.Attempts != 2 {
		t.Errorf("job = %s (result %s, attempts %d); want completed by the second run", got.Status, got.Result, got.Attempts)
	}
	if m := maxLive.Load(); m != 1 {
		t.Errorf("up to %d handlers of the job ran at once, want 1", m)
	}
	var warnings []string
	for _, en := range e.hook.AllEntries() {
		if en.Level <= logrus.WarnLevel && en.Data["job_id"] == j.ID {
			warnings = append(warnings, en.Message)
		}
	}
	if len(warnings) != 1 {
		t.Errorf("warnings about job %s: %q; want exactly one", j.ID, warnings)
	}
}

// recoveryCounter is the store, counting the recoveries of expired leases
// that ended.
type recoveryCounter struct {
	*store.Store
	recoveries atomic.Int64
}

func (q *recoveryCounter) RecoverExpired(ctx context.Context, now time.Time, keep ...string) (int, int, error) {
	defer q.recoveries.Add(1)
	return q.Store.RecoverExpired(ctx, now, keep...)
}

// TestPausedPoolKeepsItsOwnJobs: the process is paused for longer than the
// lease (the injected clock jumps past it) while a job runs. The recovery
// of expired leases that follows must not take back the pool's own live
// job: the pool renews its own leases first, so the job keeps running
// under its first claim, with its attempt count unchanged.
func TestPausedPoolKeepsItsOwnJobs(t *testing.T) {
	e := newEnv(t)
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	started := make(chan context.Context, 4)
	release := make(chan struct{})
	e.register("k", func(ctx context.Context, j store.Job, _ jobs.Progress) (json.RawMessage, error) {
		started <- ctx
		<-release
		return nil, ctx.Err()
	})
	j := e.submit(store.NewJob{Kind: "k", MaxAttempts: 5})
	q := &recoveryCounter{Store: e.store}
	p := jobs.NewPool(q, e.reg, jobs.PoolOptions{Workers: 2, Lease: time.Minute, RecoverInterval: 10 * time.Millisecond,
		PollInterval: 10 * time.Millisecond, Now: now, Log: e.log})
	go func() { _ = p.Run(context.Background()) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = p.Shutdown(ctx)
	})
	var ctx context.Context
	select {
	case ctx = <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the job did not start")
	}

	clock.Add(int64(2 * time.Minute)) // woken up after a long pause
	woke := clock.Load()
	// Two recoveries that began after the wake-up have ended.
	n := q.recoveries.Load()
	deadline := time.Now().Add(10 * time.Second)
	for q.recoveries.Load() < n+2 {
		if time.Now().After(deadline) {
			t.Fatal("no recovery of expired leases ran")
		}
		time.Sleep(5 * time.Millisecond)
	}
	got := e.job(j.ID)
	if got.Status != store.StatusRunning || got.Attempts != 1 || got.LeaseToken != 1 ||
		got.LeaseExpiresAt == nil || !got.LeaseExpiresAt.After(time.Unix(0, woke)) {
		t.Fatalf("after the pause and a recovery, job = %s, attempts %d, token %d, lease until %v (error %q); "+
			"want still running under its first claim, renewed past the wake-up", got.Status, got.Attempts,
			got.LeaseToken, got.LeaseExpiresAt, got.Error)
	}
	if ctx.Err() != nil {
		t.Fatalf("the running handler was cancelled: %v", context.Cause(ctx))
	}
	select {
	case <-started:
		t.Fatal("the job was started again")
	default:
	}
	close(release)
	if got := e.waitStatus(j.ID, store.StatusCompleted); got.Attempts != 1 {
		t.Errorf("job completed after %d attempts, want 1", got.Attempts)
	}
}

// TestPoolLeavesUnregisteredKindsQueued: a job of a kind this pool has no
// handler for (queued by a newer version, or a kind switched off) is never
// claimed: it stays queued with no attempt used, and other jobs still run.
func TestPoolLeavesUnregisteredKindsQueued(t *testing.T) {
	e := newEnv(t)
	e.register("k", noop)
	unknown := e.submit(store.NewJob{Kind: "newer.kind"}) // first in line
	var ks []string
	for range 3 {
		ks = append(ks, e.submit(store.NewJob{Kind: "k", Priority: 1}).ID)
	}
	p, _ := e.start(jobs.PoolOptions{Workers: 2})
	for _, id := range ks {
		e.waitStatus(id, store.StatusCompleted)
	}
	p.Notify()
	last := e.submit(store.NewJob{Kind: "k", Priority: 1})
	p.Notify()
	e.waitStatus(last.ID, store.StatusCompleted)
	if got := e.job(unknown.ID); got.Status != store.StatusQueued || got.Attempts != 0 || got.Error != "" || got.LeaseOwner != "" {
		t.Errorf("job of an unregistered kind = %s, attempts %d, error %q, owner %q; want queued and untouched",
			got.Status, got.Attempts, got.Error, got.LeaseOwner)
	}
}

// slowCompleter is the store, whose CompleteJob waits for release: the
// outcome of a run is being written.
type slowCompleter struct {
	recoveryCounter
	completing chan struct{}
	release    chan struct{}
}

func (q *slowCompleter) CompleteJob(ctx context.Context, l store.Lease, result json.RawMessage, now time.Time) error {
	close(q.completing)
	<-q.release
	return q.Store.CompleteJob(ctx, l, result, now)
}

// TestPausedPoolKeepsTheJobItIsFinishing: the handler returned and the
// pool writes the job's outcome when the process wakes from a pause
// longer than the lease. That run no longer renews its lease, but the
// recovery of expired leases must still leave the job to the pool: it
// completes with its first attempt instead of being requeued and run
// again.
func TestPausedPoolKeepsTheJobItIsFinishing(t *testing.T) {
	e := newEnv(t)
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	e.register("k", func(context.Context, store.Job, jobs.Progress) (json.RawMessage, error) { return nil, nil })
	j := e.submit(store.NewJob{Kind: "k", MaxAttempts: 5})
	q := &slowCompleter{recoveryCounter: recoveryCounter{Store: e.store}, completing: make(chan struct{}), release: make(chan struct{})}
	p := jobs.NewPool(q, e.reg, jobs.PoolOptions{Workers: 1, Lease: time.Minute, RecoverInterval: 10 * time.Millisecond,
		PollInterval: 10 * time.Millisecond, Now: now, Log: e.log})
	go func() { _ = p.Run(context.Background()) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = p.Shutdown(ctx)
	})
	select {
	case <-q.completing:
	case <-time.After(10 * time.Second):
		t.Fatal("the job's outcome was not written")
	}
	clock.Add(int64(2 * time.Minute)) // woken up after a long pause
	n := q.recoveries.Load()
	deadline := time.Now().Add(10 * time.Second)
	for q.recoveries.Load() < n+2 {
		if time.Now().After(deadline) {
			t.Fatal("no recovery of expired leases ran")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := e.job(j.ID); got.Status != store.StatusRunning || got.Attempts != 1 {
		t.Fatalf("while its outcome is written after the pause, job = %s, attempts %d (error %q); want still running under its first claim",
			got.Status, got.Attempts, got.Error)
	}
	close(q.release)
	if got := e.waitStatus(j.ID, store.StatusCompleted); got.Attempts != 1 {
		t.Errorf("job completed after %d attempts, want 1", got.Attempts)
	}
}
