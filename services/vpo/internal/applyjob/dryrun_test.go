package applyjob_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vpo-project/vpo/libs/jobs"
	"github.com/vpo-project/vpo/libs/store"
	"github.com/vpo-project/vpo/services/vpo/internal/applyjob"
)

// engOnlyJSON is ffprobe's answer for a file the eng policy leaves alone.
const engOnlyJSON = `{"format":{"format_name":"matroska,webm","duration":"2.0"},"streams":[
 {"index":0,"codec_type":"video","codec_name":"h264","width":160,"height":120},
 {"index":1,"codec_type":"audio","codec_name":"aac","channels":2,"tags":{"language":"eng"}}]}`

// scanned writes a file at path and stores its row as a scan would (probe
// is ffprobe's JSON for it).
func scanned(t *testing.T, st *store.Store, path, probe string) {
	t.Helper()
	if err := os.WriteFile(path, []byte("video "+filepath.Base(path)), 0o644); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	reduced, err := store.ReduceProbe([]byte(probe))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.UpsertFile(context.Background(), store.File{Path: path, Size: fi.Size(), ModTime: fi.ModTime(),
		LastScannedAt: time.Now(), Probe: reduced, ProbedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
}

func counts(t *testing.T, raw json.RawMessage) map[string]int {
	t.Helper()
	var c map[string]int
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatalf("counts %s: %v", raw, err)
	}
	for _, k := range []string{"files", "unchanged", "applied", "planned", "pending_approval", "skipped", "failed"} {
		if _, ok := c[k]; !ok {
			t.Errorf("counts %s lack %q", raw, k)
		}
	}
	return c
}

func wantCounts(t *testing.T, what string, got, want map[string]int) {
	t.Helper()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %s = %d, want %d (counts %v)", what, k, got[k], v, got)
		}
	}
}

