package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vpo-project/vpo/libs/store"
)

func TestCreateUniqueJobKeepsOneQueuedJobPerKey(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	key := store.ApplyKey("normalize", "/lib/a.mkv")
	nj := store.NewJob{Kind: "k", Payload: json.RawMessage(`{"n":1}`), UniqueKey: key}
	first, created, err := s.CreateUniqueJob(ctx, nj)
	if err != nil || !created {
		t.Fatalf("first CreateUniqueJob = %v, %v; want a new job", created, err)
	}
	nj.Payload = json.RawMessage(`{"n":2}`)
	again, created, err := s.CreateUniqueJob(ctx, nj)
	if err != nil || created || again.ID != first.ID {
		t.Fatalf("second CreateUniqueJob = %s, %v, %v; want the queued job %s", again.ID, created, err, first.ID)
	}
	other, created, err := s.CreateUniqueJob(ctx, store.NewJob{Kind: "k", UniqueKey: store.ApplyKey("other", "/lib/a.mkv")})
	if err != nil || !created || other.ID == first.ID {
		t.Fatalf("another policy's key = %s, %v, %v; want a new job", other.ID, created, err)
	}
	// Once the holder runs, the key is free: a change seen meanwhile must
	// queue a new job.
	if running, err := s.UniqueJobRunning(ctx, key); err != nil || running {
		t.Fatalf("UniqueJobRunning of a queued job = %v, %v", running, err)
	}
	if got := mustClaim(t, s, "w", t0); got.ID != first.ID {
		t.Fatalf("claimed %s, want %s", got.ID, first.ID)
	}
	if running, err := s.UniqueJobRunning(ctx, key); err != nil || !running {
		t.Fatalf("UniqueJobRunning of the claimed job = %v, %v", running, err)
	}
	next, created, err := s.CreateUniqueJob(ctx, nj)
	if err != nil || !created || next.ID == first.ID {
		t.Fatalf("CreateUniqueJob while the holder runs = %s, %v, %v; want a new job", next.ID, created, err)
	}
	counts, err := s.CountJobs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if counts["queued"] != 2 || counts["running"] != 1 {
		t.Fatalf("job counts = %v, want 2 queued and 1 running", counts)
	}
}

func TestCreateUniqueJobConcurrent(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	key := store.ScanKey("/lib")
	var wg sync.WaitGroup
	ids := make(chan string, 20)
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			j, _, err := s.CreateUniqueJob(ctx, store.NewJob{Kind: "k", UniqueKey: key})
			if err != nil {
				t.Error(err)
				return
			}
			ids <- j.ID
		}()
	}
	wg.Wait()
	close(ids)
	seen := map[string]bool{}
	for id := range ids {
		seen[id] = true
	}
	if len(seen) != 1 {
		t.Fatalf("20 concurrent CreateUniqueJob made %d jobs, want 1", len(seen))
	}
}

