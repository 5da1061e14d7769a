package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/vpo-project/vpo/libs/store"
)

func mustPlan(t *testing.T, s *store.Store, p store.Plan) store.Plan {
	t.Helper()
	if p.Plan == nil {
		p.Plan = json.RawMessage(`{"policy":"p","changes":[]}`)
	}
	out, err := s.CreatePlan(context.Background(), p, t0)
	if err != nil {
		t.Fatalf("CreatePlan: %v", err)
	}
	return out
}

func TestPlansListFilterAndPaging(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	mtime := t0.Add(-time.Hour).Add(123 * time.Nanosecond)
	for i := 0; i < 5; i++ {
		st := store.PlanPending
		if i%2 == 1 {
			st = store.PlanPlanned
		}
		mustPlan(t, s, store.Plan{JobID: "j", Policy: "p", Path: "/m/a.mkv", Status: st, FileSize: 7, FileMTime: mtime})
	}
	mustPlan(t, s, store.Plan{JobID: "j2", Policy: "q", Path: "/m/b.mkv", Status: store.PlanPending})
	cases := []struct {
		name string
		f    store.PlanFilter
		want int
	}{
		{"all", store.PlanFilter{}, 6},
		{"status", store.PlanFilter{Status: store.PlanPending}, 4},
		{"path", store.PlanFilter{Path: "/m/b.mkv"}, 1},
		{"policy", store.PlanFilter{Policy: "p"}, 5},
		{"job", store.PlanFilter{JobID: "j2"}, 1},
		{"paged", store.PlanFilter{Limit: 2}, 6},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var all []store.Plan
			f := tc.f
			for {
				page, next, err := s.ListPlans(ctx, f)
				if err != nil {
					t.Fatal(err)
				}
				all = append(all, page...)
				if next == "" {
					break
				}
				f.Cursor = next
			}
			if len(all) != tc.want {
				t.Fatalf("%d plans, want %d", len(all), tc.want)
			}
			for i := 1; i < len(all); i++ {
				if all[i].ID >= all[i-1].ID {
					t.Fatalf("not newest first: %d after %d", all[i].ID, all[i-1].ID)
				}
			}
		})
	}
	first, _, _ := s.ListPlans(ctx, store.PlanFilter{Path: "/m/a.mkv", Limit: 1})
	if !first[0].FileMTime.Equal(mtime) || first[0].FileSize != 7 {
		t.Errorf("file state = %d %v; want 7 %v", first[0].FileSize, first[0].FileMTime, mtime)
	}
	for _, f := range []store.PlanFilter{{Status: "nope"}, {Cursor: "x"}, {Limit: -1}} {
		if _, _, err := s.ListPlans(ctx, f); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("ListPlans(%+v) = %v; want ErrInvalid", f, err)
		}
	}
}

