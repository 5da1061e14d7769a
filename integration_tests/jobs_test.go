package integration_test

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "modernc.org/sqlite"
)

// testKinds enables the test-only job kinds for a daemon.
const testKinds = "\n[jobs]\ntest_kinds = true\n"

type job struct {
	ID       string          `json:"id"`
	Kind     string          `json:"kind"`
	Status   string          `json:"status"`
	Attempts int             `json:"attempts"`
	Error    string          `json:"error"`
	Result   json.RawMessage `json:"result"`
	Progress float64         `json:"progress_percent"`
}

func (d *daemon) submit(kind, payload string) job {
	d.t.Helper()
	body := fmt.Sprintf(`{"kind":%q,"payload":%s}`, kind, payload)
	resp, err := client.Post(d.url("/api/jobs"), "application/json", strings.NewReader(body))
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	var j job
	if err := json.NewDecoder(resp.Body).Decode(&j); err != nil || resp.StatusCode != http.StatusCreated {
		d.t.Fatalf("submit %s: %d %v", kind, resp.StatusCode, err)
	}
	return j
}

func (d *daemon) job(id string) job {
	d.t.Helper()
	resp, err := client.Get(d.url("/api/jobs/" + id))
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	var j job
	if err := json.NewDecoder(resp.Body).Decode(&j); err != nil {
		d.t.Fatal(err)
	}
	return j
}

