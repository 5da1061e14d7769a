package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/vpo-project/vpo/libs/store"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// testKinds are the job kinds the tests create; claims take any of them.
var testKinds = []string{"k", "other", "scan", "x"}

func mustCreate(t testing.TB, s *store.Store, nj store.NewJob) store.Job {
	t.Helper()
	j, err := s.CreateJob(context.Background(), nj)
	if err != nil {
		t.Fatalf("CreateJob: %v", err)
	}
	return j
}

func mustClaim(t testing.TB, s *store.Store, owner string, now time.Time) store.Job {
	t.Helper()
	j, ok, err := s.ClaimJob(context.Background(), owner, testKinds, time.Minute, now)
	if err != nil || !ok {
		t.Fatalf("ClaimJob = %v, %v; want a job", ok, err)
	}
	return j
}

func mustGet(t testing.TB, s *store.Store, id string) store.Job {
	t.Helper()
	j, err := s.GetJob(context.Background(), id)
	if err != nil {
		t.Fatalf("GetJob: %v", err)
	}
	return j
}

func TestCreateAndGetJob(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	j := mustCreate(t, s, store.NewJob{Kind: "scan", Payload: json.RawMessage(`{"path":"/media"}`), Priority: 7})
	if j.ID == "" || j.Status != store.StatusQueued || j.Priority != 7 || j.MaxAttempts != store.DefaultMaxAttempts ||
		j.Attempts != 0 || string(j.Payload) != `{"path":"/media"}` || j.CreatedAt.IsZero() || j.StartedAt != nil {
		t.Errorf("created job = %+v", j)
	}
	got := mustGet(t, s, j.ID)
	if got.ID != j.ID || !got.CreatedAt.Equal(j.CreatedAt) || got.Kind != "scan" {
		t.Errorf("GetJob = %+v, want %+v", got, j)
	}
	if _, err := s.GetJob(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetJob(missing) = %v, want ErrNotFound", err)
	}
	if j2 := mustCreate(t, s, store.NewJob{Kind: "x"}); string(j2.Payload) != "{}" {
		t.Errorf("default payload = %s, want {}", j2.Payload)
	}
}

