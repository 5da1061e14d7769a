package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vpo-project/vpo/libs/store"
)

// spawn creates a parent job, claims it and hands n children to it.
func spawn(t *testing.T, s *store.Store, n int) (store.Job, []store.Job) {
	t.Helper()
	ctx := context.Background()
	parent := mustCreate(t, s, store.NewJob{Kind: "k"})
	claimed := mustClaim(t, s, "w", t0)
	if claimed.ID != parent.ID {
		t.Fatalf("claimed %s, want the parent %s", claimed.ID, parent.ID)
	}
	kids := make([]store.NewJob, n)
	for i := range kids {
		kids[i] = store.NewJob{Kind: "x", Payload: json.RawMessage(`{"i":1}`), MaxAttempts: 1}
	}
	if err := s.AwaitChildren(ctx, claimed.Lease(), kids, nil, t0); err != nil {
		t.Fatalf("AwaitChildren: %v", err)
	}
	children, _, err := s.ListJobs(ctx, store.JobFilter{Parent: parent.ID})
	if err != nil || len(children) != n {
		t.Fatalf("ListJobs(parent) = %d jobs, %v; want %d", len(children), err, n)
	}
	return mustGet(t, s, parent.ID), children
}

func TestAwaitChildrenFinishesParentWithCounts(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	parent, _ := spawn(t, s, 3)
	if parent.Status != store.StatusRunning || !parent.AwaitingChildren || parent.LeaseOwner != "" || parent.LeaseExpiresAt != nil ||
		parent.ProgressMessage != "child jobs left: 3" {
		t.Fatalf("waiting parent = %+v; want running, awaiting children, no lease", parent)
	}
	// Lease recovery long after leaves the waiting parent alone.
	if rq, fl, err := s.RecoverExpired(ctx, t0.Add(time.Hour)); rq+fl != 0 || err != nil {
		t.Fatalf("RecoverExpired = %d, %d, %v; want nothing recovered", rq, fl, err)
	}
	outcomes := []string{`{"outcome":"applied"}`, `{"outcome":"unchanged"}`, ""}
	for i, out := range outcomes {
		c := mustClaim(t, s, "w", t0)
		if c.ParentID != parent.ID {
			t.Fatalf("child %d: parent_id %q, want %q", i, c.ParentID, parent.ID)
		}
		var err error
		if out == "" {
			err = s.FailJob(ctx, c.Lease(), "boom", t0)
		} else {
			err = s.CompleteJob(ctx, c.Lease(), json.RawMessage(out), t0)
		}
		if err != nil {
			t.Fatal(err)
		}
		p := mustGet(t, s, parent.ID)
		if (i < 2) != (p.Status == store.StatusRunning) {
			t.Fatalf("after child %d parent is %s", i, p.Status)
		}
		if want := fmt.Sprintf("child jobs left: %d", 2-i); i < 2 && p.ProgressMessage != want {
			t.Errorf("after child %d progress %q, want %q", i, p.ProgressMessage, want)
		}
	}
	p := mustGet(t, s, parent.ID)
	if p.ProgressMessage != "all child jobs finished" {
		t.Errorf("finished parent's progress %q, want \"all child jobs finished\"", p.ProgressMessage)
	}
	var counts map[string]int
	if err := json.Unmarshal(p.Result, &counts); err != nil {
		t.Fatalf("parent result %s: %v", p.Result, err)
	}
	want := map[string]int{"files": 3, "applied": 1, "unchanged": 1, "failed": 1, "planned": 0, "pending_approval": 0, "skipped": 0}
	for k, v := range want {
		if counts[k] != v {
			t.Errorf("result[%s] = %d, want %d (result %s)", k, counts[k], v, p.Result)
		}
	}
	if p.Status != store.StatusCompleted || p.AwaitingChildren || p.FinishedAt == nil {
		t.Errorf("parent = %+v; want completed", p)
	}
	counts2, err := s.CountJobs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := s.CountQueued(ctx); n != 0 || counts2[store.StatusRunning] != 0 {
		t.Errorf("queued %d, running %d; want none", n, counts2[store.StatusRunning])
	}
}

