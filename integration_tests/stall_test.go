package integration_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// jobsNow lists up to 100 jobs through the API.
func (d *daemon) jobsNow() []jobProgress {
	d.t.Helper()
	resp, err := client.Get(d.url("/api/jobs?limit=100"))
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Jobs []jobProgress `json:"jobs"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK {
		d.t.Fatalf("list jobs: %d %v", resp.StatusCode, err)
	}
	return out.Jobs
}

// jobProgress is a job as the API lists it, with its estimate.
type jobProgress struct {
	job
	ETASeconds *int64 `json:"eta_seconds"`
}

// TestStalledJobFailsAfterItsAttempts: a test.sleep job that reports no
// progress is cancelled after jobs.stall_timeout, retried, and failed as
// stalled once its attempts are used up.
func TestStalledJobFailsAfterItsAttempts(t *testing.T) {
	d := start(t, startOpts{port: 18601, wait: true,
		extra: "\n[jobs]\ntest_kinds = true\nworkers = 2\n",
		env:   []string{"VPO_JOBS_STALL_TIMEOUT=1s", "VPO_JOBS_STALL_TIMEOUTS=scan=0s"}})
	silent := submitWith(t, d, `{"kind":"test.sleep","max_attempts":2,"payload":{"seconds":30,"silent":true}}`)
	// A job that reports progress outlives the same timeout.
	talking := d.submit("test.sleep", `{"seconds": 2.5}`)

	got := d.waitJob(silent.ID, "failed", 30*time.Second)
	if got.Attempts != 2 || got.Error != "stalled: no progress for 1s" {
		t.Errorf("silent job: %d attempts, error %q; want 2 attempts, %q", got.Attempts, got.Error, "stalled: no progress for 1s")
	}
	d.waitLog(5*time.Second, "job stalled", silent.ID)
	if j := d.waitJob(talking.ID, "completed", 30*time.Second); j.Attempts != 1 {
		t.Errorf("reporting job took %d attempts, want 1", j.Attempts)
	}
}

// TestKindLimitHolds: with jobs.limits "test.sleep" = 1 and three workers,
// two sleep jobs never run at once, while a scan still runs meanwhile; a
// running sleep job shows its estimated time left.
func TestKindLimitHolds(t *testing.T) {
	d := start(t, startOpts{port: 18602, wait: true,
		extra: "\n[jobs]\ntest_kinds = true\nworkers = 3\n\n[jobs.limits]\n\"test.sleep\" = 1\n"})
	a := d.submit("test.sleep", `{"seconds": 2}`)
	b := d.submit("test.sleep", `{"seconds": 2}`)
	d.waitJob(a.ID, "running", 10*time.Second)
	scan := d.submit("scan", fmt.Sprintf(`{"path": %q}`, t.TempDir()))

	var (
		scanDoneWhileSleeping bool
		sawETA                bool
	)
	deadline := time.Now().Add(30 * time.Second)
	for {
		jobs := d.jobsNow()
		running, finished := 0, 0
		status := map[string]string{}
		for _, j := range jobs {
			status[j.ID] = j.Status
			if j.Kind == "test.sleep" && j.Status == "running" {
				running++
				if j.ETASeconds != nil {
					sawETA = true
				}
			}
			if j.Kind == "test.sleep" && j.Status == "completed" {
				finished++
			}
		}
		if running > 1 {
			t.Fatalf("%d test.sleep jobs running at once with limit 1: %v", running, status)
		}
		if status[scan.ID] == "completed" && finished < 2 {
			scanDoneWhileSleeping = true
		}
		if finished == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sleep jobs not finished within 30s: %v\n%s", status, d.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !scanDoneWhileSleeping {
		t.Error("the scan did not finish while the limited kind was busy")
	}
	if !sawETA {
		t.Error("no running test.sleep job had eta_seconds")
	}
	d.waitJob(b.ID, "completed", 5*time.Second)

	// The CLI shows the progress column.
	code, out, errs := run(t, baseEnv(d.dir), "jobs", "list", "--url", d.url(""))
	if code != exitOK || !strings.Contains(out, "PROGRESS") || !strings.Contains(out, "100%") {
		t.Errorf("jobs list: exit %d\n%s\n%s", code, out, errs)
	}
}

// submitWith posts a raw job request and returns the created job.
func submitWith(t *testing.T, d *daemon, body string) job {
	t.Helper()
	resp, err := client.Post(d.url("/api/jobs"), "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var j job
	if err := json.NewDecoder(resp.Body).Decode(&j); err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("submit %s: %d %v", body, resp.StatusCode, err)
	}
	return j
}

// TestJobLimitsReload: jobs.limits and jobs.stall_timeout apply on SIGHUP;
// a limit for a kind the daemon does not run is a warning naming it and
// the known kinds, not an error.
func TestJobLimitsReload(t *testing.T) {
	d := start(t, startOpts{port: 18603, wait: true,
		extra: "\n[jobs]\ntest_kinds = true\nworkers = 2\n\n[jobs.limits]\nencode = 1\n"})
	d.waitLog(5*time.Second, "jobs.limits names job kinds this daemon does not run: encode", "known kinds: apply, scan, test.sleep")

	d.rewriteConfig("\n[jobs]\ntest_kinds = true\nworkers = 2\nstall_timeout = \"1s\"\n\n[jobs.limits]\n\"test.sleep\" = 1\n")
	d.reloadAndWait(1)
	d.waitLog(5*time.Second, "jobs.limits changed from { encode = 1 } to {", "test.sleep")
	a := d.submit("test.sleep", `{"seconds": 1}`)
	b := d.submit("test.sleep", `{"seconds": 1}`)
	silent := submitWith(t, d, `{"kind":"test.sleep","max_attempts":1,"payload":{"seconds":30,"silent":true}}`)
	deadline := time.Now().Add(30 * time.Second)
	for {
		running := 0
		for _, j := range d.jobsNow() {
			if j.Status == "running" {
				running++
			}
		}
		if running > 1 {
			t.Fatalf("%d test.sleep jobs running at once after the reload set the limit to 1", running)
		}
		if d.job(a.ID).Status == "completed" && d.job(b.ID).Status == "completed" && d.job(silent.ID).Status == "failed" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("jobs not finished within 30s:\n%s", d.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := d.job(silent.ID); got.Error != "stalled: no progress for 1s" {
		t.Errorf("silent job error %q, want the reloaded stall timeout", got.Error)
	}
}
