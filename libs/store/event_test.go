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

// eventSummary is "TYPE:STATUS" (or TYPE alone) for each event, for
// comparing sequences.
func eventSummary(t *testing.T, evs []store.Event) []string {
	t.Helper()
	var out []string
	for _, e := range evs {
		var d struct {
			Status string `json:"status"`
		}
		if err := json.Unmarshal(e.Data, &d); err != nil {
			t.Fatalf("event %d data %s: %v", e.ID, e.Data, err)
		}
		s := e.Type
		if d.Status != "" {
			s += ":" + d.Status
		}
		out = append(out, s)
	}
	return out
}

// TestEventsFollowAJobsLife: the triggers write one event per step of a
// job, in order, each naming the job, and a progress write that changes
// nothing writes none.
func TestEventsFollowAJobsLife(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	j := mustCreate(t, s, store.NewJob{Kind: "k", MaxAttempts: 2})
	c := mustClaim(t, s, "w", t0)
	if err := s.UpdateProgress(ctx, c.Lease(), 40, "half", time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateProgress(ctx, c.Lease(), 40, "half", time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := s.FailJob(ctx, c.Lease(), "boom", t0); err != nil {
		t.Fatal(err)
	}
	c = mustClaim(t, s, "w", t0)
	if err := s.CompleteJob(ctx, c.Lease(), nil, t0); err != nil {
		t.Fatal(err)
	}
	if err := s.SetQueueState(ctx, store.QueueState{Paused: true, Drain: true}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetQueueState(ctx, store.QueueState{}); err != nil {
		t.Fatal(err)
	}
	evs, err := s.EventsAfter(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"job.created:queued", "job.started:running", "job.progress", "job.queued:queued",
		"job.started:running", "job.finished:completed", "queue.paused", "queue.resumed"}
	if got := eventSummary(t, evs); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("events = %v\nwant     %v", got, want)
	}
	for i, e := range evs {
		if i > 0 && e.ID <= evs[i-1].ID {
			t.Errorf("event ids not increasing: %d after %d", e.ID, evs[i-1].ID)
		}
		if strings.HasPrefix(e.Type, "job.") && (e.JobID != j.ID || !strings.Contains(string(e.Data), `"id":"`+j.ID+`"`)) {
			t.Errorf("event %s (job %q, data %s) does not name job %s", e.Type, e.JobID, e.Data, j.ID)
		}
		if e.At.IsZero() {
			t.Errorf("event %d has no time", e.ID)
		}
	}
	if !strings.Contains(string(evs[2].Data), `"percent":40`) || !strings.Contains(string(evs[2].Data), `"message":"half"`) {
		t.Errorf("progress event data = %s", evs[2].Data)
	}
	if !strings.Contains(string(evs[3].Data), `"error":"boom"`) {
		t.Errorf("retry event data = %s, want the error", evs[3].Data)
	}
	if !strings.Contains(string(evs[6].Data), `"paused":true,"drain":true`) {
		t.Errorf("pause event data = %s", evs[6].Data)
	}
	// Resuming after an id returns only what came after it.
	rest, err := s.EventsAfter(ctx, evs[5].ID, 100)
	if err != nil || len(rest) != 2 || rest[0].ID != evs[6].ID {
		t.Fatalf("EventsAfter(%d) = %d events, %v; want the last 2", evs[5].ID, len(rest), err)
	}
}

// TestPruneEventsKeepsNewest: pruning removes old events only, never the
// newest keep, and ids are not reused after it.
func TestPruneEventsKeepsNewest(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	for i := range 10 {
		if _, err := s.AddEvent(ctx, "test.event", "", map[string]int{"n": i}); err != nil {
			t.Fatal(err)
		}
	}
	future := time.Now().Add(time.Hour)
	if n, err := s.PruneEvents(ctx, time.Now().Add(-time.Hour), 0, 100); err != nil || n != 0 {
		t.Fatalf("prune of events older than an hour = %d, %v; want 0", n, err)
	}
	if n, err := s.PruneEvents(ctx, future, 3, 100); err != nil || n != 7 {
		t.Fatalf("prune keeping 3 = %d, %v; want 7", n, err)
	}
	oldest, newest, err := s.EventBounds(ctx)
	if err != nil || newest-oldest != 2 {
		t.Fatalf("bounds after prune = %d..%d, %v; want 3 events", oldest, newest, err)
	}
	if n, err := s.PruneEvents(ctx, future, 0, 100); err != nil || n != 2 {
		t.Fatalf("prune of all = %d, %v; want 2 (the newest stays)", n, err)
	}
	id, err := s.AddEvent(ctx, "test.event", "", struct{}{})
	if err != nil || id != newest+1 {
		t.Errorf("id after pruning everything = %d, %v; want %d (never reused)", id, err, newest+1)
	}
	if _, err := s.AddEvent(ctx, "test.event", "", []int{1}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("AddEvent with an array = %v, want ErrInvalid", err)
	}
}

// TestJobLogBounds: a job's log keeps its newest lines within both bounds,
// numbers them on, and goes with the job.
func TestJobLogBounds(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	j := mustCreate(t, s, store.NewJob{Kind: "k"})
	other := mustCreate(t, s, store.NewJob{Kind: "k"})
	var lines []store.LogLine
	for i := 1; i <= store.MaxJobLogLines+50; i++ {
		lines = append(lines, store.LogLine{JobID: j.ID, At: t0, Level: "info", Line: fmt.Sprintf("line %d", i)})
	}
	lines = append(lines, store.LogLine{JobID: other.ID, At: t0, Level: "warning", Line: "the other job"},
		store.LogLine{JobID: "no-such-job", At: t0, Level: "info", Line: "dropped"})
	if err := s.AppendJobLogs(ctx, lines); err != nil {
		t.Fatal(err)
	}
	got, err := s.JobLog(ctx, j.ID, 0, store.MaxJobLogLines)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != store.MaxJobLogLines || got[0].Seq != 51 || got[0].Line != "line 51" ||
		got[len(got)-1].Line != fmt.Sprintf("line %d", store.MaxJobLogLines+50) {
		t.Fatalf("log kept %d lines, first %+v; want the newest %d", len(got), got[0], store.MaxJobLogLines)
	}
	if o, err := s.JobLog(ctx, other.ID, 0, 10); err != nil || len(o) != 1 || o[0].Seq != 1 || o[0].Level != "warning" {
		t.Fatalf("other job's log = %+v, %v", o, err)
	}
	// Long lines: cut to MaxJobLogLine, and the byte bound keeps the newest.
	long := strings.Repeat("é", store.MaxJobLogLine) // 2 bytes each: cut
	var big []store.LogLine
	for range 40 {
		big = append(big, store.LogLine{JobID: j.ID, At: t0, Level: "info", Line: long})
	}
	if err := s.AppendJobLogs(ctx, big); err != nil {
		t.Fatal(err)
	}
	got, err = s.JobLog(ctx, j.ID, 0, store.MaxJobLogLines)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, l := range got {
		total += len(l.Line)
		if len(l.Line) > store.MaxJobLogLine || !strings.HasSuffix(l.Line, "(cut)") && strings.HasPrefix(l.Line, "é") {
			t.Fatalf("line of %d bytes kept, want at most %d and marked cut", len(l.Line), store.MaxJobLogLine)
		}
	}
	if total > store.MaxJobLogBytes || total < store.MaxJobLogBytes-store.MaxJobLogLine {
		t.Errorf("log holds %d bytes, want the newest lines that fit in %d", total, store.MaxJobLogBytes)
	}
	if last := got[len(got)-1]; last.Seq != int64(store.MaxJobLogLines+90) {
		t.Errorf("last line seq %d, want %d", last.Seq, store.MaxJobLogLines+90)
	}
	if after, err := s.JobLog(ctx, j.ID, int64(store.MaxJobLogLines+89), 10); err != nil || len(after) != 1 {
		t.Errorf("lines after seq %d = %d, %v; want 1", store.MaxJobLogLines+89, len(after), err)
	}
	if _, err := s.JobLog(ctx, "no-such-job", 0, 10); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("log of a missing job: %v, want ErrNotFound", err)
	}
	// Each appended line is an event too.
	evs, err := s.EventsAfter(ctx, 0, store.MaxEventBatch)
	if err != nil {
		t.Fatal(err)
	}
	logEvents := 0
	for _, e := range evs {
		if e.Type == "job.log" {
			logEvents++
		}
	}
	if logEvents != store.MaxJobLogLines+50+1+40 {
		t.Errorf("%d job.log events, want one per stored line (%d)", logEvents, store.MaxJobLogLines+91)
	}
	// Retention deletes the job and its log.
	for range 2 {
		c := mustClaim(t, s, "w", t0)
		if err := s.CompleteJob(ctx, c.Lease(), nil, t0); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := s.DeleteFinishedJobs(ctx, time.Now().Add(time.Hour), 100); err != nil || n != 2 {
		t.Fatalf("DeleteFinishedJobs = %d, %v", n, err)
	}
	db := s.Raw()
	var left int
	if err := db.QueryRow(`SELECT count(*) FROM job_logs`).Scan(&left); err != nil || left != 0 {
		t.Errorf("%d log lines left after their jobs were deleted (%v)", left, err)
	}
}

// TestLibraryScanEvents: a library's scan (unique key scan:…) starting and
// ending is an event naming the library's path; other scans are not.
func TestLibraryScanEvents(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	lib, _, err := s.CreateUniqueJob(ctx, store.NewJob{Kind: "scan", Payload: json.RawMessage(`{"path":"/srv/movies"}`),
		UniqueKey: store.ScanKey("/srv/movies")})
	if err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, store.NewJob{Kind: "scan", Payload: json.RawMessage(`{"path":"/tmp/x"}`)})
	for range 2 {
		c := mustClaim(t, s, "w", t0)
		if err := s.CompleteJob(ctx, c.Lease(), json.RawMessage(`{"files":3}`), t0); err != nil {
			t.Fatal(err)
		}
	}
	evs, err := s.EventsAfter(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range evs {
		if strings.HasPrefix(e.Type, "library.") {
			got = append(got, e.Type+" "+string(e.Data))
		}
	}
	want := []string{
		`library.scan_started {"path":"/srv/movies","job_id":"` + lib.ID + `","status":"running","result":null,"error":null}`,
		`library.scan_finished {"path":"/srv/movies","job_id":"` + lib.ID + `","status":"completed","result":{"files":3},"error":null}`,
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("library events:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestLongLogLineEventCut: a long log line is kept whole in the job's log
// and cut in its event.
func TestLongLogLineEventCut(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	j := mustCreate(t, s, store.NewJob{Kind: "k"})
	line := strings.Repeat("ab", 2000)
	if err := s.AppendJobLogs(ctx, []store.LogLine{{JobID: j.ID, At: t0, Level: "info", Line: line}}); err != nil {
		t.Fatal(err)
	}
	lines, err := s.JobLog(ctx, j.ID, 0, 10)
	if err != nil || len(lines) != 1 || lines[0].Line != line {
		t.Fatalf("stored line: %v, %v", len(lines), err)
	}
	evs, err := s.EventsAfter(ctx, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	var d struct{ Line string }
	if err := json.Unmarshal(evs[len(evs)-1].Data, &d); err != nil || d.Line != line[:1024]+"…" {
		t.Errorf("event line of %d characters, want the first 1024 and a mark (%v)", len([]rune(d.Line)), err)
	}
}

// TestEventBoundsPlan: the bounds are read from the ends of the key, not
// by a scan of every event (a resuming stream reads them).
func TestEventBoundsPlan(t *testing.T) {
	sqliteOnly(t)
	_, path := openTestStorePath(t)
	plan := queryPlan(t, path, store.EventBoundsSQL)
	if strings.Contains(plan, "SCAN events") || strings.Count(plan, "SEARCH events") != 2 {
		t.Errorf("plan of the event bounds:\n%s\nwant two searches, no scan", plan)
	}
}
