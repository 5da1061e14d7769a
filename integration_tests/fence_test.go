package integration_test

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// jobRuns is what a test.sleep record file says about one job's runs.
type jobRuns struct {
	started, done, stopped int
	// maxLive is the most runs of the job that had started and not ended
	// at any moment: above 1, two handlers of the job ran at once.
	maxLive int
}

// startSleepers starts a daemon with 8 workers and a 1 s lease and submits
// n test.sleep jobs of the given seconds that record their runs in rec;
// maxAttempts 0 keeps the default.
func startSleepers(t *testing.T, n, maxAttempts, seconds int) (d *daemon, rec string, ids []string) {
	t.Helper()
	dir := t.TempDir()
	d = start(t, startOpts{dir: dir, wait: true,
		extra: "\n[jobs]\ntest_kinds = true\nworkers = 8\nlease_duration = \"1s\"\n"})
	rec = filepath.Join(dir, "runs.log")
	attempts := ""
	if maxAttempts > 0 {
		attempts = fmt.Sprintf(`"max_attempts": %d, `, maxAttempts)
	}
	for range n {
		ids = append(ids, d.submitJob(fmt.Sprintf(`{"kind": "test.sleep", %s"payload": {"seconds": %d, "record": %q}}`, attempts, seconds, rec)).ID)
	}
	return d, rec, ids
}