// waitJob polls until the job has the status, failing after timeout.
func (d *daemon) waitJob(id, status string, timeout time.Duration) job {
	d.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		j := d.job(id)
		if j.Status == status {
			return j
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("job %s is %q after %v, want %q\n%s", id, j.Status, timeout, status, d.stderr.String())
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// dbJob reads a job straight from the database file of a stopped daemon.
func dbJob(t *testing.T, dir, id string) job {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "library.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var j job
	j.ID = id
	if err := db.QueryRow(`SELECT status, attempts FROM jobs WHERE id = ?`, id).Scan(&j.Status, &j.Attempts); err != nil {
		t.Fatalf("read job %s: %v", id, err)
	}
	var ok string
	if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&ok); err != nil || ok != "ok" {
		t.Fatalf("integrity_check = %q, %v", ok, err)
	}
	return j
}

func TestShutdownLetsRunningJobFinish(t *testing.T) {
	d := start(t, startOpts{extra: testKinds + "\n", wait: true})
	j := d.submit("test.sleep", `{"seconds": 1.5}`)
	d.waitJob(j.ID, "running", 10*time.Second)
	d.signal(syscall.SIGTERM)
	// While the job drains, the daemon is up but unhealthy.
	deadline := time.Now().Add(5 * time.Second)
	saw503 := false
	for time.Now().Before(deadline) && !saw503 {
		code, body, err := d.getJSON("/health")
		if err == nil && code == http.StatusServiceUnavailable && body["shutting_down"] == true && body["status"] == "unhealthy" {
			saw503 = true
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !saw503 {
		t.Fatalf("/health never answered 503 shutting_down during shutdown")
	}
	resp, err := client.Post(d.url("/api/jobs"), "application/json", strings.NewReader(`{"kind":"test.sleep","payload":{"seconds":0}}`))
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("submit during shutdown = %d, want 503", resp.StatusCode)
		}
	}
	if code := d.wait(15 * time.Second); code != exitOK {
		t.Fatalf("exit %d", code)
	}
	if got := dbJob(t, d.dir, j.ID); got.Status != "completed" || got.Attempts != 1 {
		t.Fatalf("after shutdown job is %+v, want completed after 1 attempt", got)
	}
}

func TestShutdownRequeuesJobThatDoesNotFit(t *testing.T) {
	for _, tc := range []struct {
		name    string
		payload string
	}{
		{"cooperative handler", `{"seconds": 3}`},
		{"handler ignoring cancellation", `{"seconds": 3, "ignore_cancel": true}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			extra := "\n[jobs]\ntest_kinds = true\n"
			d := start(t, startOpts{extra: extra, env: []string{"VPO_SERVER_SHUTDOWN_TIMEOUT=1s"}, wait: true})
			j := d.submit("test.sleep", tc.payload)
			d.waitJob(j.ID, "running", 10*time.Second)
			d.signal(syscall.SIGTERM)
			if code := d.wait(10 * time.Second); code != exitOK {
				t.Fatalf("exit %d:\n%s", code, d.stderr.String())
			}
			if !strings.Contains(d.stderr.String(), j.ID) || !strings.Contains(d.stderr.String(), "requeued") {
				t.Fatalf("no requeue log line with job_id %s:\n%s", j.ID, d.stderr.String())
			}
			if got := dbJob(t, d.dir, j.ID); got.Status != "queued" || got.Attempts != 0 {
				t.Fatalf("after shutdown job is %+v, want queued with its attempt given back", got)
			}
			// Restart on the same database: the job runs again and completes.
			d2 := start(t, startOpts{dir: d.dir, port: d.port, args: []string{"--config", filepath.Join(d.dir, "config.toml")}, wait: true})
			done := d2.waitJob(j.ID, "completed", 20*time.Second)
			if done.Attempts != 1 {
				t.Fatalf("completed after %d attempts, want 1", done.Attempts)
			}
			d2.signal(syscall.SIGTERM)
			d2.wait(10 * time.Second)
		})
	}
}

func TestKilledDaemonJobIsRecovered(t *testing.T) {
	env := []string{"VPO_JOBS_LEASE_DURATION=2s"}
	d := start(t, startOpts{extra: testKinds, env: env, wait: true})
	j := d.submit("test.sleep", `{"seconds": 1}`)
	d.waitJob(j.ID, "running", 10*time.Second)
	d.signal(syscall.SIGKILL)
	d.wait(10 * time.Second)
	if got := dbJob(t, d.dir, j.ID); got.Status != "running" {
		t.Fatalf("after SIGKILL job is %q, want still running (its lease not yet expired)", got.Status)
	}
	d2 := start(t, startOpts{dir: d.dir, port: d.port, env: env, args: []string{"--config", filepath.Join(d.dir, "config.toml")}, wait: true})
	done := d2.waitJob(j.ID, "completed", 30*time.Second)
	if done.Attempts != 2 {
		t.Fatalf("recovered job completed after %d attempts, want 2 (the killed one counts)", done.Attempts)
	}
	d2.signal(syscall.SIGTERM)
	if code := d2.wait(10 * time.Second); code != exitOK {
		t.Fatalf("exit %d", code)
	}
}

// mediaTree makes a small library: video files by extension, other files
// that must be ignored, nested directories.
func mediaTree(t *testing.T, root string) []string {
	t.Helper()
	var videos []string
	files := map[string]bool{
		"a.mkv": true, "b.MP4": true, "notes.txt": false, "cover.jpg": false,
		"show/s01/e01.mkv": true, "show/s01/e02.webm": true, "show/s01/e02.srt": false,
		"films/x.avi": true, "films/y.mov": true, "films/z.ts": true, "films/readme": false,
		"deep/er/and/deeper/clip.m4v": true,
	}
	for rel, video := range files {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, bytes.Repeat([]byte("v"), len(rel)), 0o644); err != nil {
			t.Fatal(err)
		}
		if video {
			videos = append(videos, p)
		}
	}
	sort.Strings(videos)
	return videos
}

// fileRow is one file of GET /api/files, the fields these tests read.
type fileRow struct {
	Path       string  `json:"path"`
	PathB64    string  `json:"path_b64"`
	Size       int64   `json:"size"`
	Container  string  `json:"container"`
	Missing    bool    `json:"missing"`
	Codec      string  `json:"codec"`
	Tracks     int     `json:"tracks"`
	Probed     bool    `json:"probed"`
	ProbedAt   *string `json:"probed_at"`
	ProbeError string  `json:"probe_error"`
}

// files returns every row of GET /api/files; it fails on anything but a
// 200 with a JSON body.
func (d *daemon) files() []fileRow {
	d.t.Helper()
	resp, err := client.Get(d.url("/api/files?limit=1000"))
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Files []fileRow `json:"files"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK {
		d.t.Fatalf("GET /api/files = %d, %v", resp.StatusCode, err)
	}
	return out.Files
}

func TestScanRecordsLibrary(t *testing.T) {
	d := start(t, startOpts{wait: true})
	root := filepath.Join(d.dir, "media")
	videos := mediaTree(t, root)

	// Submit through the CLI, as a user would.
	code, out, stderr := run(t, baseEnv(d.dir), "jobs", "submit", "scan", "--json",
		"--url", d.url(""), "--payload", fmt.Sprintf(`{"path": %q}`, root))
	if code != exitOK {
		t.Fatalf("jobs submit = %d: %s", code, stderr)
	}
	var j job
	if err := json.Unmarshal([]byte(out), &j); err != nil {
		t.Fatalf("jobs submit --json printed %q: %v", out, err)
	}
	d.waitJob(j.ID, "completed", 30*time.Second)

	var got []string
	for _, f := range d.files() {
		got = append(got, f.Path)
		if f.Container == "" || f.Missing {
			t.Fatalf("file row %+v", f)
		}
	}
	sort.Strings(got)
	if strings.Join(got, "\n") != strings.Join(videos, "\n") {
		t.Fatalf("library:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(videos, "\n"))
	}

	// Rescan after removing one file: it is marked missing, nothing else changes.
	if err := os.Remove(filepath.Join(root, "films/x.avi")); err != nil {
		t.Fatal(err)
	}
	j2 := d.submit("scan", fmt.Sprintf(`{"path": %q}`, root))
	done := d.waitJob(j2.ID, "completed", 30*time.Second)
	var res map[string]int
	_ = json.Unmarshal(done.Result, &res)
	if res["missing"] != 1 || res["unchanged"] != len(videos)-1 || res["new"] != 0 {
		t.Fatalf("rescan result %s, want 1 missing, %d unchanged, 0 new", done.Result, len(videos)-1)
	}
	missing := 0
	for _, f := range d.files() {
		if f.Missing {
			missing++
			if !strings.HasSuffix(f.Path, "films/x.avi") {
				t.Fatalf("wrong file marked missing: %s", f.Path)
			}
		}
	}
	if missing != 1 {
		t.Fatalf("%d files missing, want 1", missing)
	}

	// Bad payloads are refused with 400 and create nothing.
	for _, payload := range []string{`{"path": "relative/dir"}`, `{"paht": "/x"}`, `{}`} {
		resp, err := client.Post(d.url("/api/jobs"), "application/json",
			strings.NewReader(fmt.Sprintf(`{"kind":"scan","payload":%s}`, payload)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("scan payload %s = %d, want 400", payload, resp.StatusCode)
		}
	}
}

// slowFFProbe installs a fake ffprobe that answers slowly, so that a scan
// takes long enough to be cancelled mid-way.
func slowFFProbe(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	script := "#!/bin/sh\nsleep 0.3\necho '{\"streams\":[{\"codec_type\":\"video\",\"codec_name\":\"h264\"},{\"codec_type\":\"audio\",\"codec_name\":\"aac\"}],\"format\":{\"duration\":\"42.5\"}}'\n"
	if err := os.WriteFile(filepath.Join(bin, "ffprobe"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin
}

func TestCancelRunningScan(t *testing.T) {
	dir := t.TempDir()
	bin := slowFFProbe(t, dir)
	root := filepath.Join(dir, "media")
	for i := 0; i < 60; i++ {
		p := filepath.Join(root, fmt.Sprintf("d%02d", i), "movie.mkv")
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	d := start(t, startOpts{dir: dir, env: []string{"PATH=" + bin + ":" + os.Getenv("PATH")}, wait: true})
	j := d.submit("scan", fmt.Sprintf(`{"path": %q}`, root))
	// Wait until some files are recorded, then cancel.
	deadline := time.Now().Add(20 * time.Second)
	for len(d.files()) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("scan recorded nothing:\n%s", d.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	code, _, stderr := run(t, baseEnv(dir), "jobs", "cancel", j.ID, "--url", d.url(""))
	if code != exitOK {
		t.Fatalf("jobs cancel = %d: %s", code, stderr)
	}
	d.waitJob(j.ID, "cancelled", 10*time.Second)
	kept := d.files()
	if len(kept) < 2 || len(kept) >= 60 {
		t.Fatalf("after cancel the library has %d files, want what was recorded before (2..59)", len(kept))
	}
	if kept[0].Codec != "h264" || kept[0].Tracks != 2 {
		t.Fatalf("ffprobe details not recorded: %+v", kept[0])
	}
	// A cancelled job can be retried.
	code, _, stderr = run(t, baseEnv(dir), "jobs", "retry", j.ID, "--url", d.url(""))
	if code != exitOK {
		t.Fatalf("jobs retry = %d: %s", code, stderr)
	}
	code, _, _ = run(t, baseEnv(dir), "jobs", "cancel", j.ID, "--url", d.url(""))
	if code != exitOK {
		t.Fatalf("cancel after retry = %d", code)
	}
}

func TestJobsCLIWithoutDaemon(t *testing.T) {
	dir := t.TempDir()
	code, _, stderr := run(t, baseEnv(dir), "jobs", "list", "--url", fmt.Sprintf("http://127.0.0.1:%d", freePort(t)))
	if code != 6 || !strings.Contains(stderr, "cannot reach the vpo daemon") {
		t.Fatalf("jobs list without daemon = %d %q; want 6 and a clear message", code, stderr)
	}
}

func TestJobsAPIRejectsBadInput(t *testing.T) {
	d := start(t, startOpts{wait: true})
	for _, tc := range []struct {
		method, path, body string
		want               int
	}{
		{"POST", "/api/jobs", `{"kind":"nope"}`, 400},
		{"POST", "/api/jobs", `{"kind":"scan","payload":{"path":"/tmp"},"extra":1}`, 400},
		{"POST", "/api/jobs", `{not json`, 400},
		{"POST", "/api/jobs", `{"kind":"scan","payload":{"path":"/tmp"},"priority":5000}`, 400},
		{"GET", "/api/jobs/not-a-uuid", "", 400},
		{"GET", "/api/jobs/01a21cca-35e9-7c20-a879-36e62d9ae617", "", 404},
		{"POST", "/api/jobs/01a21cca-35e9-7c20-a879-36e62d9ae617/cancel", "", 404},
		{"GET", "/api/jobs?status=bogus", "", 400},
		{"DELETE", "/api/jobs", "", 405},
	} {
		req, _ := http.NewRequest(tc.method, d.url(tc.path), strings.NewReader(tc.body))
		if tc.method != http.MethodGet {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var e map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode != tc.want || e["error"] == nil || e["error"] == "" {
			t.Fatalf("%s %s %s = %d %v, want %d with an error message", tc.method, tc.path, tc.body, resp.StatusCode, e, tc.want)
		}
	}
	// None of that created a job.
	resp, err := client.Get(d.url("/api/jobs"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Jobs []job `json:"jobs"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&out)
	if len(out.Jobs) != 0 {
		t.Fatalf("bad requests created %d jobs", len(out.Jobs))
	}
}

// TestSubmitRequiresTags: `vpo jobs submit --requires` (a list read as
// jobs.tags is: "gpu, " is gpu) submits a job that only a node offering
// the tags claims (this one offers none: it waits,
// and vpo jobs list says why); a bad tag is refused, naming it.
func TestSubmitRequiresTags(t *testing.T) {
	d := start(t, startOpts{extra: testKinds, wait: true})
	cli := func(args ...string) (int, string, string) {
		return run(t, baseEnv(d.dir), append(args, "--url", d.url(""), "--config", filepath.Join(d.dir, "config.toml"))...)
	}
	code, out, stderr := cli("jobs", "submit", "test.sleep", "--payload", `{"seconds":0}`, "--requires", "gpu, ", "--json")
	if code != exitOK {
		t.Fatalf("jobs submit --requires gpu = %d: %s", code, stderr)
	}
	var j struct {
		ID       string   `json:"id"`
		Requires []string `json:"requires"`
	}
	if err := json.Unmarshal([]byte(out), &j); err != nil || strings.Join(j.Requires, ",") != "gpu" {
		t.Fatalf("jobs submit --requires gpu printed %q (%v); want a job requiring gpu", out, err)
	}
	d.waitJob(d.submit("test.sleep", `{"seconds":0}`).ID, "completed", 10*time.Second)
	d.stillQueued(j.ID)
	if code, out, _ := cli("jobs", "list"); code != exitOK || !strings.Contains(out, "needs a node with gpu") {
		t.Errorf("jobs list = %d:\n%s\nwant the job needing a node with gpu", code, out)
	}
	if code, _, stderr := cli("jobs", "submit", "test.sleep", "--requires", "GPU card"); code == exitOK || !strings.Contains(stderr, "GPU card") {
		t.Errorf("jobs submit --requires 'GPU card' = %d: %s; want a refusal naming the tag", code, stderr)
	}
}
