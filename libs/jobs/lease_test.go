package jobs_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/vpo-project/vpo/libs/jobs"
	"github.com/vpo-project/vpo/libs/store"
)

func TestSetLease(t *testing.T) {
	e := newEnv(t)
	started := make(chan string, 2)
	release := make(chan struct{})
	e.register("k", func(ctx context.Context, j store.Job, _ jobs.Progress) (json.RawMessage, error) {
		started <- j.ID
		<-release
		return nil, nil
	})
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	p, _ := e.start(jobs.PoolOptions{Workers: 1, Lease: time.Minute, Now: func() time.Time { return t0 }})

	// A job claimed after SetLease is leased for the new duration.
	p.SetLease(time.Hour)
	if got := p.Lease(); got != time.Hour {
		t.Fatalf("Lease() = %v, want 1h", got)
	}
	id := e.submit(store.NewJob{Kind: "k"}).ID
	p.Notify()
	<-started
	if j := e.job(id); j.LeaseExpiresAt == nil || !j.LeaseExpiresAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("lease expires at %v, want claim time + 1h (%v)", j.LeaseExpiresAt, t0.Add(time.Hour))
	}
	// A running job takes the new lease at its next renewal.
	p.SetLease(2 * time.Hour)
	p.CheckCancel(id) // renews at once
	deadline := time.Now().Add(10 * time.Second)
	for {
		j := e.job(id)
		if j.LeaseExpiresAt != nil && j.LeaseExpiresAt.Equal(t0.Add(2*time.Hour)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("renewed lease expires at %v, want %v", j.LeaseExpiresAt, t0.Add(2*time.Hour))
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(release)
	e.waitStatus(id, store.StatusCompleted)
}