// settledRuns waits (up to 15 s) until every run recorded in rec has ended
// — a stale run that was not stopped keeps sleeping after its job
// completed — and returns the runs.
func settledRuns(t *testing.T, rec string) map[string]*jobRuns {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ended := true
		for _, r := range readRuns(t, rec) {
			ended = ended && r.done+r.stopped == r.started
		}
		if ended || time.Now().After(deadline) {
			return readRuns(t, rec)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// readRuns reads a test.sleep record file, in the order it was written.
func readRuns(t *testing.T, path string) map[string]*jobRuns {
	t.Helper()
	runs := map[string]*jobRuns{}
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		event, id, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		r := runs[id]
		if r == nil {
			r = &jobRuns{}
			runs[id] = r
		}
		switch event {
		case "start":
			r.started++
			r.maxLive = max(r.maxLive, r.started-r.done-r.stopped)
		case "done":
			r.done++
		case "stopped":
			r.stopped++
		}
	}
	return runs
}

// submitJob posts a whole submission body and expects 201.
func (d *daemon) submitJob(body string) job {
	d.t.Helper()
	code, _, b := d.call(http.MethodPost, "/api/jobs", body, "")
	var j job
	if err := json.Unmarshal(b, &j); err != nil || code != http.StatusCreated {
		d.t.Fatalf("submit %s: %d %s", body, code, b)
	}
	return j
}

// TestPausedDaemonRunsEachJobOnce stops the daemon (SIGSTOP) for longer
// than the lease while jobs run. On SIGCONT the daemon must not run any job
// twice: every job ends with exactly one run that went to its end, never
// two runs of a job at once, and a stopped run (its claim superseded) is
// told with one warning. (The daemon used to recover its own expired
// leases, claim the jobs again and start the new run next to the old one.)
func TestPausedDaemonRunsEachJobOnce(t *testing.T) {
	// Each run sleeps longer than all pauses together, so a run's own
	// deadline never passes while the daemon is stopped; each recovered
	// lease costs an attempt, so leave plenty.
	d, rec, ids := startSleepers(t, 3, 50, 10)
	for _, id := range ids {
		d.waitJob(id, "running", 10*time.Second)
	}
	// Whether the old claim is renewed first after SIGCONT, or the expired
	// lease is recovered and the job claimed again by a free worker, is up
	// to the scheduler; a few pauses make the second order (the one that
	// used to run a job twice) all but certain to happen.
	for range 6 {
		time.Sleep(200 * time.Millisecond)
		d.signal(syscall.SIGSTOP)
		time.Sleep(1200 * time.Millisecond) // past the 1 s lease
		d.signal(syscall.SIGCONT)
	}

	for _, id := range ids {
		d.waitJob(id, "completed", 20*time.Second)
	}
	runs := settledRuns(t, rec)
	for _, id := range ids {
		r := runs[id]
		if r == nil {
			t.Errorf("job %s: no run recorded", id)
			continue
		}
		if r.done != 1 || r.maxLive != 1 || r.done+r.stopped != r.started {
			t.Errorf("job %s: %d runs started, %d went to the end, %d were stopped, up to %d ran at once; "+
				"want exactly one run to the end, every other run stopped, and never two runs at once",
				id, r.started, r.done, r.stopped, r.maxLive)
		}
		t.Logf("job %s: %d runs, %d stopped", id, r.started, r.stopped)
		// Each stopped run was told once, with a warning naming the job.
		warned := 0
		for _, line := range strings.Split(d.stderr.String(), "\n") {
			if lineWith(line, "level=warning", "job lease lost", "job_id="+id) {
				warned++
			}
		}
		if warned != r.stopped {
			t.Errorf("job %s: %d lease-lost warnings for %d stopped runs, want one each", id, warned, r.stopped)
		}
	}
	d.signal(syscall.SIGTERM)
	if code := d.wait(15 * time.Second); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}

// TestPausedDaemonKeepsItsAttempts stops the daemon (SIGSTOP) again and
// again, each time for longer than the lease, while jobs run. The process
// holding the jobs was alive all along: on SIGCONT it renews its own
// leases before it recovers expired ones, so no job is taken back from it.
// Every job must complete with its first attempt, run exactly once, and no
// lease may be reported lost.
func TestPausedDaemonKeepsItsAttempts(t *testing.T) {
	// Three waves of eight, so that every pause hits running jobs; the
	// default attempts (a recovered lease would cost one).
	d, rec, ids := startSleepers(t, 24, 0, 3)
	d.waitJob(ids[0], "running", 10*time.Second)
	for i := range 6 {
		time.Sleep(300 * time.Millisecond)
		d.signal(syscall.SIGSTOP)
		time.Sleep(time.Duration(1200+100*i) * time.Millisecond) // 1.2 s to 1.7 s, past the 1 s lease
		d.signal(syscall.SIGCONT)
	}
	for _, id := range ids {
		d.waitJob(id, "completed", 20*time.Second)
	}
	runs := readRuns(t, rec)
	for _, id := range ids {
		if got := d.job(id); got.Attempts != 1 {
			t.Errorf("job %s completed after %d attempts (last error %q), want 1", id, got.Attempts, got.Error)
		}
		if r := runs[id]; r == nil || r.started != 1 || r.done != 1 || r.stopped != 0 {
			t.Errorf("job %s: runs %+v, want exactly one, to its end", id, r)
		}
	}
	for _, msg := range []string{"job lease lost", "recovered jobs whose lease expired"} {
		if lineWith(d.stderr.String(), msg) {
			t.Errorf("log says %q, want no lease taken from the live daemon", msg)
		}
	}
	d.signal(syscall.SIGTERM)
	if code := d.wait(15 * time.Second); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}

// TestRecoveredJobsNeverRunTwiceAtOnce: while the daemon is stopped
// (SIGSTOP) for longer than the lease, another process recovers its expired
// leases (the test does in the database what a second daemon's recovery
// does). On SIGCONT the daemon claims the jobs again while the runs of the
// old claims are still ending: the old runs must be stopped, and the new
// ones must not start their handlers before the old ones have returned, so
// that a job never has two runs live at once.
func TestRecoveredJobsNeverRunTwiceAtOnce(t *testing.T) {
	d, rec, ids := startSleepers(t, 6, 50, 8)
	for _, id := range ids {
		d.waitJob(id, "running", 10*time.Second)
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(d.dir, "library.db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for range 3 {
		time.Sleep(300 * time.Millisecond)
		d.signal(syscall.SIGSTOP)
		time.Sleep(1200 * time.Millisecond) // past the 1 s lease
		if _, err := db.Exec(`UPDATE jobs SET status = 'queued', lease_owner = NULL, lease_expires_at = NULL,
			error = 'lease expired (recovered by the test)' WHERE status = 'running'`); err != nil {
			t.Fatal(err)
		}
		d.signal(syscall.SIGCONT)
	}
	for _, id := range ids {
		d.waitJob(id, "completed", 20*time.Second)
	}
	runs := settledRuns(t, rec)
	for _, id := range ids {
		r := runs[id]
		if r == nil || r.done != 1 || r.maxLive != 1 || r.done+r.stopped != r.started {
			t.Errorf("job %s: runs %+v; want exactly one run to the end, every other run stopped, and never two runs at once", id, r)
		}
	}
	d.signal(syscall.SIGTERM)
	if code := d.wait(15 * time.Second); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}

// TestUnregisteredKindStaysQueued: jobs of a kind the daemon does not run
// (here test.sleep after a restart with test_kinds off; the same holds for
// a kind queued by a newer version) are never claimed: they stay queued
// with no attempt used, while the kinds it has run.
func TestUnregisteredKindStaysQueued(t *testing.T) {
	dir := t.TempDir()
	d := start(t, startOpts{dir: dir, wait: true, env: []string{"VPO_SERVER_SHUTDOWN_TIMEOUT=1s"},
		extra: "\n[jobs]\ntest_kinds = true\nworkers = 1\n"})
	busy := d.submit("test.sleep", `{"seconds": 60}`)
	d.waitJob(busy.ID, "running", 10*time.Second)
	waiting := d.submit("test.sleep", `{"seconds": 0}`)
	d.signal(syscall.SIGTERM) // busy is interrupted and requeued
	if code := d.wait(15 * time.Second); code != exitOK {
		t.Fatalf("exit %d:\n%s", code, d.stderr.String())
	}

	cfg := filepath.Join(dir, "plain.toml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("[server]\nport = %d\n[database]\npath = %q\n",
		d.port, filepath.Join(dir, "library.db"))), 0o600); err != nil {
		t.Fatal(err)
	}
	d2 := start(t, startOpts{dir: dir, port: d.port, args: []string{"--config", cfg}, wait: true})
	lib := filepath.Join(dir, "media")
	if err := os.Mkdir(lib, 0o755); err != nil {
		t.Fatal(err)
	}
	scan := d2.submit("scan", fmt.Sprintf(`{"path": %q}`, lib))
	d2.waitJob(scan.ID, "completed", 20*time.Second)
	time.Sleep(2500 * time.Millisecond) // a few more polls of the idle pool
	for _, id := range []string{busy.ID, waiting.ID} {
		if got := d2.job(id); got.Status != "queued" || got.Attempts != 0 || got.Error != "" {
			t.Errorf("test.sleep job %s with test kinds off = %s, attempts %d, error %q; want queued, 0, no error",
				id, got.Status, got.Attempts, got.Error)
		}
	}
	d2.signal(syscall.SIGTERM)
	if code := d2.wait(15 * time.Second); code != exitOK {
		t.Fatalf("exit %d", code)
	}
}

