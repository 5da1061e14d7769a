package integration_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// waitRecord waits (up to 30 s) until the record file at path holds want
// lines, or until it holds a line "until …" when until is not "", and
// returns its lines ("event JOB_ID") up to that point.
func waitRecord(t *testing.T, d *daemon, path string, want int, until string) []string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, err := os.ReadFile(path)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		var lines []string
		if s := strings.TrimSpace(string(b)); s != "" {
			lines = strings.Split(s, "\n")
		}
		for i, l := range lines {
			if until != "" && strings.HasPrefix(l, until+" ") {
				return lines[:i+1]
			}
		}
		if until == "" && len(lines) >= want {
			return lines
		}
		if time.Now().After(deadline) {
			t.Fatalf("record %s has %q, want %d lines:\n%s", path, lines, want, d.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestAbandonedStalledHandlerRunsAlone: a silent test.sleep job that
// ignores cancellation stalls, is abandoned, and its later attempts wait
// for its handler and fail as stalled in turn: the handler ran once, and
// no second handler of the job started beside it.
func TestAbandonedStalledHandlerRunsAlone(t *testing.T) {
	dir := t.TempDir()
	d := start(t, startOpts{dir: dir, port: 18850, wait: true,
		extra: "\n[jobs]\ntest_kinds = true\nworkers = 2\nstall_timeout = \"1s\"\n"})
	rec := filepath.Join(dir, "runs.log")
	j := d.submitJob(fmt.Sprintf(`{"kind":"test.sleep","max_attempts":3,"payload":{"seconds":8,"silent":true,"ignore_cancel":true,"record":%q}}`, rec))
	got := d.waitJob(j.ID, "failed", 30*time.Second)
	if got.Attempts != 3 || got.Error != "stalled: no progress for 1s" {
		t.Errorf("job: %d attempts, error %q; want 3, stalled", got.Attempts, got.Error)
	}
	// Up to the end of the first handler: no other start before it.
	lines := waitRecord(t, d, rec, 0, "done")
	want := []string{"start " + j.ID, "done " + j.ID}
	if strings.Join(lines, ";") != strings.Join(want, ";") {
		t.Errorf("runs recorded %q, want %q (one handler at a time)", lines, want)
	}
}

// TestCancelledJobIgnoringCancellationHoldsLimit: a job cancelled by its user whose
// handler ignores the cancellation ends cancelled (not completed when the
// handler finally succeeds), and its abandoned handler keeps the only slot
// of its kind (jobs.limits) until it returns.
func TestCancelledJobIgnoringCancellationHoldsLimit(t *testing.T) {
	dir := t.TempDir()
	d := start(t, startOpts{dir: dir, port: 18851, wait: true,
		extra: "\n[jobs]\ntest_kinds = true\nworkers = 2\n\n[jobs.limits]\n\"test.sleep\" = 1\n"})
	rec := filepath.Join(dir, "runs.log")
	a := d.submitJob(fmt.Sprintf(`{"kind":"test.sleep","payload":{"seconds":4,"ignore_cancel":true,"record":%q}}`, rec))
	waitRecord(t, d, rec, 1, "")
	if code, _, b := d.call(http.MethodPost, "/api/jobs/"+a.ID+"/cancel", "", ""); code != http.StatusOK {
		t.Fatalf("cancel: %d %s", code, b)
	}
	d.waitJob(a.ID, "cancelled", 30*time.Second)
	b := d.submitJob(fmt.Sprintf(`{"kind":"test.sleep","payload":{"seconds":0.2,"record":%q}}`, rec))
	d.waitJob(b.ID, "completed", 30*time.Second)
	lines := waitRecord(t, d, rec, 4, "")
	want := []string{"start " + a.ID, "done " + a.ID, "start " + b.ID, "done " + b.ID}
	if strings.Join(lines, ";") != strings.Join(want, ";") {
		t.Errorf("runs recorded %q, want %q (the abandoned handler holds its kind's slot)", lines, want)
	}
	if got := d.job(a.ID); got.Status != "cancelled" {
		t.Errorf("after its handler returned, job is %s, want cancelled", got.Status)
	}
}