func TestCreateJobValidation(t *testing.T) {
	s := openTestStore(t)
	for _, tc := range []struct {
		name string
		nj   store.NewJob
	}{
		{"empty kind", store.NewJob{}},
		{"negative priority", store.NewJob{Kind: "k", Priority: -1}},
		{"priority too large", store.NewJob{Kind: "k", Priority: 1001}},
		{"negative max attempts", store.NewJob{Kind: "k", MaxAttempts: -1}},
		{"bad payload", store.NewJob{Kind: "k", Payload: json.RawMessage(`{`)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := s.CreateJob(context.Background(), tc.nj); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("CreateJob = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestClaimOrder(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	// submission order with priorities; expected claim order: by priority, then FIFO.
	prios := []int{5, 1, 5, 0, 1, 1000, 0}
	ids := make([]string, len(prios))
	for i, p := range prios {
		ids[i] = mustCreate(t, s, store.NewJob{Kind: "k", Priority: p}).ID
	}
	want := []string{ids[3], ids[6], ids[1], ids[4], ids[0], ids[2], ids[5]}
	for i, w := range want {
		j := mustClaim(t, s, "w", t0)
		if j.ID != w {
			t.Fatalf("claim #%d = %s (prio %d), want %s", i, j.ID, j.Priority, w)
		}
		if j.Status != store.StatusRunning || j.Attempts != 1 || j.LeaseOwner != "w" ||
			j.LeaseExpiresAt == nil || !j.LeaseExpiresAt.Equal(t0.Add(time.Minute)) ||
			j.StartedAt == nil || !j.StartedAt.Equal(t0) {
			t.Fatalf("claimed job = %+v", j)
		}
	}
	if _, ok, err := s.ClaimJob(ctx, "w", testKinds, time.Minute, t0); ok || err != nil {
		t.Errorf("ClaimJob on empty queue = %v, %v", ok, err)
	}
}

func TestNoDoubleClaimConcurrent(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	const goroutines, perG = 16, 40
	for i := 0; i < goroutines*perG; i++ {
		mustCreate(t, s, store.NewJob{Kind: "k", Priority: i % 3})
	}
	var mu sync.Mutex
	claimed := map[string]string{}
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func(owner string) {
			defer wg.Done()
			for {
				j, ok, err := s.ClaimJob(ctx, owner, testKinds, time.Minute, time.Now())
				if err != nil {
					errs <- err
					return
				}
				if !ok {
					return
				}
				mu.Lock()
				if prev, dup := claimed[j.ID]; dup {
					errs <- fmt.Errorf("job %s claimed by %s and %s", j.ID, prev, owner)
				}
				claimed[j.ID] = owner
				mu.Unlock()
				if err := s.CompleteJob(ctx, j.Lease(), nil, time.Now()); err != nil {
					errs <- err
					return
				}
			}
		}(fmt.Sprintf("w%d", g))
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if len(claimed) != goroutines*perG {
		t.Errorf("claimed %d distinct jobs, want %d", len(claimed), goroutines*perG)
	}
	counts, err := s.CountJobs(ctx)
	if err != nil || counts[store.StatusCompleted] != goroutines*perG {
		t.Errorf("CountJobs = %v, %v", counts, err)
	}
}

func TestLeaseRenewalAndLoss(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	j := mustCreate(t, s, store.NewJob{Kind: "k"})
	a := mustClaim(t, s, "a", t0).Lease()

	cancel, err := s.RenewLease(ctx, a, time.Minute, t0.Add(30*time.Second))
	if err != nil || cancel {
		t.Fatalf("RenewLease = %v, %v", cancel, err)
	}
	if got := mustGet(t, s, j.ID); !got.LeaseExpiresAt.Equal(t0.Add(90 * time.Second)) {
		t.Errorf("lease expires at %v, want %v", got.LeaseExpiresAt, t0.Add(90*time.Second))
	}
	if _, err := s.RenewLease(ctx, store.Lease{JobID: j.ID, Owner: "b", Token: a.Token}, time.Minute, t0); !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("RenewLease by non-owner = %v, want ErrLeaseLost", err)
	}
	if _, err := s.RenewLease(ctx, store.Lease{JobID: "missing", Owner: "a", Token: a.Token}, time.Minute, t0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RenewLease of missing job = %v, want ErrNotFound", err)
	}
	// Not expired yet: recovery leaves it alone.
	if rq, f, err := s.RecoverExpired(ctx, t0.Add(80*time.Second)); rq != 0 || f != 0 || err != nil {
		t.Fatalf("RecoverExpired before expiry = %d, %d, %v", rq, f, err)
	}
	// Expired: recovered, b claims it, a has lost it.
	if rq, f, err := s.RecoverExpired(ctx, t0.Add(2*time.Minute)); rq != 1 || f != 0 || err != nil {
		t.Fatalf("RecoverExpired = %d, %d, %v; want 1, 0", rq, f, err)
	}
	b := mustClaim(t, s, "b", t0.Add(2*time.Minute)).Lease()
	for name, err := range map[string]error{
		"renew":    func() error { _, err := s.RenewLease(ctx, a, time.Minute, t0); return err }(),
		"complete": s.CompleteJob(ctx, a, json.RawMessage(`{}`), t0),
		"fail":     s.FailJob(ctx, a, "x", t0),
		"cancel":   s.FinishCancelled(ctx, a, t0),
		"requeue":  s.RequeueInterrupted(ctx, a, t0),
		"progress": s.UpdateProgress(ctx, a, 50, "x", -1),
	} {
		if !errors.Is(err, store.ErrLeaseLost) {
			t.Errorf("%s by former owner = %v, want ErrLeaseLost", name, err)
		}
	}
	if err := s.CompleteJob(ctx, b, json.RawMessage(`{"ok":true}`), t0.Add(3*time.Minute)); err != nil {
		t.Fatal(err)
	}
	got := mustGet(t, s, j.ID)
	if got.Status != store.StatusCompleted || string(got.Result) != `{"ok":true}` || got.Attempts != 2 ||
		got.LeaseOwner != "" || got.FinishedAt == nil || got.ProgressPercent != 100 {
		t.Errorf("completed job = %+v", got)
	}
}

// TestStaleClaimOfSameOwnerIsFenced: the lease of a run expires (its
// process was suspended), the job is recovered and claimed again by the same
// owner. The first claim must not renew, report, finish or requeue the job
// any more: only the new claim's token is accepted.
func TestStaleClaimOfSameOwnerIsFenced(t *testing.T) {
	ctx := context.Background()
	for _, op := range []struct {
		name string
		do   func(s *store.Store, l store.Lease) error
	}{
		{"renew", func(s *store.Store, l store.Lease) error {
			_, err := s.RenewLease(ctx, l, time.Minute, t0.Add(3*time.Minute))
			return err
		}},
		{"progress", func(s *store.Store, l store.Lease) error { return s.UpdateProgress(ctx, l, 99, "stale", -1) }},
		{"complete", func(s *store.Store, l store.Lease) error {
			return s.CompleteJob(ctx, l, json.RawMessage(`{"stale":true}`), t0.Add(3*time.Minute))
		}},
		{"fail", func(s *store.Store, l store.Lease) error { return s.FailJob(ctx, l, "stale", t0.Add(3*time.Minute)) }},
		{"finish cancelled", func(s *store.Store, l store.Lease) error { return s.FinishCancelled(ctx, l, t0.Add(3*time.Minute)) }},
		{"requeue", func(s *store.Store, l store.Lease) error { return s.RequeueInterrupted(ctx, l, t0.Add(3*time.Minute)) }},
	} {
		t.Run(op.name, func(t *testing.T) {
			s := openTestStore(t)
			j := mustCreate(t, s, store.NewJob{Kind: "k"})
			stale := mustClaim(t, s, "w", t0)
			if rq, _, err := s.RecoverExpired(ctx, t0.Add(2*time.Minute)); rq != 1 || err != nil {
				t.Fatalf("RecoverExpired = %d, %v; want 1 requeued", rq, err)
			}
			fresh := mustClaim(t, s, "w", t0.Add(2*time.Minute))
			if fresh.LeaseToken <= stale.LeaseToken {
				t.Fatalf("second claim has token %d, first %d: want a greater one", fresh.LeaseToken, stale.LeaseToken)
			}
			if err := op.do(s, stale.Lease()); !errors.Is(err, store.ErrLeaseLost) {
				t.Errorf("%s with the stale claim = %v, want ErrLeaseLost", op.name, err)
			}
			got := mustGet(t, s, j.ID)
			if got.Status != store.StatusRunning || got.LeaseToken != fresh.LeaseToken || got.ProgressPercent != 0 ||
				!got.LeaseExpiresAt.Equal(*fresh.LeaseExpiresAt) || got.Attempts != 2 {
				t.Errorf("after %s with the stale claim, job = %+v; want it untouched", op.name, got)
			}
			if err := op.do(s, fresh.Lease()); err != nil {
				t.Errorf("%s with the current claim = %v", op.name, err)
			}
		})
	}
}

func TestClaimJobTakesOnlyGivenKinds(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	newer := mustCreate(t, s, store.NewJob{Kind: "newer.kind"}) // first in line
	k := mustCreate(t, s, store.NewJob{Kind: "k", Priority: 1})
	for _, tc := range []struct {
		name   string
		kinds  []string
		wantID string
	}{
		{"no kinds", nil, ""},
		{"other kinds only", []string{"x"}, ""},
		{"skips unknown kind", []string{"k", "x"}, k.ID},
		{"nothing left of k", []string{"k"}, ""},
		{"kind given", []string{"newer.kind"}, newer.ID},
	} {
		j, ok, err := s.ClaimJob(ctx, "w", tc.kinds, time.Minute, t0)
		if err != nil || ok != (tc.wantID != "") || j.ID != tc.wantID {
			t.Errorf("%s: ClaimJob(%q) = %s, %v, %v; want %q", tc.name, tc.kinds, j.ID, ok, err, tc.wantID)
		}
		if tc.wantID == k.ID {
			if got := mustGet(t, s, newer.ID); got.Status != store.StatusQueued || got.Attempts != 0 || got.LeaseOwner != "" {
				t.Errorf("%s: job of an unclaimed kind = %+v; want queued and untouched", tc.name, got)
			}
		}
	}
}

func TestRecoverExpiredExhausts(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	j := mustCreate(t, s, store.NewJob{Kind: "k", MaxAttempts: 2})
	other := mustCreate(t, s, store.NewJob{Kind: "k", Priority: 1})
	now := t0
	for attempt := 1; attempt <= 2; attempt++ {
		c := mustClaim(t, s, "dead", now)
		if c.ID != j.ID || c.Attempts != attempt {
			t.Fatalf("claim = %s attempt %d", c.ID, c.Attempts)
		}
		now = now.Add(2 * time.Minute)
		rq, f, err := s.RecoverExpired(ctx, now)
		if err != nil {
			t.Fatal(err)
		}
		if attempt == 1 && (rq != 1 || f != 0) || attempt == 2 && (rq != 0 || f != 1) {
			t.Fatalf("attempt %d: RecoverExpired = %d, %d", attempt, rq, f)
		}
	}
	got := mustGet(t, s, j.ID)
	if got.Status != store.StatusFailed || got.Error == "" || got.FinishedAt == nil {
		t.Errorf("exhausted job = %+v", got)
	}
	if st := mustGet(t, s, other.ID).Status; st != store.StatusQueued {
		t.Errorf("other job status = %s", st)
	}
}

func TestRequeueInterruptedKeepsAttempts(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	j := mustCreate(t, s, store.NewJob{Kind: "k", MaxAttempts: 1})
	for i := 0; i < 3; i++ {
		c := mustClaim(t, s, "w", t0)
		if err := s.RequeueInterrupted(ctx, c.Lease(), t0); err != nil {
			t.Fatal(err)
		}
		got := mustGet(t, s, j.ID)
		if got.Status != store.StatusQueued || got.Attempts != 0 || got.LeaseOwner != "" || got.LeaseExpiresAt != nil {
			t.Fatalf("requeued job = %+v", got)
		}
	}
	if c := mustClaim(t, s, "w", t0); c.Attempts != 1 {
		t.Errorf("attempts after requeues = %d, want 1", c.Attempts)
	}
}

func TestFailJobRetryPolicy(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	j := mustCreate(t, s, store.NewJob{Kind: "k", MaxAttempts: 3})
	for attempt := 1; attempt <= 3; attempt++ {
		c := mustClaim(t, s, "w", t0)
		if err := s.FailJob(ctx, c.Lease(), fmt.Sprintf("boom %d", attempt), t0); err != nil {
			t.Fatal(err)
		}
		got := mustGet(t, s, j.ID)
		want := store.StatusQueued
		if attempt == 3 {
			want = store.StatusFailed
		}
		if got.Status != want || got.Attempts != attempt || got.Error != fmt.Sprintf("boom %d", attempt) {
			t.Fatalf("after failure %d: %+v", attempt, got)
		}
	}
}

func TestCancelJob(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	queued := mustCreate(t, s, store.NewJob{Kind: "k", Priority: 1})
	running := mustCreate(t, s, store.NewJob{Kind: "k"})
	l := mustClaim(t, s, "w", t0).Lease()

	c, err := s.CancelJob(ctx, queued.ID, t0)
	if err != nil || c.Status != store.StatusCancelled || c.FinishedAt == nil {
		t.Fatalf("cancel queued = %+v, %v", c, err)
	}
	c, err = s.CancelJob(ctx, running.ID, t0)
	if err != nil || c.Status != store.StatusRunning || !c.CancelRequested {
		t.Fatalf("cancel running = %+v, %v", c, err)
	}
	if _, err := s.CancelJob(ctx, running.ID, t0); err != nil {
		t.Errorf("second cancel of running job = %v", err)
	}
	if cr, err := s.RenewLease(ctx, l, time.Minute, t0); err != nil || !cr {
		t.Errorf("RenewLease after cancel = %v, %v; want cancel requested", cr, err)
	}
	if err := s.FinishCancelled(ctx, l, t0); err != nil {
		t.Fatal(err)
	}
	if st := mustGet(t, s, running.ID).Status; st != store.StatusCancelled {
		t.Errorf("status = %s", st)
	}
	if _, err := s.CancelJob(ctx, running.ID, t0); !errors.Is(err, store.ErrConflict) {
		t.Errorf("cancel of cancelled job = %v, want ErrConflict", err)
	}
	if _, err := s.CancelJob(ctx, "missing", t0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("cancel of missing job = %v, want ErrNotFound", err)
	}
	if _, ok, _ := s.ClaimJob(ctx, "w", testKinds, time.Minute, t0); ok {
		t.Error("a cancelled job was claimed")
	}
}

func TestCancelRequestedWinsOverRetryAndRequeue(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	for name, finish := range map[string]func(l store.Lease) error{
		"fail":    func(l store.Lease) error { return s.FailJob(ctx, l, "x", t0) },
		"requeue": func(l store.Lease) error { return s.RequeueInterrupted(ctx, l, t0) },
	} {
		j := mustCreate(t, s, store.NewJob{Kind: "k"})
		l := mustClaim(t, s, "w", t0).Lease()
		if _, err := s.CancelJob(ctx, j.ID, t0); err != nil {
			t.Fatal(err)
		}
		if err := finish(l); err != nil {
			t.Fatal(err)
		}
		if st := mustGet(t, s, j.ID).Status; st != store.StatusCancelled {
			t.Errorf("%s after cancel request: status %s, want cancelled", name, st)
		}
	}
}

func TestRetryJob(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	j := mustCreate(t, s, store.NewJob{Kind: "k", MaxAttempts: 1})
	if _, err := s.RetryJob(ctx, j.ID); !errors.Is(err, store.ErrConflict) {
		t.Errorf("retry of queued job = %v, want ErrConflict", err)
	}
	c := mustClaim(t, s, "w", t0)
	if _, err := s.RetryJob(ctx, j.ID); !errors.Is(err, store.ErrConflict) {
		t.Errorf("retry of running job = %v, want ErrConflict", err)
	}
	if err := s.FailJob(ctx, c.Lease(), "boom", t0); err != nil {
		t.Fatal(err)
	}
	r, err := s.RetryJob(ctx, j.ID)
	if err != nil || r.Status != store.StatusQueued || r.Attempts != 0 || r.Error != "" || r.FinishedAt != nil {
		t.Fatalf("RetryJob = %+v, %v", r, err)
	}
	c2 := mustClaim(t, s, "w", t0)
	if c2.ID != j.ID || c2.Attempts != 1 || c2.LeaseToken != c.LeaseToken+1 {
		t.Errorf("claim after retry = %+v (token of the first claim %d)", c2, c.LeaseToken)
	}
	if err := s.CompleteJob(ctx, c2.Lease(), nil, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RetryJob(ctx, j.ID); !errors.Is(err, store.ErrConflict) {
		t.Errorf("retry of completed job = %v, want ErrConflict", err)
	}
	if _, err := s.RetryJob(ctx, "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("retry of missing job = %v, want ErrNotFound", err)
	}
}

func TestUpdateProgress(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	j := mustCreate(t, s, store.NewJob{Kind: "k"})
	l := mustClaim(t, s, "w", t0).Lease()
	for _, tc := range []struct {
		in, want float64
	}{{42.5, 42.5}, {-3, 0}, {250, 100}} {
		if err := s.UpdateProgress(ctx, l, tc.in, "probing", -1); err != nil {
			t.Fatal(err)
		}
		if got := mustGet(t, s, j.ID); got.ProgressPercent != tc.want || got.ProgressMessage != "probing" {
			t.Errorf("progress(%v) = %v %q", tc.in, got.ProgressPercent, got.ProgressMessage)
		}
	}
}

func TestListJobsPaging(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	var ids []string
	for i := 0; i < 7; i++ {
		kind := "scan"
		if i%2 == 1 {
			kind = "other"
		}
		ids = append(ids, mustCreate(t, s, store.NewJob{Kind: kind}).ID)
	}
	mustClaim(t, s, "w", t0) // ids[0] running

	collect := func(f store.JobFilter) []string {
		var got []string
		for page := 0; ; page++ {
			jobs, next, err := s.ListJobs(ctx, f)
			if err != nil {
				t.Fatalf("ListJobs(%+v): %v", f, err)
			}
			if len(jobs) > f.Limit && f.Limit > 0 {
				t.Fatalf("page of %d jobs, limit %d", len(jobs), f.Limit)
			}
			for _, j := range jobs {
				got = append(got, j.ID)
			}
			if next == "" {
				return got
			}
			f.Cursor = next
			if page > 10 {
				t.Fatal("too many pages")
			}
		}
	}
	for _, tc := range []struct {
		name string
		f    store.JobFilter
		want []string
	}{
		{"all newest first", store.JobFilter{Limit: 3}, []string{ids[6], ids[5], ids[4], ids[3], ids[2], ids[1], ids[0]}},
		{"exact page size", store.JobFilter{Limit: 7}, []string{ids[6], ids[5], ids[4], ids[3], ids[2], ids[1], ids[0]}},
		{"kind", store.JobFilter{Kind: "other", Limit: 2}, []string{ids[5], ids[3], ids[1]}},
		{"status", store.JobFilter{Status: store.StatusRunning}, []string{ids[0]}},
		{"status and kind", store.JobFilter{Status: store.StatusQueued, Kind: "scan", Limit: 1}, []string{ids[6], ids[4], ids[2]}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := collect(tc.f)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("got %v\nwant %v", got, tc.want)
			}
		})
	}
	for _, f := range []store.JobFilter{{Cursor: "abc"}, {Status: "bogus"}, {Limit: -1}} {
		if _, _, err := s.ListJobs(ctx, f); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("ListJobs(%+v) = %v, want ErrInvalid", f, err)
		}
	}
}

func TestCountJobs(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	for i := 0; i < 3; i++ {
		mustCreate(t, s, store.NewJob{Kind: "k"})
	}
	mustClaim(t, s, "w", t0)
	counts, err := s.CountJobs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"queued": 2, "running": 1, "completed": 0, "failed": 0, "cancelled": 0}
	if fmt.Sprint(counts) != fmt.Sprint(want) {
		t.Errorf("CountJobs = %v, want %v", counts, want)
	}
}
