package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/vpo-project/vpo/libs/store"
)

// TestCreatePlansBatch: CreatePlans stores every plan of a batch, and a
// batch with one bad plan stores none and names it.
func TestCreatePlansBatch(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	plans := make([]store.Plan, 1200)
	for i := range plans {
		plans[i] = store.Plan{JobID: "j", Policy: "p", Path: fmt.Sprintf("/m/%04d.mkv", i), Status: store.PlanPlanned,
			DryRun: true, Plan: json.RawMessage(`{"changes":[]}`), FileSize: int64(i), FileMTime: t0}
	}
	if err := s.CreatePlans(ctx, plans, t0); err != nil {
		t.Fatalf("CreatePlans: %v", err)
	}
	got, _, err := s.ListPlans(ctx, store.PlanFilter{JobID: "j", Path: "/m/0042.mkv"})
	if err != nil || len(got) != 1 || got[0].FileSize != 42 || !got[0].DryRun || got[0].Status != store.PlanPlanned ||
		!got[0].FileMTime.Equal(t0) || got[0].ID == 0 {
		t.Fatalf("stored plan = %+v, %v", got, err)
	}
	n := 0
	for cursor := ""; ; {
		page, next, err := s.ListPlans(ctx, store.PlanFilter{JobID: "j", Limit: 500, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		n += len(page)
		if next == "" {
			break
		}
		cursor = next
	}
	if n != len(plans) {
		t.Fatalf("%d plans stored, want %d", n, len(plans))
	}

	bad := []store.Plan{
		{JobID: "k", Policy: "p", Path: "/m/ok.mkv", Status: store.PlanPlanned, Plan: json.RawMessage(`{}`)},
		{JobID: "k", Policy: "p", Path: "/m/bad.mkv", Status: "bogus", Plan: json.RawMessage(`{}`)},
	}
	err = s.CreatePlans(ctx, bad, t0)
	if !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), "item 1") || !strings.Contains(err.Error(), "/m/bad.mkv") {
		t.Fatalf("CreatePlans with a bad plan = %v; want ErrInvalid naming item 1 and its path", err)
	}
	if got, _, _ := s.ListPlans(ctx, store.PlanFilter{JobID: "k"}); len(got) != 0 {
		t.Fatalf("a failed batch stored %d plans, want none", len(got))
	}
}

// TestFilesByPath: the rows of the recorded paths come back (also past
// one query's worth of paths); unknown paths are left out.
func TestFilesByPath(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	n := store.MaxFilesByPath + 20
	files := make([]store.File, n)
	paths := make([]string, 0, n+1)
	for i := range files {
		files[i] = store.File{Path: fmt.Sprintf("/lib/%04d.mkv", i), Size: int64(i + 1), ModTime: t0, LastScannedAt: t0,
			Probe: json.RawMessage(`{"streams":[]}`), ProbedAt: t0}
		paths = append(paths, files[i].Path)
	}
	if err := s.UpsertFiles(ctx, files); err != nil {
		t.Fatal(err)
	}
	paths = append(paths, "/lib/unknown.mkv")
	got, err := s.FilesByPath(ctx, paths)
	if err != nil {
		t.Fatalf("FilesByPath: %v", err)
	}
	if len(got) != n {
		t.Fatalf("%d rows, want %d", len(got), n)
	}
	last := got[files[n-1].Path]
	if last.Size != int64(n) || !last.ModTime.Equal(t0) || !last.Probed() || string(last.Probe) != `{"streams":[]}` || last.ID == 0 {
		t.Errorf("row of the last file = %+v", last)
	}
	if _, ok := got["/lib/unknown.mkv"]; ok {
		t.Error("an unknown path has a row")
	}
	if empty, err := s.FilesByPath(ctx, nil); err != nil || len(empty) != 0 {
		t.Errorf("FilesByPath(nil) = %v, %v", empty, err)
	}
}

// TestAwaitChildrenAddsCounted: a parent that did part of its work itself
// finishes with its own counts plus its children's.
func TestAwaitChildrenAddsCounted(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	parent := mustCreate(t, s, store.NewJob{Kind: "k"})
	claimed := mustClaim(t, s, "w", t0)
	kids := []store.NewJob{{Kind: "x", MaxAttempts: 1}, {Kind: "x", MaxAttempts: 1}}
	counted := json.RawMessage(`{"files":5,"unchanged":2,"planned":3}`)
	if err := s.AwaitChildren(ctx, claimed.Lease(), kids, counted, t0); err != nil {
		t.Fatalf("AwaitChildren: %v", err)
	}
	if p := mustGet(t, s, parent.ID); string(p.Result) != string(counted) {
		t.Errorf("waiting parent's result = %s, want its own counts %s", p.Result, counted)
	}
	for i, out := range []string{`{"outcome":"planned"}`, ""} {
		c := mustClaim(t, s, "w", t0)
		var err error
		if out == "" {
			err = s.FailJob(ctx, c.Lease(), "probe failed", t0)
		} else {
			err = s.CompleteJob(ctx, c.Lease(), json.RawMessage(out), t0)
		}
		if err != nil {
			t.Fatalf("child %d: %v", i, err)
		}
	}
	p := mustGet(t, s, parent.ID)
	var counts map[string]int
	if err := json.Unmarshal(p.Result, &counts); err != nil {
		t.Fatalf("parent result %s: %v", p.Result, err)
	}
	want := map[string]int{"files": 7, "unchanged": 2, "applied": 0, "planned": 4, "pending_approval": 0, "skipped": 0, "failed": 1}
	for k, v := range want {
		if counts[k] != v {
			t.Errorf("result[%s] = %d, want %d (result %s)", k, counts[k], v, p.Result)
		}
	}
	if p.Status != store.StatusCompleted {
		t.Errorf("parent status %s, want completed", p.Status)
	}

	other := mustCreate(t, s, store.NewJob{Kind: "k"})
	c := mustClaim(t, s, "w", t0)
	if c.ID != other.ID {
		t.Fatalf("claimed %s, want %s", c.ID, other.ID)
	}
	if err := s.AwaitChildren(ctx, c.Lease(), kids, json.RawMessage(`[1]`), t0); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("AwaitChildren with counts that are not an object = %v, want ErrInvalid", err)
	}
}
