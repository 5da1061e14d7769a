package jobs_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vpo-project/vpo/libs/jobs"
	"github.com/vpo-project/vpo/libs/store"
)

// gate is a handler that records how many jobs of its kind run at once
// and blocks each until released.
type gate struct {
	mu       sync.Mutex
	live     int
	maxLive  int
	started  chan string
	released chan struct{}
}

func newGate() *gate {
	return &gate{started: make(chan string, 16), released: make(chan struct{})}
}

func (g *gate) run(ctx context.Context, j store.Job, _ jobs.Progress) (json.RawMessage, error) {
	g.mu.Lock()
	g.live++
	g.maxLive = max(g.maxLive, g.live)
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		g.live--
		g.mu.Unlock()
	}()
	g.started <- j.ID
	select {
	case <-g.released:
		return nil, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (g *gate) max() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.maxLive
}

// TestKindLimitLeavesWorkersToOtherKinds: two workers, transcode limited
// to 1, two transcode jobs queued before a scan: one transcode and the
// scan run; the second transcode waits for the first.
func TestKindLimitLeavesWorkersToOtherKinds(t *testing.T) {
	e := newEnv(t)
	tr := newGate()
	e.register("transcode", tr.run)
	e.register("scan", noop)
	t1 := e.submit(store.NewJob{Kind: "transcode"})
	t2 := e.submit(store.NewJob{Kind: "transcode"})
	scan := e.submit(store.NewJob{Kind: "scan", Priority: 1}) // after both transcodes
	p, _ := e.start(jobs.PoolOptions{Workers: 2, Limits: map[string]int{"transcode": 1}})
	first := <-tr.started
	if first != t1.ID {
		t.Errorf("first transcode run = %s, want %s", first, t1.ID)
	}
	e.waitStatus(scan.ID, store.StatusCompleted)
	if got := e.job(t2.ID); got.Status != store.StatusQueued || got.Attempts != 0 {
		t.Errorf("second transcode = %s (attempts %d) while the first runs, want queued", got.Status, got.Attempts)
	}
	if fmt.Sprint(p.Limits()) != "map[transcode:1]" {
		t.Errorf("Limits() = %v", p.Limits())
	}
	close(tr.released)
	e.waitStatus(t1.ID, store.StatusCompleted)
	e.waitStatus(t2.ID, store.StatusCompleted)
	if m := tr.max(); m != 1 {
		t.Errorf("%d transcode jobs ran at once, limit 1", m)
	}
}

func TestSetLimitsLive(t *testing.T) {
	e := newEnv(t)
	tr := newGate()
	e.register("transcode", tr.run)
	a := e.submit(store.NewJob{Kind: "transcode"})
	b := e.submit(store.NewJob{Kind: "transcode"})
	p, _ := e.start(jobs.PoolOptions{Workers: 2, Limits: map[string]int{"transcode": 1}})
	<-tr.started
	if got := e.job(b.ID); got.Status != store.StatusQueued {
		t.Fatalf("second job = %s, want queued under the limit", got.Status)
	}
	p.SetLimits(nil) // no limit: the free worker takes the second job
	select {
	case <-tr.started:
	case <-time.After(10 * time.Second):
		t.Fatal("raising the limit did not start the waiting job")
	}
	if m := tr.max(); m != 2 {
		t.Errorf("%d jobs ran at once after the limit was lifted, want 2", m)
	}
	close(tr.released)
	e.waitStatus(a.ID, store.StatusCompleted)
	e.waitStatus(b.ID, store.StatusCompleted)
}

// claimRecorder is the store, recording the kinds of each claim.
type claimRecorder struct {
	*store.Store
	mu    sync.Mutex
	kinds [][]string
}

func (q *claimRecorder) ClaimJob(ctx context.Context, owner string, kinds []string, lease time.Duration, now time.Time) (store.Job, bool, error) {
	q.mu.Lock()
	q.kinds = append(q.kinds, slices.Clone(kinds))
	q.mu.Unlock()
	return q.Store.ClaimJob(ctx, owner, kinds, lease, now)
}

func (q *claimRecorder) claims() [][]string {
	q.mu.Lock()
	defer q.mu.Unlock()
	return slices.Clone(q.kinds)
}

// TestKindAtLimitIsNotClaimed: while a kind is at its limit the pool's
// claims leave it out; when every kind is at its limit it claims nothing.
func TestKindAtLimitIsNotClaimed(t *testing.T) {
	e := newEnv(t)
	tr := newGate()
	sc := newGate()
	e.register("transcode", tr.run)
	e.register("scan", sc.run)
	q := &claimRecorder{Store: e.store}
	p := jobs.NewPool(q, e.reg, jobs.PoolOptions{Workers: 4, PollInterval: 10 * time.Millisecond, Log: e.log,
		Limits: map[string]int{"transcode": 1, "scan": 1}})
	go func() { _ = p.Run(context.Background()) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = p.Shutdown(ctx)
	})
	e.submit(store.NewJob{Kind: "transcode"})
	p.Notify()
	<-tr.started
	n := len(q.claims())
	e.submit(store.NewJob{Kind: "scan"})
	p.Notify()
	<-sc.started
	// Both kinds at their limit now, two workers free: no more claims.
	time.Sleep(100 * time.Millisecond)
	claims := q.claims()
	for _, k := range claims[n:] {
		if slices.Contains(k, "transcode") {
			t.Errorf("claim for kinds %v while transcode is at its limit", k)
		}
	}
	last := claims[len(claims)-1]
	if !slices.Equal(last, []string{"scan"}) {
		t.Errorf("last claim for kinds %v, want [scan] (the one that took the scan job)", last)
	}
	before := len(claims)
	time.Sleep(100 * time.Millisecond)
	if after := len(q.claims()); after != before {
		t.Errorf("%d claims while every kind was at its limit, want none", after-before)
	}
	close(tr.released)
	close(sc.released)
}