func TestCancelParentCancelsChildren(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	parent, _ := spawn(t, s, 3)
	running := mustClaim(t, s, "w", t0)
	if _, err := s.CancelJob(ctx, parent.ID, t0); err != nil {
		t.Fatal(err)
	}
	kids, _, _ := s.ListJobs(ctx, store.JobFilter{Parent: parent.ID})
	for _, k := range kids {
		switch {
		case k.ID == running.ID && (k.Status != store.StatusRunning || !k.CancelRequested):
			t.Errorf("running child = %s, cancel_requested %v; want running with a cancellation request", k.Status, k.CancelRequested)
		case k.ID != running.ID && k.Status != store.StatusCancelled:
			t.Errorf("queued child = %s; want cancelled", k.Status)
		}
	}
	if p := mustGet(t, s, parent.ID); p.Terminal() {
		t.Fatalf("parent %s before its running child stopped", p.Status)
	}
	if err := s.FinishCancelled(ctx, running.Lease(), t0); err != nil {
		t.Fatal(err)
	}
	if p := mustGet(t, s, parent.ID); p.Status != store.StatusCancelled {
		t.Errorf("parent = %s; want cancelled", p.Status)
	}
}

func TestFailFamily(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	parent, _ := spawn(t, s, 3)
	failing := mustClaim(t, s, "w", t0)
	if err := s.FailFamily(ctx, parent.ID, failing.ID, "a.mkv: boom", t0); err != nil {
		t.Fatal(err)
	}
	if err := s.FailJob(ctx, failing.Lease(), "boom", t0); err != nil {
		t.Fatal(err)
	}
	if f := mustGet(t, s, failing.ID); f.Status != store.StatusFailed {
		t.Errorf("failing child = %s; want failed", f.Status)
	}
	p := mustGet(t, s, parent.ID)
	if p.Status != store.StatusFailed || p.Error != "a.mkv: boom" {
		t.Errorf("parent = %s %q; want failed with the child's error", p.Status, p.Error)
	}
}

func TestAwaitChildrenNeedsTheLease(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	mustCreate(t, s, store.NewJob{Kind: "k"})
	j := mustClaim(t, s, "w", t0)
	stale := j.Lease()
	stale.Token++
	err := s.AwaitChildren(ctx, stale, []store.NewJob{{Kind: "x"}}, nil, t0)
	if !errors.Is(err, store.ErrLeaseLost) {
		t.Fatalf("AwaitChildren with a stale lease = %v; want ErrLeaseLost", err)
	}
	if kids, _, _ := s.ListJobs(ctx, store.JobFilter{Parent: j.ID}); len(kids) != 0 {
		t.Errorf("%d children inserted by a refused call", len(kids))
	}
	if err := s.AwaitChildren(ctx, j.Lease(), nil, nil, t0); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("AwaitChildren without children = %v; want ErrInvalid", err)
	}
}

func TestRunAfterDelaysClaim(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	later := mustCreate(t, s, store.NewJob{Kind: "k", RunAfter: t0.Add(time.Minute)})
	if later.RunAfter == nil || !later.RunAfter.Equal(t0.Add(time.Minute)) {
		t.Fatalf("RunAfter = %v", later.RunAfter)
	}
	if _, ok, err := s.ClaimJob(ctx, "w", testKinds, time.Minute, t0); ok || err != nil {
		t.Fatalf("claim before run_after = %v, %v; want nothing", ok, err)
	}
	if j := mustClaim(t, s, "w", t0.Add(time.Minute)); j.ID != later.ID {
		t.Fatalf("claimed %s, want %s", j.ID, later.ID)
	}
}

// TestRetentionKeepsChildrenOfWaitingParent: a finished child is not
// deleted while its parent waits for its siblings (the parent's counts
// need it).
func TestRetentionKeepsChildrenOfWaitingParent(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	parent, _ := spawn(t, s, 2)
	c := mustClaim(t, s, "w", t0)
	if err := s.CompleteJob(ctx, c.Lease(), json.RawMessage(`{"outcome":"applied"}`), t0); err != nil {
		t.Fatal(err)
	}
	if n, err := s.DeleteFinishedJobs(ctx, t0.Add(time.Hour), 100); n != 0 || err != nil {
		t.Fatalf("DeleteFinishedJobs = %d, %v; want the finished child kept", n, err)
	}
	c2 := mustClaim(t, s, "w", t0)
	if err := s.CompleteJob(ctx, c2.Lease(), json.RawMessage(`{"outcome":"applied"}`), t0); err != nil {
		t.Fatal(err)
	}
	if p := mustGet(t, s, parent.ID); !strings.Contains(string(p.Result), `"applied":2`) {
		t.Fatalf("parent result %s; want both children counted", p.Result)
	}
	if n, err := s.DeleteFinishedJobs(ctx, t0.Add(time.Hour*24*365*10), 100); n != 3 || err != nil {
		t.Errorf("DeleteFinishedJobs after the parent finished = %d, %v; want 3", n, err)
	}
}

