package integration_test

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// queuePort returns a free port of the range 19300-19399 kept for the
// queue tests.
func queuePort(t *testing.T) int {
	t.Helper()
	for p := 19300; p <= 19399; p++ {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err == nil {
			ln.Close()
			return p
		}
	}
	t.Fatal("no free port in 19300-19399")
	return 0
}

// queueCLI runs `vpo queue ARGS` against d and fails the test unless it
// exits 0.
func (d *daemon) queueCLI(args ...string) string {
	d.t.Helper()
	code, out, stderr := d.queueRun(args...)
	if code != exitOK {
		d.t.Fatalf("vpo queue %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out, stderr)
	}
	return out
}

// queueRun runs `vpo queue ARGS` against d: exit code, stdout, stderr.
func (d *daemon) queueRun(args ...string) (int, string, string) {
	d.t.Helper()
	args = append(append([]string{"queue"}, args...), "--url", d.url(""), "--config", filepath.Join(d.dir, "config.toml"))
	return run(d.t, baseEnv(d.dir), args...)
}

// queueState is GET /api/queue.
type queueState struct {
	Paused         bool       `json:"paused"`
	Drain          bool       `json:"drain"`
	PausedAt       *time.Time `json:"paused_at"`
	Running        int        `json:"running"`
	Queued         int        `json:"queued"`
	Schedule       string     `json:"schedule"`
	ScheduledKinds []string   `json:"scheduled_kinds"`
	WindowOpen     bool       `json:"window_open"`
	NextWindow     *time.Time `json:"next_window"`
	WindowSource   string     `json:"window_source"`
	WindowSetAt    *time.Time `json:"window_set_at"`
}

func (d *daemon) queueState() queueState {
	d.t.Helper()
	resp, err := client.Get(d.url("/api/queue"))
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	var q queueState
	if err := json.NewDecoder(resp.Body).Decode(&q); err != nil || resp.StatusCode != 200 {
		d.t.Fatalf("GET /api/queue: %d %v", resp.StatusCode, err)
	}
	return q
}

// healthQueue is the "queue" object of /health.
func (d *daemon) healthQueue() map[string]any {
	d.t.Helper()
	_, body, err := d.getJSON("/health")
	if err != nil {
		d.t.Fatal(err)
	}
	q, ok := body["queue"].(map[string]any)
	if !ok {
		d.t.Fatalf("/health has no queue object: %v", body)
	}
	return q
}

// stillQueued checks, a while after the daemon was told to look for work,
// that the job has not started (an absence cannot be waited for: the time
// is several polls of the pool).
func (d *daemon) stillQueued(id string) {
	d.t.Helper()
	time.Sleep(1500 * time.Millisecond)
	if j := d.job(id); j.Status != "queued" || j.Attempts != 0 {
		d.t.Fatalf("job %s is %s (attempts %d), want queued and untouched", id, j.Status, j.Attempts)
	}
}

// TestQueuePauseSurvivesRestart: a queue paused with `vpo queue pause`
// stays paused after a restart (logged at start, shown in /health, `vpo
// queue status` and `vpo jobs list`) until `vpo queue resume`.
func TestQueuePauseSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	port := queuePort(t)
	d := start(t, startOpts{dir: dir, port: port, extra: testKinds, wait: true})
	out := d.queueCLI("pause")
	if !strings.Contains(out, "queue: paused since") {
		t.Fatalf("vpo queue pause printed:\n%s", out)
	}
	j := d.submit("test.sleep", `{"seconds": 0}`)
	d.stillQueued(j.ID)
	if q := d.healthQueue(); q["paused"] != true {
		t.Fatalf("/health queue = %v, want paused", q)
	}
	d.signal(syscall.SIGTERM)
	if code := d.wait(15 * time.Second); code != exitOK {
		t.Fatalf("exit %d", code)
	}

	d = start(t, startOpts{dir: dir, port: port, extra: testKinds, wait: true})
	d.waitLog(5*time.Second, "the queue is paused", "vpo queue resume")
	d.stillQueued(j.ID)
	var st queueState
	if err := json.Unmarshal([]byte(d.queueCLI("status", "--json")), &st); err != nil {
		t.Fatal(err)
	}
	if !st.Paused || st.Drain || st.PausedAt == nil || st.Queued != 1 || st.Running != 0 {
		t.Fatalf("vpo queue status --json after the restart = %+v, want paused with 1 queued", st)
	}
	if q := d.healthQueue(); q["paused"] != true || q["window_open"] != true || q["next_window"] != nil {
		t.Fatalf("/health queue after the restart = %v", q)
	}
	code, list, stderr := run(t, baseEnv(dir), "jobs", "list", "--url", d.url(""), "--config", filepath.Join(dir, "config.toml"))
	if code != exitOK || !strings.Contains(list, "queue paused") || !strings.Contains(list, j.ID) {
		t.Fatalf("vpo jobs list = %d:\n%s\n%s", code, list, stderr)
	}

	if out := d.queueCLI("resume"); !strings.Contains(out, "queue: running") {
		t.Fatalf("vpo queue resume printed:\n%s", out)
	}
	if got := d.waitJob(j.ID, "completed", 10*time.Second); got.Attempts != 1 {
		t.Errorf("job completed after %d attempts, want 1", got.Attempts)
	}
	d.signal(syscall.SIGTERM)
	d.wait(15 * time.Second)
	// The resume is stored too.
	d = start(t, startOpts{dir: dir, port: port, extra: testKinds, wait: true})
	if st := d.queueState(); st.Paused {
		t.Errorf("queue paused after a resume and a restart: %+v", st)
	}
}

