package jobs_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vpo-project/vpo/libs/jobs"
	"github.com/vpo-project/vpo/libs/store"
)

// unreachable is a queue whose lease renewals fail, as when the database
// is down, while the test still reads the store behind it.
type unreachable struct {
	*store.Store
	down atomic.Bool
	// hang makes a renewal wait for its context instead of failing, as
	// over a connection whose packets are dropped.
	hang bool
}

func (q *unreachable) RenewLease(ctx context.Context, l store.Lease, lease time.Duration, now time.Time) (bool, error) {
	if q.down.Load() {
		if q.hang {
			<-ctx.Done()
			return false, ctx.Err()
		}
		return false, errors.New("connection refused")
	}
	return q.Store.RenewLease(ctx, l, lease, now)
}

// TestUnrenewableLeaseStopsRunBeforeItExpires: when the database stops
// answering, a running job keeps running while its lease holds, and is
// stopped before the lease expires (after which another node may recover
// and run it); its outcome is not written.
func TestUnrenewableLeaseStopsRunBeforeItExpires(t *testing.T) {
	for _, hang := range []bool{false, true} {
		t.Run(map[bool]string{false: "refused", true: "no answer"}[hang], func(t *testing.T) { testUnrenewable(t, hang) })
	}
}

func testUnrenewable(t *testing.T, hang bool) {
	e := newEnv(t)
	q := &unreachable{Store: e.store, hang: hang}
	started := make(chan struct{})
	stopped := make(chan time.Time, 1)
	e.register("k", func(ctx context.Context, _ store.Job, _ jobs.Progress) (json.RawMessage, error) {
		close(started)
		<-ctx.Done()
		stopped <- time.Now()
		return json.RawMessage(`"done anyway"`), nil
	})
	j := e.submit(store.NewJob{Kind: "k"})
	const lease = 3 * time.Second
	p := jobs.NewPool(q, e.reg, jobs.PoolOptions{Workers: 1, Lease: lease, PollInterval: 20 * time.Millisecond,
		RecoverInterval: time.Hour, Log: e.log})
	go func() { _ = p.Run(context.Background()) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = p.Shutdown(ctx)
	})
	<-started
	// Let one renewal pass, then cut the database off.
	time.Sleep(lease/3 + lease/6)
	q.down.Store(true)
	held := e.job(j.ID)
	var at time.Time
	select {
	case at = <-stopped:
	case <-time.After(3 * lease):
		t.Fatal("the run went on with a lease it could not renew")
	}
	if !at.Before(*held.LeaseExpiresAt) {
		t.Errorf("run stopped at %s, after its lease expired at %s", at.Format(time.StampMilli), held.LeaseExpiresAt.Format(time.StampMilli))
	}
	time.Sleep(100 * time.Millisecond)
	if got := e.job(j.ID); got.Status != store.StatusRunning || got.LeaseToken != held.LeaseToken || len(got.Result) != 0 {
		t.Errorf("job after the stopped run = %s, token %d, result %s; want it left running under its claim for recovery",
			got.Status, got.LeaseToken, got.Result)
	}
}

// renewCounter counts lease renewals.
type renewCounter struct {
	*store.Store
	renewals atomic.Int64
}

func (q *renewCounter) RenewLease(ctx context.Context, l store.Lease, lease time.Duration, now time.Time) (bool, error) {
	q.renewals.Add(1)
	return q.Store.RenewLease(ctx, l, lease, now)
}

// TestFrequentRecoveryDoesNotRenewMore: a recovery pass much more frequent
// than the renewal interval renews no lease renewed less than an interval
// ago.
func TestFrequentRecoveryDoesNotRenewMore(t *testing.T) {
	e := newEnv(t)
	q := &renewCounter{Store: e.store}
	started := make(chan struct{})
	e.register("k", func(ctx context.Context, _ store.Job, _ jobs.Progress) (json.RawMessage, error) {
		close(started)
		<-ctx.Done()
		return nil, ctx.Err()
	})
	e.submit(store.NewJob{Kind: "k"})
	p := jobs.NewPool(q, e.reg, jobs.PoolOptions{Workers: 1, Lease: 3 * time.Second, PollInterval: 20 * time.Millisecond,
		RecoverInterval: 50 * time.Millisecond, Log: e.log})
	go func() { _ = p.Run(context.Background()) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = p.Shutdown(ctx)
	})
	<-started
	time.Sleep(2500 * time.Millisecond) // 50 recovery passes, two renewal intervals
	if n := q.renewals.Load(); n > 4 {
		t.Errorf("%d renewals in 2.5 s with a 1 s renewal interval, want at most 4 (the recovery pass renewed fresh leases)", n)
	}
}