// TestAwaitChildrenOfCancelledJob: a job whose cancellation was requested
// during its run stores no children (ErrConflict).
func TestAwaitChildrenOfCancelledJob(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	mustCreate(t, s, store.NewJob{Kind: "k"})
	j := mustClaim(t, s, "w", t0)
	if _, err := s.CancelJob(ctx, j.ID, t0); err != nil {
		t.Fatal(err)
	}
	if err := s.AwaitChildren(ctx, j.Lease(), []store.NewJob{{Kind: "x"}}, nil, t0); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("AwaitChildren after a cancel request = %v; want ErrConflict", err)
	}
	if kids, _, _ := s.ListJobs(ctx, store.JobFilter{Parent: j.ID}); len(kids) != 0 {
		t.Errorf("%d children stored for a cancelled job", len(kids))
	}
}

// TestRetriedChildIsWaitedFor: a child that failed and is retried while
// its parent waits for a sibling keeps the parent waiting until it ends.
func TestRetriedChildIsWaitedFor(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	parent, _ := spawn(t, s, 2)
	first := mustClaim(t, s, "w", t0)
	if err := s.FailJob(ctx, first.Lease(), "boom", t0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RetryJob(ctx, first.ID); err != nil {
		t.Fatal(err)
	}
	second := mustClaim(t, s, "w", t0)
	if err := s.CompleteJob(ctx, second.Lease(), json.RawMessage(`{"outcome":"applied"}`), t0); err != nil {
		t.Fatal(err)
	}
	if p := mustGet(t, s, parent.ID); p.Terminal() {
		t.Fatalf("parent %s while a child is still queued", p.Status)
	}
	again := mustClaim(t, s, "w", t0)
	if err := s.CompleteJob(ctx, again.Lease(), json.RawMessage(`{"outcome":"unchanged"}`), t0); err != nil {
		t.Fatal(err)
	}
	p := mustGet(t, s, parent.ID)
	if p.Status != store.StatusCompleted || !strings.Contains(string(p.Result), `"applied":1`) ||
		!strings.Contains(string(p.Result), `"unchanged":1`) || !strings.Contains(string(p.Result), `"failed":0`) {
		t.Errorf("parent = %s %s; want completed, 1 applied, 1 unchanged", p.Status, p.Result)
	}
}

func TestFailJobFinal(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	a := mustCreate(t, s, store.NewJob{Kind: "k", MaxAttempts: 5})
	ca := mustClaim(t, s, "w", t0)
	if err := s.FailJobFinal(ctx, ca.Lease(), "bad input", t0); err != nil {
		t.Fatal(err)
	}
	if j := mustGet(t, s, a.ID); j.Status != store.StatusFailed || j.Error != "bad input" || j.FinishedAt == nil {
		t.Errorf("job = %s %q; want failed at its first of 5 attempts", j.Status, j.Error)
	}
	b := mustCreate(t, s, store.NewJob{Kind: "k"})
	cb := mustClaim(t, s, "w", t0)
	if _, err := s.CancelJob(ctx, b.ID, t0); err != nil {
		t.Fatal(err)
	}
	if err := s.FailJobFinal(ctx, cb.Lease(), "bad input", t0); err != nil {
		t.Fatal(err)
	}
	if j := mustGet(t, s, b.ID); j.Status != store.StatusCancelled {
		t.Errorf("cancel-requested job = %s; want cancelled", j.Status)
	}
	if err := s.FailJobFinal(ctx, cb.Lease(), "again", t0); !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("FailJobFinal of a finished job = %v; want ErrLeaseLost", err)
	}
}

// TestPlansOfAParentJob: filtering plans by a directory job gives its own
// plans (a dry run plans scanned files itself) and its children's.
func TestPlansOfAParentJob(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	parent, children := spawn(t, s, 2)
	mustPlan(t, s, store.Plan{JobID: parent.ID, Policy: "p", Path: "/m/inline.mkv", Status: store.PlanPlanned})
	mustPlan(t, s, store.Plan{JobID: children[0].ID, Policy: "p", Path: "/m/child.mkv", Status: store.PlanPlanned})
	mustPlan(t, s, store.Plan{JobID: "other", Policy: "p", Path: "/m/other.mkv", Status: store.PlanPlanned})
	plans, _, err := s.ListPlans(ctx, store.PlanFilter{JobID: parent.ID, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, p := range plans {
		paths = append(paths, p.Path)
	}
	if len(paths) != 2 || paths[0] != "/m/child.mkv" || paths[1] != "/m/inline.mkv" {
		t.Errorf("plans of the parent job: %q; want its own and its child's", paths)
	}
}