// TestQueuePauseWithoutDrainRequeues: `vpo queue pause --wait` interrupts
// the running job, which goes back to the queue with no attempt spent, and
// returns once nothing runs; after the resume the job runs again.
func TestQueuePauseWithoutDrainRequeues(t *testing.T) {
	d := start(t, startOpts{port: queuePort(t), extra: testKinds, wait: true})
	rec := filepath.Join(d.dir, "runs.log")
	j := d.submit("test.sleep", fmt.Sprintf(`{"seconds": 2, "record": %q}`, rec))
	d.waitJob(j.ID, "running", 10*time.Second)
	out := d.queueCLI("pause", "--wait")
	if !strings.Contains(out, "jobs: 0 running, 1 queued") {
		t.Fatalf("vpo queue pause --wait printed:\n%s", out)
	}
	if got := d.job(j.ID); got.Status != "queued" || got.Attempts != 0 {
		t.Fatalf("after the pause job = %s (attempts %d), want queued with no attempt spent", got.Status, got.Attempts)
	}
	d.waitLog(5*time.Second, "job interrupted by a pause of the queue, requeued", j.ID)
	if runs := string(readFile(t, rec)); runs != "start "+j.ID+"\nstopped "+j.ID+"\n" {
		t.Fatalf("runs of the job before the resume:\n%s", runs)
	}
	d.queueCLI("resume")
	if got := d.waitJob(j.ID, "completed", 15*time.Second); got.Attempts != 1 {
		t.Errorf("job completed after %d attempts, want 1", got.Attempts)
	}
}

// TestQueuePauseWithDrainLetsJobsFinish: `vpo queue pause --drain --wait`
// returns once the running job has completed; a job submitted meanwhile
// stays queued.
func TestQueuePauseWithDrainLetsJobsFinish(t *testing.T) {
	d := start(t, startOpts{port: queuePort(t), extra: testKinds, wait: true})
	running := d.submit("test.sleep", `{"seconds": 2}`)
	d.waitJob(running.ID, "running", 10*time.Second)
	resp, err := client.Post(d.url("/api/queue/pause"), "application/json", strings.NewReader(`{"drain": true}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("POST /api/queue/pause = %d", resp.StatusCode)
	}
	waiting := d.submit("test.sleep", `{"seconds": 0}`)
	out := d.queueCLI("pause", "--drain", "--wait")
	if !strings.Contains(out, "drain: running jobs finish") || !strings.Contains(out, "jobs: 0 running") {
		t.Fatalf("vpo queue pause --drain --wait printed:\n%s", out)
	}
	if got := d.job(running.ID); got.Status != "completed" || got.Attempts != 1 {
		t.Fatalf("drained job = %s (attempts %d), want completed", got.Status, got.Attempts)
	}
	d.stillQueued(waiting.ID)
	if st := d.queueState(); !st.Paused || !st.Drain {
		t.Fatalf("queue = %+v, want paused with drain", st)
	}
	d.queueCLI("resume")
	d.waitJob(waiting.ID, "completed", 10*time.Second)
}

// TestWindowHoldsJobsWhileScansRun: with a processing window that is
// surely closed now (it opens in two hours) for the test kind, its job
// stays queued while a scan runs; /api/queue, /health and `vpo jobs list`
// say when the window opens. Needs the jobs.schedule and
// jobs.scheduled_kinds keys of libs/config.
func TestWindowHoldsJobsWhileScansRun(t *testing.T) {
	now := time.Now()
	from, until := now.Add(2*time.Hour), now.Add(3*time.Hour)
	schedule := from.Format("15:04") + "-" + until.Format("15:04")
	extra := fmt.Sprintf("\n[jobs]\ntest_kinds = true\nschedule = %q\nscheduled_kinds = [\"test.sleep\"]\n", schedule)
	d := start(t, startOpts{port: queuePort(t), extra: extra, wait: true})

	held := d.submit("test.sleep", `{"seconds": 0}`)
	lib := filepath.Join(d.dir, "library")
	if err := os.Mkdir(lib, 0o755); err != nil {
		t.Fatal(err)
	}
	scan := d.submit("scan", fmt.Sprintf(`{"path": %q}`, lib))
	d.waitJob(scan.ID, "completed", 15*time.Second)
	d.stillQueued(held.ID)

	st := d.queueState()
	if st.WindowOpen || st.NextWindow == nil || st.Schedule != schedule || strings.Join(st.ScheduledKinds, ",") != "test.sleep" {
		t.Fatalf("GET /api/queue = %+v, want the window %s closed", st, schedule)
	}
	if want := from.Truncate(time.Minute); !st.NextWindow.Equal(want) {
		t.Errorf("next_window = %v, want %v", st.NextWindow, want)
	}
	if q := d.healthQueue(); q["window_open"] != false || q["next_window"] == nil {
		t.Errorf("/health queue = %v, want the window closed with its next opening", q)
	}
	code, list, stderr := run(t, baseEnv(d.dir), "jobs", "list", "--url", d.url(""), "--config", filepath.Join(d.dir, "config.toml"))
	if code != exitOK || !strings.Contains(list, "processing window closed; opens at "+from.Format("15:04")) {
		t.Fatalf("vpo jobs list = %d:\n%s\n%s", code, list, stderr)
	}
}
