package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/vpo-project/vpo/libs/store"
)

// A job put back to queued for another attempt starts that attempt with no
// progress; a job that ends failed keeps the progress of its last attempt.
func TestRetryClearsProgress(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	report := func(l store.Lease) {
		t.Helper()
		if err := s.UpdateProgress(ctx, l, 42, "frame 1000", time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	check := func(step string, id string, wantStatus string, wantPct float64, wantMsg string) {
		t.Helper()
		got := mustGet(t, s, id)
		if got.Status != wantStatus || got.ProgressPercent != wantPct || got.ProgressMessage != wantMsg || got.ETASeconds != nil {
			t.Errorf("%s: status %s, progress %v %q, eta %v; want %s, %v %q, no eta",
				step, got.Status, got.ProgressPercent, got.ProgressMessage, got.ETASeconds, wantStatus, wantPct, wantMsg)
		}
	}

	j := mustCreate(t, s, store.NewJob{Kind: "k", MaxAttempts: 3})
	now := t0

	// Attempt 1 fails: retried, progress cleared.
	c := mustClaim(t, s, "w", now)
	report(c.Lease())
	if err := s.FailJob(ctx, c.Lease(), "boom", now); err != nil {
		t.Fatal(err)
	}
	check("FailJob with attempts left", j.ID, store.StatusQueued, 0, "")

	// Shutdown requeue: progress cleared, the attempt not counted.
	c = mustClaim(t, s, "w", now)
	report(c.Lease())
	if err := s.RequeueInterrupted(ctx, c.Lease(), now); err != nil {
		t.Fatal(err)
	}
	check("RequeueInterrupted", j.ID, store.StatusQueued, 0, "")

	// Attempt 2's lease expires: recovered to queued, progress cleared.
	c = mustClaim(t, s, "dead", now)
	report(c.Lease())
	now = now.Add(2 * time.Minute)
	if rq, _, err := s.RecoverExpired(ctx, now); err != nil || rq != 1 {
		t.Fatalf("RecoverExpired = %d, %v", rq, err)
	}
	check("RecoverExpired with attempts left", j.ID, store.StatusQueued, 0, "")

	// Attempt 3, the last, fails: progress kept.
	c = mustClaim(t, s, "w", now)
	report(c.Lease())
	if err := s.FailJob(ctx, c.Lease(), "boom", now); err != nil {
		t.Fatal(err)
	}
	check("FailJob of the last attempt", j.ID, store.StatusFailed, 42, "frame 1000")

	// An exhausted job recovered after its lease expired keeps it too.
	e := mustCreate(t, s, store.NewJob{Kind: "k", MaxAttempts: 1})
	c = mustClaim(t, s, "dead", now)
	if c.ID != e.ID {
		t.Fatalf("claimed %s, want %s", c.ID, e.ID)
	}
	report(c.Lease())
	now = now.Add(2 * time.Minute)
	if _, f, err := s.RecoverExpired(ctx, now); err != nil || f != 1 {
		t.Fatalf("RecoverExpired = %d failed, %v", f, err)
	}
	check("RecoverExpired of the last attempt", e.ID, store.StatusFailed, 42, "frame 1000")
}
