package jobs_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/vpo-project/vpo/libs/jobs"
	"github.com/vpo-project/vpo/libs/store"
)

// TestChildrenWithOneWorker: a parent that hands its work to children does
// not hold the only worker; its children run and it finishes with the last.
func TestChildrenWithOneWorker(t *testing.T) {
	e := newEnv(t)
	e.register("parent", func(context.Context, store.Job, jobs.Progress) (json.RawMessage, error) {
		kids := make([]store.NewJob, 3)
		for i := range kids {
			kids[i] = store.NewJob{Kind: "child"}
		}
		return nil, &jobs.Children{Jobs: kids}
	})
	e.register("child", func(context.Context, store.Job, jobs.Progress) (json.RawMessage, error) {
		return json.RawMessage(`{"outcome":"applied"}`), nil
	})
	parent := e.submit(store.NewJob{Kind: "parent"})
	e.start(jobs.PoolOptions{Workers: 1})
	done := e.waitStatus(parent.ID, store.StatusCompleted)
	var counts map[string]int
	if err := json.Unmarshal(done.Result, &counts); err != nil || counts["files"] != 3 || counts["applied"] != 3 {
		t.Errorf("parent result = %s, %v; want 3 files applied", done.Result, err)
	}
	kids, _, err := e.store.ListJobs(context.Background(), store.JobFilter{Parent: parent.ID})
	if err != nil || len(kids) != 3 {
		t.Fatalf("children = %d, %v", len(kids), err)
	}
	for _, k := range kids {
		if k.Status != store.StatusCompleted {
			t.Errorf("child %s is %s", k.ID, k.Status)
		}
	}
}

// TestCancelParentStopsRunningChildren: cancelling a waiting parent stops
// its running child at once (CheckCancel of the parent pokes the child),
// and the parent ends cancelled.
func TestCancelParentStopsRunningChildren(t *testing.T) {
	e := newEnv(t)
	started := make(chan string, 1)
	e.register("parent", func(context.Context, store.Job, jobs.Progress) (json.RawMessage, error) {
		return nil, &jobs.Children{Jobs: []store.NewJob{{Kind: "slow"}, {Kind: "slow"}}}
	})
	e.register("slow", blockOnCtx(started))
	parent := e.submit(store.NewJob{Kind: "parent"})
	// Renewal every 20 minutes: only CheckCancel can make the worker look.
	p, _ := e.start(jobs.PoolOptions{Workers: 1, Lease: time.Hour})
	<-started
	if _, err := e.store.CancelJob(context.Background(), parent.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	p.CheckCancel(parent.ID)
	e.waitStatus(parent.ID, store.StatusCancelled)
	kids, _, _ := e.store.ListJobs(context.Background(), store.JobFilter{Parent: parent.ID})
	for _, k := range kids {
		if k.Status != store.StatusCancelled {
			t.Errorf("child %s is %s, want cancelled", k.ID, k.Status)
		}
	}
}

// TestFinalErrorIsNotRetried: a handler's jobs.Final error fails the job
// at its first attempt, whatever max_attempts says.
func TestFinalErrorIsNotRetried(t *testing.T) {
	e := newEnv(t)
	runs := make(chan struct{}, 10)
	e.register("bad", func(context.Context, store.Job, jobs.Progress) (json.RawMessage, error) {
		runs <- struct{}{}
		return nil, jobs.Final(errors.New("policy.yaml:3: unknown key"))
	})
	j := e.submit(store.NewJob{Kind: "bad", MaxAttempts: 5})
	e.start(jobs.PoolOptions{Workers: 1})
	done := e.waitStatus(j.ID, store.StatusFailed)
	if done.Attempts != 1 || len(runs) != 1 || done.Error != "policy.yaml:3: unknown key" {
		t.Errorf("job = %d attempts, %d runs, error %q; want one attempt with the error", done.Attempts, len(runs), done.Error)
	}
}

// TestChildrenCountedAdded: what a parent counted itself before handing
// the rest to children (Children.Counted) is added to its children's
// counts when it finishes.
func TestChildrenCountedAdded(t *testing.T) {
	e := newEnv(t)
	e.register("parent", func(context.Context, store.Job, jobs.Progress) (json.RawMessage, error) {
		return nil, &jobs.Children{Jobs: []store.NewJob{{Kind: "child"}},
			Counted: json.RawMessage(`{"files":4,"planned":3,"unchanged":1}`)}
	})
	e.register("child", func(context.Context, store.Job, jobs.Progress) (json.RawMessage, error) {
		return json.RawMessage(`{"outcome":"planned"}`), nil
	})
	parent := e.submit(store.NewJob{Kind: "parent"})
	e.start(jobs.PoolOptions{Workers: 1})
	done := e.waitStatus(parent.ID, store.StatusCompleted)
	var counts map[string]int
	if err := json.Unmarshal(done.Result, &counts); err != nil || counts["files"] != 5 || counts["planned"] != 4 ||
		counts["unchanged"] != 1 {
		t.Errorf("parent result = %s, %v; want 5 files, 4 planned, 1 unchanged", done.Result, err)
	}
}
