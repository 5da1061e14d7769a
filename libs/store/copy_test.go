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

// TestCopyToPostgres fills a SQLite store with every kind of row, copies it
// into a new PostgreSQL database, and checks that the PostgreSQL store
// shows the same jobs, files (a name that is not UTF-8 included), plans,
// logs, events and pause, that a second copy adds nothing, and that new
// rows are numbered after the copied ones.
func TestCopyToPostgres(t *testing.T) {
	if !onPostgres() {
		t.Skip("copies into PostgreSQL: runs in the PostgreSQL run of this suite")
	}
	ctx := context.Background()
	src, _ := openTestStorePath(t)
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	var ids []string
	for i := 0; i < 25; i++ {
		ids = append(ids, mustCreate(t, src, store.NewJob{Kind: "k", Payload: json.RawMessage(fmt.Sprintf(`{"path":"/m/%d.mkv"}`, i))}).ID)
	}
	done := mustClaim(t, src, "w", now)
	if err := src.CompleteJob(ctx, done.Lease(), json.RawMessage(`{"files":1}`), now); err != nil {
		t.Fatal(err)
	}
	running := mustClaim(t, src, "w", now)
	if err := src.UpdateProgress(ctx, running.Lease(), 40, "half", time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := src.AppendJobLogs(ctx, []store.LogLine{{JobID: running.ID, At: now, Level: "info", Line: "hello"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := src.CancelJob(ctx, ids[24], now); err != nil {
		t.Fatal(err)
	}
	odd := "/m/caf\xe9 \\ x.mkv"
	if err := src.UpsertFiles(ctx, []store.File{{Path: odd, Size: 7, LastScannedAt: now}, {Path: "/m/a.mkv", Size: 9, LastScannedAt: now}}); err != nil {
		t.Fatal(err)
	}
	plan := mustPlan(t, src, store.Plan{JobID: done.ID, Policy: "p", Path: odd, Status: store.PlanPending})
	if err := src.SetQueueState(ctx, store.QueueState{Paused: true, ChangedAt: now}); err != nil {
		t.Fatal(err)
	}

	dst := openTestStore(t)
	// A source with a running job is still in use: refused.
	if _, err := src.CopyTo(ctx, dst); !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), "running") {
		t.Fatalf("CopyTo with a running job = %v, want ErrInvalid naming the running job", err)
	}
	if err := src.RequeueInterrupted(ctx, running.Lease(), now); err != nil {
		t.Fatal(err)
	}
	counts, err := src.CopyTo(ctx, dst)
	if err != nil {
		t.Fatalf("CopyTo: %v", err)
	}
	for _, c := range counts {
		if c.Source != c.Target || c.Copied != c.Source {
			t.Errorf("table %s: source %d, target %d, copied %d", c.Table, c.Source, c.Target, c.Copied)
		}
	}
	for _, id := range []string{done.ID, running.ID, ids[24], ids[10]} {
		// (the running job was requeued above)
		a, _ := json.Marshal(mustGet(t, src, id))
		b, _ := json.Marshal(mustGet(t, dst, id))
		if string(a) != string(b) {
			t.Errorf("job %s:\nSQLite     %s\nPostgreSQL %s", id, a, b)
		}
	}
	if f, err := dst.GetFile(ctx, odd); err != nil || f.Size != 7 {
		t.Errorf("file %q in PostgreSQL = %+v, %v", odd, f, err)
	}
	if p, err := dst.GetPlan(ctx, plan.ID); err != nil || p.Path != odd || p.Status != store.PlanPending {
		t.Errorf("plan %d in PostgreSQL = %+v, %v", plan.ID, p, err)
	}
	if l, err := dst.JobLog(ctx, running.ID, 0, 10); err != nil || len(l) != 1 || l[0].Line != "hello" {
		t.Errorf("job log in PostgreSQL = %+v, %v", l, err)
	}
	if q, err := dst.QueueState(ctx); err != nil || !q.Paused {
		t.Errorf("queue state in PostgreSQL = %+v, %v", q, err)
	}
	se, _ := src.EventsAfter(ctx, 0, 1000)
	de, _ := dst.EventsAfter(ctx, 0, 1000)
	if len(se) == 0 || len(se) != len(de) || se[len(se)-1].ID != de[len(de)-1].ID {
		t.Errorf("events: %d in SQLite, %d in PostgreSQL", len(se), len(de))
	}
	want, _ := src.CountJobs(ctx)
	if got, err := dst.CountJobs(ctx); err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("job counts in PostgreSQL = %v, %v; want %v", got, err, want)
	}

	again, err := src.CopyTo(ctx, dst)
	if err != nil {
		t.Fatalf("second CopyTo: %v", err)
	}
	for _, c := range again {
		if c.Copied != 0 || c.Source != c.Target {
			t.Errorf("second copy, table %s: copied %d (want 0), source %d, target %d", c.Table, c.Copied, c.Source, c.Target)
		}
	}
	// A second run after the source changed brings the target in line.
	again2 := mustClaim(t, src, "w", now)
	if err := src.CompleteJob(ctx, again2.Lease(), nil, now); err != nil {
		t.Fatal(err)
	}
	if _, err := src.CopyTo(ctx, dst); err != nil {
		t.Fatalf("CopyTo after a change: %v", err)
	}
	if j := mustGet(t, dst, again2.ID); j.Status != store.StatusCompleted {
		t.Errorf("job completed in the source after the first copy is %s in the target, want completed", j.Status)
	}
	want, _ = src.CountJobs(ctx)
	if got, _ := dst.CountJobs(ctx); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("job counts after the second copy = %v, want %v", got, want)
	}
	// A target holding other data is refused, unchanged.
	used := openTestStore(t)
	mustCreate(t, used, store.NewJob{Kind: "k"})
	if _, err := src.CopyTo(ctx, used); err == nil || !strings.Contains(err.Error(), "other data") {
		t.Errorf("CopyTo into a database in use = %v, want an error saying it holds other data", err)
	}
	if n, _ := used.CountJobs(ctx); n[store.StatusQueued] != 1 || n[store.StatusCompleted] != 0 {
		t.Errorf("the database in use after the refused copy counts %v, want its one queued job only", n)
	}
	// New rows come after the copied ones.
	j := mustCreate(t, dst, store.NewJob{Kind: "k"})
	jobs, _, err := dst.ListJobs(ctx, store.JobFilter{Limit: 1})
	if err != nil || len(jobs) != 1 || jobs[0].ID != j.ID {
		t.Errorf("newest job after the copy = %v, %v; want the new job %s", jobs, err, j.ID)
	}
	if p := mustPlan(t, dst, store.Plan{JobID: j.ID, Policy: "p", Path: "/m/a.mkv", Status: store.PlanPlanned}); p.ID <= plan.ID {
		t.Errorf("new plan id %d, want above the copied %d", p.ID, plan.ID)
	}
	if e, _ := dst.EventsAfter(ctx, de[len(de)-1].ID, 10); len(e) == 0 {
		t.Error("creating a job after the copy added no event after the copied ones")
	}

	// The copy runs in one transaction: one that fails leaves the
	// target as it was.
	other := openTestStore(t)
	if _, err := other.Raw().Exec("ALTER TABLE job_logs ADD CONSTRAINT no_hello CHECK (line <> 'hello')"); err != nil {
		t.Fatal(err)
	}
	if _, err := src.CopyTo(ctx, other); err == nil {
		t.Fatal("CopyTo into a database that refuses a row succeeded")
	}
	if n, err := other.CountJobs(ctx); err != nil || n[store.StatusQueued] != 0 {
		t.Errorf("after a failed copy the target counts %v, %v; want nothing", n, err)
	}
	if _, err := dst.CopyTo(ctx, src); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("CopyTo from PostgreSQL to SQLite = %v, want ErrInvalid", err)
	}
}