func TestApproveAndRejectPlan(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	p := mustPlan(t, s, store.Plan{JobID: "j", Policy: "p", Path: "/m/a.mkv", Status: store.PlanPending})
	approved, job, err := s.ApprovePlan(ctx, p.ID, store.NewJob{Kind: "apply", Payload: json.RawMessage(`{"plan_id":1}`)}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if approved.Status != store.PlanApproved || approved.ApplyJobID != job.ID || mustGet(t, s, job.ID).Kind != "apply" {
		t.Errorf("approved = %+v, job %s", approved, job.ID)
	}
	if _, _, err := s.ApprovePlan(ctx, p.ID, store.NewJob{Kind: "apply"}, t0); !errors.Is(err, store.ErrConflict) {
		t.Errorf("second approval = %v; want ErrConflict", err)
	}
	if n, _ := s.CountQueued(ctx); n != 1 {
		t.Errorf("%d jobs queued; a refused approval must enqueue nothing", n)
	}
	if _, err := s.SetPlanStatus(ctx, p.ID, []string{store.PlanPending}, store.PlanRejected, "", t0); !errors.Is(err, store.ErrConflict) {
		t.Errorf("reject of an approved plan = %v; want ErrConflict", err)
	}
	q := mustPlan(t, s, store.Plan{JobID: "j", Policy: "p", Path: "/m/b.mkv", Status: store.PlanPending})
	if r, err := s.SetPlanStatus(ctx, q.ID, []string{store.PlanPending}, store.PlanRejected, "", t0); err != nil || r.Status != store.PlanRejected {
		t.Errorf("reject = %+v, %v", r, err)
	}
	if _, _, err := s.ApprovePlan(ctx, 999, store.NewJob{Kind: "apply"}, t0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("approve of an unknown plan = %v; want ErrNotFound", err)
	}
}

func TestRecordAppliedMovesFileAndKeepsHistory(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	old := store.File{Path: "/m/a.mp4", Size: 10, ModTime: t0, Container: "mp4", LastScannedAt: t0}
	if err := s.UpsertFile(ctx, old); err != nil {
		t.Fatal(err)
	}
	before := getFile(t, s, old.Path)
	p := mustPlan(t, s, store.Plan{JobID: "j", Policy: "p", Path: old.Path, Status: store.PlanApproved})
	now := store.File{Path: "/m/a.mkv", Size: 12, ModTime: t0.Add(time.Second), Container: "matroska",
		LastScannedAt: t0, Probe: json.RawMessage(`{"format":{},"streams":[]}`), ProbedAt: t0}
	err := s.RecordApplied(ctx, store.AppliedChange{PlanID: p.ID, OldPath: old.Path, File: now,
		History: store.HistoryEntry{Policy: "p", JobID: "j", Executor: "mkvmerge", Plan: p.Plan,
			TracksBefore: json.RawMessage(`[{"index":0}]`), TracksAfter: json.RawMessage(`[]`)}}, t0)
	if err != nil {
		t.Fatal(err)
	}
	moved, err := s.GetFileByID(ctx, before.ID)
	if err != nil || moved.Path != now.Path || moved.Size != 12 {
		t.Fatalf("file %d = %+v, %v; want moved to %s", before.ID, moved, err, now.Path)
	}
	if _, err := s.GetFile(ctx, old.Path); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("old path still has a row: %v", err)
	}
	if got, _ := s.GetPlan(ctx, p.ID); got.Status != store.PlanApplied {
		t.Errorf("plan = %s; want applied", got.Status)
	}
	h, err := s.ListHistory(ctx, before.ID)
	if err != nil || len(h) != 1 || h[0].Executor != "mkvmerge" || string(h[0].TracksBefore) != `[{"index":0}]` {
		t.Fatalf("history = %+v, %v", h, err)
	}
	if _, err := s.GetFileByID(ctx, 424242); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown id = %v; want ErrNotFound", err)
	}
}

// TestFileIDsSurviveVacuum: ids are a column, not the rowid.
func TestFileIDsSurviveVacuum(t *testing.T) {
	sqliteOnly(t)
	ctx := context.Background()
	s, path := openTestStorePath(t)
	for _, p := range []string{"/m/c.mkv", "/m/a.mkv", "/m/b.mkv"} {
		if err := s.UpsertFile(ctx, store.File{Path: p, LastScannedAt: t0}); err != nil {
			t.Fatal(err)
		}
	}
	ids := map[string]int64{}
	files, _, _ := s.ListFiles(ctx, 0, "")
	for _, f := range files {
		ids[f.Path] = f.ID
	}
	if len(ids) != 3 || ids["/m/c.mkv"] != 1 || ids["/m/b.mkv"] != 3 {
		t.Fatalf("ids = %v; want 1, 2, 3 in insertion order", ids)
	}
	db := rawDB(t, path)
	if _, err := db.Exec("VACUUM"); err != nil {
		t.Fatal(err)
	}
	for p, id := range ids {
		if f, err := s.GetFileByID(ctx, id); err != nil || f.Path != p {
			t.Errorf("after VACUUM file %d = %q, %v; want %q", id, f.Path, err, p)
		}
	}
}