func TestFilesToApply(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	mt := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	var files []store.File
	for _, p := range []string{"/lib/a.mkv", "/lib/b.mkv", "/lib/c.mkv", "/lib/sub/d.mkv", "/lib2/e.mkv", "/lib/gone.mkv"} {
		files = append(files, store.File{Path: p, Size: 10, ModTime: mt, LastScannedAt: mt})
	}
	if err := s.UpsertFiles(ctx, files); err != nil {
		t.Fatal(err)
	}
	if _, err := s.MarkMissingPaths(ctx, []string{"/lib/gone.mkv"}, mt.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	// a.mkv: applied at its current content; b.mkv: applied, then changed;
	// c.mkv: applied under another policy only.
	if err := s.MarkApplied(ctx, "/lib/a.mkv", "p", 10, mt, mt); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkApplied(ctx, "/lib/b.mkv", "p", 9, mt, mt); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkApplied(ctx, "/lib/c.mkv", "q", 10, mt, mt); err != nil {
		t.Fatal(err)
	}
	var got []string
	after := ""
	for {
		page, err := s.FilesToApply(ctx, "/lib", "p", after, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, f := range page {
			got = append(got, f.Path)
			if f.Size != 10 || !f.ModTime.Equal(mt) {
				t.Errorf("%s: size %d mtime %v, want 10 %v", f.Path, f.Size, f.ModTime, mt)
			}
		}
		after = page[len(page)-1].Path
	}
	want := []string{"/lib/b.mkv", "/lib/c.mkv", "/lib/sub/d.mkv"}
	if len(got) != len(want) {
		t.Fatalf("FilesToApply = %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("FilesToApply = %q, want %q", got, want)
		}
	}
	size, when, ok, err := s.AppliedState(ctx, "/lib/a.mkv", "p")
	if err != nil || !ok || size != 10 || !when.Equal(mt) {
		t.Fatalf("AppliedState = %d %v %v %v", size, when, ok, err)
	}
	if _, _, ok, err := s.AppliedState(ctx, "/lib/a.mkv", "q"); err != nil || ok {
		t.Fatalf("AppliedState of a policy never applied = %v %v", ok, err)
	}
}

func TestQueueStateSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	open, _ := newDatabase(t)
	s, err := open()
	if err != nil {
		t.Fatal(err)
	}
	q, err := s.QueueState(ctx)
	if err != nil || q.Paused || !q.ChangedAt.IsZero() {
		t.Fatalf("initial queue state = %+v, %v; want running, never changed", q, err)
	}
	at := time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC)
	if err := s.SetQueueState(ctx, store.QueueState{Paused: true, Drain: true, ChangedAt: at}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := open()
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	q, err = s2.QueueState(ctx)
	if err != nil || !q.Paused || !q.Drain || !q.ChangedAt.Equal(at) {
		t.Fatalf("queue state after reopen = %+v, %v; want paused with drain at %v", q, err, at)
	}
	if err := s2.SetQueueState(ctx, store.QueueState{Drain: true}); err != nil {
		t.Fatal(err)
	}
	if q, _ = s2.QueueState(ctx); q.Paused || q.Drain {
		t.Fatalf("queue state after resume = %+v; want neither paused nor draining", q)
	}
}

func TestLastScan(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	if _, ok, err := s.LastScan(ctx, "/lib"); err != nil || ok {
		t.Fatalf("LastScan with no scans = %v, %v", ok, err)
	}
	for _, root := range []string{"/lib", "/lib/sub"} {
		if _, err := s.CreateJob(ctx, store.NewJob{Kind: "scan", Payload: json.RawMessage(`{"path":"` + root + `"}`)}); err != nil {
			t.Fatal(err)
		}
	}
	first, ok, err := s.ClaimJob(ctx, "w", []string{"scan"}, time.Minute, t0)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	done := t0.Add(time.Minute)
	if err := s.CompleteJob(ctx, first.Lease(), json.RawMessage(`{}`), done); err != nil {
		t.Fatal(err)
	}
	at, ok, err := s.LastScan(ctx, "/lib")
	if err != nil || !ok || !at.Equal(done) {
		t.Fatalf("LastScan(/lib) = %v, %v, %v; want %v", at, ok, err, done)
	}
	if _, ok, _ := s.LastScan(ctx, "/lib/sub"); ok {
		t.Fatal("LastScan(/lib/sub) found a scan that did not complete")
	}
}

// TestRecordAppliedMarksPolicy: RecordApplied with a Policy records, in
// its transaction, the policy as applied to the file's new path at its
// new size and mtime; without one it records nothing.
func TestRecordAppliedMarksPolicy(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	mtime := time.Date(2026, 12, 2, 6, 0, 0, 123456789, time.UTC)
	for _, p := range []string{"/lib/a.mkv", "/lib/b.mkv"} {
		if err := s.UpsertFile(ctx, store.File{Path: p, Size: 10, ModTime: mtime, LastScannedAt: mtime}); err != nil {
			t.Fatal(err)
		}
	}
	after := store.File{Path: "/lib/a.mp4", Size: 9, ModTime: mtime.Add(time.Second), LastScannedAt: mtime}
	if err := s.RecordApplied(ctx, store.AppliedChange{OldPath: "/lib/a.mkv", File: after, Policy: "mp4"}, mtime); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordApplied(ctx, store.AppliedChange{OldPath: "/lib/b.mkv", File: store.File{Path: "/lib/b.mkv", Size: 8,
		ModTime: mtime, LastScannedAt: mtime}}, mtime); err != nil {
		t.Fatal(err)
	}
	size, at, ok, err := s.AppliedState(ctx, "/lib/a.mp4", "mp4")
	if err != nil || !ok || size != 9 || !at.Equal(after.ModTime) {
		t.Fatalf("applied state of the moved file = %d, %s, %v, %v; want 9, %s", size, at, ok, err, after.ModTime)
	}
	if _, _, ok, _ := s.AppliedState(ctx, "/lib/b.mkv", "mp4"); ok {
		t.Fatal("RecordApplied without a policy marked one applied")
	}
	todo, err := s.FilesToApply(ctx, "/lib", "mp4", "", 0)
	if err != nil || len(todo) != 1 || todo[0].Path != "/lib/b.mkv" {
		t.Fatalf("files to apply mp4 to = %+v, %v; want only /lib/b.mkv", todo, err)
	}
}

func TestCancelQueuedApplies(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	mk := func(policy, path string, unique bool) store.Job {
		t.Helper()
		nj := store.NewJob{Kind: "apply", Payload: json.RawMessage(`{"policy":"` + policy + `","path":"` + path + `"}`)}
		if unique {
			nj.UniqueKey = store.ApplyKey(policy, path)
		}
		j, _, err := s.CreateUniqueJob(ctx, nj)
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	gone := []store.Job{mk("p", "/lib/a.mkv", true), mk("p", "/lib/sub/b.mkv", true)}
	kept := []store.Job{
		mk("p", "/lib/c.mkv", false),    // submitted by an operator
		mk("q", "/lib/d.mkv", true),     // another policy
		mk("p", "/lib2/e.mkv", true),    // another library
		mk("p", "/library/f.mkv", true), // a sibling whose name starts alike
	}
	n, err := s.CancelQueuedApplies(ctx, "/lib", "p", "library removed", t0)
	if err != nil || n != 2 {
		t.Fatalf("CancelQueuedApplies = %d, %v; want 2", n, err)
	}
	for _, j := range gone {
		if got := mustGet(t, s, j.ID); got.Status != store.StatusCancelled || got.Error != "library removed" {
			t.Errorf("%s: %s %q, want cancelled with the reason", j.Payload, got.Status, got.Error)
		}
	}
	for _, j := range kept {
		if got := mustGet(t, s, j.ID); got.Status != store.StatusQueued {
			t.Errorf("%s: %s, want still queued", j.Payload, got.Status)
		}
	}
}

// TestQueueWindowStored: the cluster's processing window is stored beside
// the pause, each independent of the other, read back as set (an empty
// schedule, always open, is a window too), and every change of it is a
// queue.window event.
func TestQueueWindowStored(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	if q, err := s.QueueState(ctx); err != nil || q.Window != nil {
		t.Fatalf("initial window = %+v, %v; want none", q.Window, err)
	}
	at := time.Date(2026, 12, 3, 6, 0, 0, 0, time.UTC)
	if err := s.SetQueueWindow(ctx, &store.QueueWindow{Schedule: "01:00-07:00", Kinds: []string{"apply", "transcode"}, SetAt: at}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetQueueState(ctx, store.QueueState{Paused: true}); err != nil {
		t.Fatal(err)
	}
	q, err := s.QueueState(ctx)
	if err != nil || !q.Paused || q.Window == nil || q.Window.Schedule != "01:00-07:00" ||
		fmt.Sprint(q.Window.Kinds) != "[apply transcode]" || !q.Window.SetAt.Equal(at) {
		t.Fatalf("state = %+v (window %+v), %v; want paused with the window set at %v", q, q.Window, err, at)
	}
	if err := s.SetQueueWindow(ctx, &store.QueueWindow{Schedule: "", Kinds: nil}); err != nil {
		t.Fatal(err)
	}
	if q, _ = s.QueueState(ctx); q.Window == nil || q.Window.Schedule != "" || len(q.Window.Kinds) != 0 || !q.Paused {
		t.Fatalf("after an always-open window: %+v (window %+v); want paused with an always-open window", q, q.Window)
	}
	// The same window set again (another time): an event too, so that every
	// node shows when it was set.
	if err := s.SetQueueWindow(ctx, &store.QueueWindow{Schedule: "", Kinds: nil}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetQueueWindow(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if q, _ = s.QueueState(ctx); q.Window != nil || !q.Paused {
		t.Fatalf("after clearing: %+v (window %+v); want paused, no window", q, q.Window)
	}
	evs, err := s.EventsAfter(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range evs {
		var d struct {
			Schedule *string  `json:"schedule"`
			Kinds    []string `json:"scheduled_kinds"`
		}
		if err := json.Unmarshal(e.Data, &d); err != nil {
			t.Fatalf("event %s data %s: %v", e.Type, e.Data, err)
		}
		s := e.Type
		if e.Type == "queue.window" {
			if d.Schedule == nil {
				s += " none"
			} else {
				s += fmt.Sprintf(" %q %v", *d.Schedule, d.Kinds)
			}
		}
		got = append(got, s)
	}
	want := `[queue.window "01:00-07:00" [apply transcode] queue.paused queue.window "" [] queue.window "" [] queue.window none]`
	if fmt.Sprint(got) != want {
		t.Fatalf("events = %v\nwant     %v", got, want)
	}
}

// TestQueueWindowUnreadable: a stored window whose columns were edited
// into something unreadable does not fail the read of the queue's state
// (the pause must still be read): the window says what is wrong.
func TestQueueWindowUnreadable(t *testing.T) {
	ctx := context.Background()
	s, name := openNamed(t)
	if err := s.SetQueueState(ctx, store.QueueState{Paused: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := rawOpen(t, name).ExecContext(ctx,
		"UPDATE queue_state SET schedule = '01:00-02:00', scheduled_kinds = '\"apply\"', window_set_at = 'yesterday'"); err != nil {
		t.Fatal(err)
	}
	q, err := s.QueueState(ctx)
	if err != nil || !q.Paused || q.Window == nil {
		t.Fatalf("state = %+v, %v; want paused with a window", q, err)
	}
	for _, want := range []string{`scheduled_kinds "\"apply\""`, `window_set_at "yesterday"`} {
		if !strings.Contains(q.Window.Unreadable, want) {
			t.Errorf("Unreadable = %q; want it to name %s", q.Window.Unreadable, want)
		}
	}
	if err := s.SetQueueWindow(ctx, &store.QueueWindow{Schedule: "03:00-04:00", Kinds: []string{"apply"}}); err != nil {
		t.Fatal(err)
	}
	if q, err = s.QueueState(ctx); err != nil || q.Window == nil || q.Window.Unreadable != "" {
		t.Fatalf("after setting it again: %+v, %v", q.Window, err)
	}
}