// TestDryRunOfScannedDirectoryIsInline: a dry run over a directory whose
// files all have a stored probe that still matches runs no probe, creates
// no child job, stores one plan per file and completes with its counts.
func TestDryRunOfScannedDirectoryIsInline(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, applyjob.Settings{})
	lib := filepath.Dir(f.file)
	scanned(t, f.st, f.file, probeJSON)
	scanned(t, f.st, filepath.Join(lib, "b.mkv"), engOnlyJSON)
	if err := os.MkdirAll(filepath.Join(lib, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	scanned(t, f.st, filepath.Join(lib, "sub", "c.mp4"), probeJSON)

	parent, res, err := f.run(t, fmt.Sprintf(`{"policy":"eng","path":%q,"dry_run":true}`, lib))
	if err != nil {
		t.Fatalf("dry run returned %v; want a result without child jobs", err)
	}
	wantCounts(t, "result", counts(t, res), map[string]int{"files": 3, "planned": 2, "unchanged": 1, "failed": 0})
	if f.exec.probes != 0 || f.exec.applies != 0 {
		t.Errorf("%d probes, %d applies; want none", f.exec.probes, f.exec.applies)
	}
	kids, _, err := f.st.ListJobs(ctx, store.JobFilter{Parent: parent.ID})
	if err != nil || len(kids) != 0 {
		t.Errorf("child jobs = %d, %v; want none", len(kids), err)
	}
	plans, _, err := f.st.ListPlans(ctx, store.PlanFilter{JobID: parent.ID})
	if err != nil || len(plans) != 3 {
		t.Fatalf("plans of the job = %d, %v; want 3", len(plans), err)
	}
	for _, p := range plans {
		fi, _ := os.Stat(p.Path)
		if p.Status != store.PlanPlanned || !p.DryRun || p.Policy != "eng" || p.FileSize != fi.Size() || !p.FileMTime.Equal(fi.ModTime()) {
			t.Errorf("plan %+v; want a planned dry-run plan of the file's size and mtime", p)
		}
	}
}

// TestDryRunProbesOnlyChangedFiles: in a dry run over a directory, a file
// changed since its scan and a file never scanned go to child jobs (which
// probe them); the others are planned by the parent without a probe; the
// parent's counts, once its children end, cover every file.
func TestDryRunProbesOnlyChangedFiles(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, applyjob.Settings{})
	lib := filepath.Dir(f.file)
	scanned(t, f.st, f.file, probeJSON)
	unchanged := filepath.Join(lib, "b.mkv")
	scanned(t, f.st, unchanged, engOnlyJSON)
	changed := filepath.Join(lib, "c.mkv")
	scanned(t, f.st, changed, probeJSON)
	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(changed, later, later); err != nil {
		t.Fatal(err)
	}
	fresh := filepath.Join(lib, "d.mkv")
	if err := os.WriteFile(fresh, []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}

	parent, _, err := f.run(t, fmt.Sprintf(`{"policy":"eng","path":%q,"dry_run":true}`, lib))
	var ch *jobs.Children
	if !errors.As(err, &ch) {
		t.Fatalf("dry run returned %v; want a hand-off of the changed and new files", err)
	}
	if f.exec.probes != 0 {
		t.Errorf("the parent ran %d probes, want none", f.exec.probes)
	}
	var kidPaths []string
	for _, k := range ch.Jobs {
		var p applyjob.Payload
		if err := json.Unmarshal(k.Payload, &p); err != nil || !p.DryRun || p.Policy != "eng" {
			t.Fatalf("child payload %s, %v", k.Payload, err)
		}
		kidPaths = append(kidPaths, p.Path)
	}
	if len(kidPaths) != 2 || kidPaths[0] != changed || kidPaths[1] != fresh {
		t.Fatalf("children for %v, want [%s %s]", kidPaths, changed, fresh)
	}
	wantCounts(t, "parent's own counts", counts(t, ch.Counted), map[string]int{"files": 2, "planned": 1, "unchanged": 1})

	// What the pool does with the hand-off, then the children run.
	if err := f.st.AwaitChildren(ctx, parent.Lease(), ch.Jobs, ch.Counted, time.Now()); err != nil {
		t.Fatal(err)
	}
	for range ch.Jobs {
		child, ok, err := f.st.ClaimJob(ctx, "w", []string{applyjob.Kind}, time.Minute, time.Now())
		if !ok || err != nil {
			t.Fatal(ok, err)
		}
		res, err := f.h.Run(ctx, child, noProgress{})
		if err != nil {
			t.Fatalf("child %s: %v", child.Payload, err)
		}
		if err := f.st.CompleteJob(ctx, child.Lease(), res, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if f.exec.probes != 2 {
		t.Errorf("%d probes in all, want 2 (the changed and the new file)", f.exec.probes)
	}
	p, err := f.st.GetJob(ctx, parent.ID)
	if err != nil || p.Status != store.StatusCompleted {
		t.Fatalf("parent = %s, %v; want completed", p.Status, err)
	}
	wantCounts(t, "parent's result", counts(t, p.Result), map[string]int{"files": 4, "planned": 3, "unchanged": 1,
		"failed": 0, "applied": 0, "skipped": 0, "pending_approval": 0})
}

// cancelOnReport cancels the job's context at its first progress report.
type cancelOnReport struct{ cancel context.CancelFunc }

func (c cancelOnReport) Report(float64, string) { c.cancel() }

func (c cancelOnReport) ReportETA(float64, string, time.Duration) { c.cancel() }

// TestDryRunCancelledBetweenBatches: a dry run cancelled while it plans
// stops at the end of the batch it is in, its plans stored by whole
// batches.
func TestDryRunCancelledBetweenBatches(t *testing.T) {
	bg := context.Background()
	f := newFixture(t, applyjob.Settings{})
	lib := filepath.Dir(f.file)
	if err := os.Remove(f.file); err != nil {
		t.Fatal(err)
	}
	reduced, err := store.ReduceProbe([]byte(probeJSON))
	if err != nil {
		t.Fatal(err)
	}
	var rows []store.File
	for i := 0; i < applyjob.DryRunBatch+1; i++ {
		path := filepath.Join(lib, fmt.Sprintf("f%04d.mkv", i))
		if err := os.WriteFile(path, []byte("v"), 0o644); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, store.File{Path: path, Size: fi.Size(), ModTime: fi.ModTime(), LastScannedAt: time.Now(),
			Probe: reduced, ProbedAt: time.Now()})
	}
	if err := f.st.UpsertFiles(bg, rows); err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.CreateJob(bg, store.NewJob{Kind: applyjob.Kind, MaxAttempts: 1,
		Payload: json.RawMessage(fmt.Sprintf(`{"policy":"eng","path":%q,"dry_run":true}`, lib))}); err != nil {
		t.Fatal(err)
	}
	j, _, err := f.st.ClaimJob(bg, "w", []string{applyjob.Kind}, time.Minute, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(bg)
	defer cancel()
	if _, err := f.h.Run(ctx, j, cancelOnReport{cancel}); !errors.Is(err, context.Canceled) {
		t.Fatalf("dry run cancelled during its first batch = %v, want context.Canceled", err)
	}
	plans, _, err := f.st.ListPlans(bg, store.PlanFilter{JobID: j.ID, Limit: store.MaxListLimit})
	// The first batch's write, under way when the job was cancelled, is
	// stored whole or not at all; the second batch is never planned.
	if err != nil || (len(plans) != 0 && len(plans) != applyjob.DryRunBatch) {
		t.Errorf("plans stored = %d, %v; want none or the first batch's %d", len(plans), err, applyjob.DryRunBatch)
	}
}