// TestSubmitRejectsBadScanRoot: a scan whose path does not exist, is
// neither a directory nor a video file or holds a NUL byte is refused at
// submission with 400 and a message naming the field, and no job is
// created (it used to be accepted and then failed through all its
// attempts). (A scan of one video file is accepted.)
func TestSubmitRejectsBadScanRoot(t *testing.T) {
	d := start(t, startOpts{wait: true})
	file := filepath.Join(d.dir, "movie.nfo")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path string // path is JSON string content
		want       string
	}{
		{"missing", d.dir + "/no/such/dir", "does not exist"},
		{"file", file, "not a directory, nor a video file"},
		{"NUL byte", d.dir + `\u0000/x`, "NUL byte"},
	} {
		body := `{"kind": "scan", "payload": {"path": "` + tc.path + `"}}`
		code, _, b := d.call(http.MethodPost, "/api/jobs", body, "")
		var e struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(b, &e)
		if code != http.StatusBadRequest || !strings.Contains(e.Error, "path") || !strings.Contains(e.Error, tc.want) {
			t.Errorf("%s: submit %s = %d %s; want 400 with an error naming path and saying %q", tc.name, body, code, b, tc.want)
		}
	}
	if n := jobTotal(t, d); n != 0 {
		t.Errorf("refused submissions created %d jobs", n)
	}
}
