package integration_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// needTools skips (or, under CI, fails) a test when a media tool is missing.
func needTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			missing(t, tool+" is not installed")
		}
	}
}

// missing ends a test that cannot run here for want of what: under CI it
// fails (CI installs everything), elsewhere it is skipped, saying so.
func missing(t *testing.T, what string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("%s (required under CI)", what)
	}
	t.Skipf("%s (not required outside CI)", what)
}

var (
	fixtureOnce sync.Once
	fixtureData []byte
	fixtureErr  error
)

// mkvFixture writes a 2 s, 160x120 MKV with one video and two audio
// tracks (eng, fre) at path; it is generated once per test binary.
func mkvFixture(t *testing.T, path string) {
	t.Helper()
	needTools(t, "ffmpeg", "ffprobe", "mkvmerge", "mkvpropedit")
	fixtureOnce.Do(func() {
		dir, err := os.MkdirTemp("", "vpo-fixture-")
		if err != nil {
			fixtureErr = err
			return
		}
		defer os.RemoveAll(dir)
		out := filepath.Join(dir, "f.mkv")
		cmd := exec.Command("ffmpeg", "-v", "error", "-y",
			"-f", "lavfi", "-i", "testsrc=size=160x120:rate=10:duration=2",
			"-f", "lavfi", "-i", "sine=frequency=440:duration=2",
			"-f", "lavfi", "-i", "sine=frequency=660:duration=2",
			"-map", "0", "-map", "1", "-map", "2", "-c:v", "mpeg4", "-q:v", "20", "-c:a", "aac", "-b:a", "24k",
			"-metadata:s:a:0", "language=eng", "-metadata:s:a:1", "language=fre", out)
		if b, err := cmd.CombinedOutput(); err != nil {
			fixtureErr = fmt.Errorf("ffmpeg: %v: %s", err, b)
			return
		}
		fixtureData, fixtureErr = os.ReadFile(out)
	})
	if fixtureErr != nil {
		t.Fatal(fixtureErr)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, fixtureData, 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
}

// Policies used by the tests.
const (
	keepBothPolicy = "schema_version: 13\nphases:\n  - name: filter\n    keep_audio:\n      languages: [eng, fre]\n"
	keepEngPolicy  = "schema_version: 13\nphases:\n  - name: filter\n    keep_audio:\n      languages: [eng]\n"
)

func writePolicy(t *testing.T, dir, name, body string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// startPolicies boots a daemon whose policies directory is DIR/policies.
func startPolicies(t *testing.T, extra string) (*daemon, string) {
	t.Helper()
	dir := t.TempDir()
	pdir := filepath.Join(dir, "policies")
	d := start(t, startOpts{dir: dir, wait: true, extra: fmt.Sprintf("\n[policies]\ndir = %q\nmin_file_age = \"0s\"\n%s\n", pdir, extra)})
	return d, pdir
}

type applyCounts struct {
	Files           int `json:"files"`
	Unchanged       int `json:"unchanged"`
	Applied         int `json:"applied"`
	Planned         int `json:"planned"`
	PendingApproval int `json:"pending_approval"`
	Skipped         int `json:"skipped"`
	Failed          int `json:"failed"`
}

type fileOutcome struct {
	Outcome string `json:"outcome"`
	PlanID  int64  `json:"plan_id"`
	Reason  string `json:"reason"`
}

// applyDir runs an apply job of a directory to completion and returns its counts.
func (d *daemon) applyDir(policy, path string, dryRun bool) (job, applyCounts) {
	d.t.Helper()
	j := d.submit("apply", fmt.Sprintf(`{"policy":%q,"path":%q,"recursive":true,"dry_run":%v}`, policy, path, dryRun))
	done := d.waitJob(j.ID, "completed", 60*time.Second)
	var c applyCounts
	if err := json.Unmarshal(done.Result, &c); err != nil {
		d.t.Fatalf("apply result %s: %v", done.Result, err)
	}
	return done, c
}

// applyFile runs an apply job of one file to completion.
func (d *daemon) applyFile(policy, path string, dryRun bool) fileOutcome {
	d.t.Helper()
	j := d.submit("apply", fmt.Sprintf(`{"policy":%q,"path":%q,"dry_run":%v}`, policy, path, dryRun))
	done := d.waitJob(j.ID, "completed", 30*time.Second)
	var o fileOutcome
	if err := json.Unmarshal(done.Result, &o); err != nil {
		d.t.Fatalf("apply result %s: %v", done.Result, err)
	}
	return o
}

func streams(t *testing.T, path string) int {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "stream=index", "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	return len(strings.Fields(string(out)))
}

type fileStamp struct {
	ino   uint64
	mtime time.Time
	sum   string
}

func stamp(t *testing.T, path string) fileStamp {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return fileStamp{ino: fi.Sys().(*syscall.Stat_t).Ino, mtime: fi.ModTime(), sum: hex.EncodeToString(s[:])}
}

func (d *daemon) getBody(path string, v any) int {
	d.t.Helper()
	return d.callJSON(http.MethodGet, path, "", v)
}

func (d *daemon) post(path string, v any) int {
	d.t.Helper()
	return d.callJSON(http.MethodPost, path, "{}", v)
}

// callJSON sends one request (see call) and decodes a 200 answer into v
// (when not nil); it returns the status.
func (d *daemon) callJSON(method, path, body string, v any) int {
	d.t.Helper()
	code, _, b := d.call(method, path, body, "")
	if v != nil && code == http.StatusOK {
		if err := json.Unmarshal(b, v); err != nil {
			d.t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
	return code
}

// TestApplyDirectory: a directory apply through the API makes one child job
// per file and counts them; an edited policy is picked up by the next job;
// a second apply of the same policy changes nothing (same inode and mtime);
// GET /api/files/{id} shows the history.
func TestApplyDirectory(t *testing.T) {
	d, pdir := startPolicies(t, "")
	lib := filepath.Join(d.dir, "lib")
	names := []string{"a.mkv", "b.mkv", "sub/c.mkv"}
	for _, n := range names {
		mkvFixture(t, filepath.Join(lib, n))
	}
	writePolicy(t, pdir, "audio.yaml", keepBothPolicy)

	parent, c := d.applyDir("audio", lib, false)
	if c != (applyCounts{Files: 3, Unchanged: 3}) {
		t.Fatalf("first apply (both languages kept) = %+v; want 3 unchanged", c)
	}
	var kids struct {
		Jobs []struct {
			ParentID string `json:"parent_id"`
			Status   string `json:"status"`
		} `json:"jobs"`
	}
	if code := d.getBody("/api/jobs?parent="+parent.ID, &kids); code != http.StatusOK || len(kids.Jobs) != 3 {
		t.Fatalf("GET /api/jobs?parent = %d, %d jobs; want 3 children", code, len(kids.Jobs))
	}
	for _, k := range kids.Jobs {
		if k.ParentID != parent.ID || k.Status != "completed" {
			t.Errorf("child = %+v", k)
		}
	}

	// The policy is edited: the next job reads the new version.
	writePolicy(t, pdir, "audio.yaml", keepEngPolicy)
	_, c = d.applyDir("audio", lib, false)
	if c != (applyCounts{Files: 3, Applied: 3}) {
		t.Fatalf("apply after the edit = %+v; want 3 applied", c)
	}
	before := map[string]fileStamp{}
	for _, n := range names {
		p := filepath.Join(lib, n)
		if got := streams(t, p); got != 2 {
			t.Errorf("%s has %d streams after the apply, want 2", n, got)
		}
		before[n] = stamp(t, p)
	}

	// Idempotent: nothing to do the second time, the files untouched.
	_, c = d.applyDir("audio", lib, false)
	if c != (applyCounts{Files: 3, Unchanged: 3}) {
		t.Fatalf("second apply = %+v; want 3 unchanged", c)
	}
	for _, n := range names {
		if got := stamp(t, filepath.Join(lib, n)); got != before[n] {
			t.Errorf("%s changed by an apply with nothing to do: %+v → %+v", n, before[n], got)
		}
	}

	// The file's history.
	var id int64
	for _, f := range d.files() {
		if f.Path == filepath.Join(lib, "a.mkv") {
			var row struct {
				ID int64 `json:"id"`
			}
			raw, _ := json.Marshal(f)
			_ = json.Unmarshal(raw, &row)
			id = row.ID
		}
	}
	if id == 0 {
		var list struct {
			Files []struct {
				ID   int64  `json:"id"`
				Path string `json:"path"`
			} `json:"files"`
		}
		d.getBody("/api/files?limit=1000", &list)
		for _, f := range list.Files {
			if f.Path == filepath.Join(lib, "a.mkv") {
				id = f.ID
			}
		}
	}
	var detail struct {
		Path    string `json:"path"`
		Tracks  []any  `json:"tracks"`
		History []struct {
			Policy       string          `json:"policy"`
			Executor     string          `json:"executor"`
			Plan         json.RawMessage `json:"plan"`
			TracksBefore []any           `json:"tracks_before"`
			TracksAfter  []any           `json:"tracks_after"`
		} `json:"history"`
	}
	if code := d.getBody(fmt.Sprintf("/api/files/%d", id), &detail); code != http.StatusOK {
		t.Fatalf("GET /api/files/%d = %d", id, code)
	}
	if len(detail.Tracks) != 2 || len(detail.History) != 1 {
		t.Fatalf("file detail: %d tracks, %d history entries; want 2 and 1", len(detail.Tracks), len(detail.History))
	}
	h := detail.History[0]
	if h.Policy != "audio" || h.Executor == "" || len(h.TracksBefore) != 3 || len(h.TracksAfter) != 2 || len(h.Plan) < 10 {
		t.Errorf("history entry = %+v", h)
	}
	if code := d.getBody("/api/files/999999", nil); code != http.StatusNotFound {
		t.Errorf("GET /api/files/999999 = %d, want 404", code)
	}
}

type planRow struct {
	ID         int64  `json:"id"`
	Status     string `json:"status"`
	DryRun     bool   `json:"dry_run"`
	Path       string `json:"path"`
	Error      string `json:"error"`
	ApplyJobID string `json:"apply_job_id"`
}

// TestApplyDryRunAndApproval: a dry run stores a plan and changes nothing;
// with require_approval a plan waits, is applied once approved, and a file
// that changed after planning is planned again instead.
func TestApplyDryRunAndApproval(t *testing.T) {
	d, pdir := startPolicies(t, "require_approval = true")
	writePolicy(t, pdir, "eng.yaml", keepEngPolicy)
	a, b := filepath.Join(d.dir, "lib", "a.mkv"), filepath.Join(d.dir, "lib", "b.mkv")
	mkvFixture(t, a)
	mkvFixture(t, b)
	orig := stamp(t, a)

	if o := d.applyFile("eng", a, true); o.Outcome != "planned" || o.PlanID == 0 {
		t.Fatalf("dry run = %+v; want planned", o)
	}
	if got := stamp(t, a); got != orig {
		t.Fatalf("dry run changed the file: %+v → %+v", orig, got)
	}
	var plans struct {
		Plans []planRow `json:"plans"`
	}
	d.getBody("/api/plans?status=planned", &plans)
	if len(plans.Plans) != 1 || !plans.Plans[0].DryRun || plans.Plans[0].Path != a {
		t.Fatalf("planned plans = %+v", plans.Plans)
	}
	if code := d.getBody("/api/plans?status=bogus", nil); code != http.StatusBadRequest {
		t.Errorf("GET /api/plans?status=bogus = %d, want 400", code)
	}

	// Approval required: the plan waits and the file is not touched.
	o := d.applyFile("eng", a, false)
	if o.Outcome != "pending_approval" || stamp(t, a) != orig {
		t.Fatalf("apply with approval required = %+v (file changed: %v)", o, stamp(t, a) != orig)
	}
	var ap struct {
		Plan  planRow `json:"plan"`
		JobID string  `json:"job_id"`
	}
	if code := d.post(fmt.Sprintf("/api/plans/%d/approve", o.PlanID), &ap); code != http.StatusOK || ap.Plan.Status != "approved" || ap.JobID == "" {
		t.Fatalf("approve = %d %+v", code, ap)
	}
	d.waitJob(ap.JobID, "completed", 30*time.Second)
	var applied planRow
	d.getBody(fmt.Sprintf("/api/plans?path=%s&limit=1", a), &plans)
	if len(plans.Plans) > 0 {
		applied = plans.Plans[0]
	}
	if applied.ID != o.PlanID || applied.Status != "applied" || streams(t, a) != 2 {
		t.Fatalf("after approval plan = %+v, %d streams; want applied, 2 streams", applied, streams(t, a))
	}
	if code := d.post(fmt.Sprintf("/api/plans/%d/approve", o.PlanID), nil); code != http.StatusConflict {
		t.Errorf("second approval = %d, want 409", code)
	}

	// b changes after its plan was made: approving re-plans it.
	ob := d.applyFile("eng", b, false)
	if ob.Outcome != "pending_approval" {
		t.Fatalf("b = %+v", ob)
	}
	later := time.Now().Add(-30 * time.Minute)
	if err := os.Chtimes(b, later, later); err != nil {
		t.Fatal(err)
	}
	bBefore := stamp(t, b)
	if code := d.post(fmt.Sprintf("/api/plans/%d/approve", ob.PlanID), &ap); code != http.StatusOK {
		t.Fatalf("approve b = %d", code)
	}
	done := d.waitJob(ap.JobID, "completed", 30*time.Second)
	var res fileOutcome
	_ = json.Unmarshal(done.Result, &res)
	d.getBody("/api/plans?path="+b, &plans)
	status := map[int64]string{}
	for _, p := range plans.Plans {
		status[p.ID] = p.Status
	}
	if status[ob.PlanID] != "superseded" || res.Outcome != "pending_approval" || res.PlanID == ob.PlanID || status[res.PlanID] != "pending" {
		t.Fatalf("changed file: old plan %s, job result %+v, plans %v; want old superseded, a new pending plan", status[ob.PlanID], res, status)
	}
	if got := stamp(t, b); got != bBefore {
		t.Errorf("a file changed after planning was applied blindly")
	}
	// Reject the new plan.
	var rj struct {
		Plan planRow `json:"plan"`
	}
	if code := d.post(fmt.Sprintf("/api/plans/%d/reject", res.PlanID), &rj); code != http.StatusOK || rj.Plan.Status != "rejected" {
		t.Errorf("reject = %d %+v", code, rj.Plan)
	}
	if code := d.post("/api/plans/999999/reject", nil); code != http.StatusNotFound {
		t.Errorf("reject of an unknown plan = %d, want 404", code)
	}
}

// TestPoliciesAPIAndBrokenPolicy: /api/policies lists a good and a broken
// policy (the broken one with its error, not a 500); an apply with the
// broken one fails naming file and line.
func TestPoliciesAPIAndBrokenPolicy(t *testing.T) {
	d, pdir := startPolicies(t, "")
	var list struct {
		Policies []struct {
			Name       string   `json:"name"`
			ParseError *string  `json:"parse_error"`
			Audio      []string `json:"audio_languages"`
		} `json:"policies"`
		Total  int    `json:"total"`
		Dir    string `json:"policies_directory"`
		Exists bool   `json:"directory_exists"`
	}
	if code := d.getBody("/api/policies", &list); code != http.StatusOK || list.Exists || list.Total != 0 || list.Dir != pdir {
		t.Fatalf("no directory: %d %+v; want an empty list, directory_exists false", code, list)
	}
	writePolicy(t, pdir, "good.yaml", keepEngPolicy)
	writePolicy(t, pdir, "broken.yaml", "schema_version: 13\nphases:\n  - nmae: filter\n")
	if code := d.getBody("/api/policies", &list); code != http.StatusOK || !list.Exists || list.Total != 2 {
		t.Fatalf("GET /api/policies = %d %+v", code, list)
	}
	for _, p := range list.Policies {
		switch p.Name {
		case "broken":
			if p.ParseError == nil || !strings.Contains(*p.ParseError, "broken.yaml") {
				t.Errorf("broken policy listed without its error: %+v", p)
			}
		case "good":
			if p.ParseError != nil {
				t.Errorf("good policy listed with error %q", *p.ParseError)
			}
		default:
			t.Errorf("unexpected policy %q", p.Name)
		}
	}
	var one struct {
		Name   string          `json:"name"`
		Policy json.RawMessage `json:"policy"`
		Source string          `json:"source"`
	}
	if code := d.getBody("/api/policies/good", &one); code != http.StatusOK || one.Source != keepEngPolicy || len(one.Policy) < 10 {
		t.Errorf("GET /api/policies/good = %d %+v", code, one)
	}
	if code := d.getBody("/api/policies/nope", nil); code != http.StatusNotFound {
		t.Errorf("GET /api/policies/nope = %d, want 404", code)
	}

	f := filepath.Join(d.dir, "lib", "a.mkv")
	mkvFixture(t, f)
	before := stamp(t, f)
	j := d.submit("apply", fmt.Sprintf(`{"policy":"broken","path":%q}`, f))
	done := d.waitJob(j.ID, "failed", 30*time.Second)
	if !strings.Contains(done.Error, "broken.yaml:3") || done.Attempts != 1 {
		t.Errorf("job error %q after %d attempts; want broken.yaml:3 named, at the first attempt (no retry)", done.Error, done.Attempts)
	}
	if stamp(t, f) != before {
		t.Error("a failed apply changed the file")
	}
}

// TestPolicySettingsReload: policies.dir and policies.require_approval
// change on SIGHUP, for the jobs that start after it.
func TestPolicySettingsReload(t *testing.T) {
	d, _ := startPolicies(t, "")
	f := filepath.Join(d.dir, "lib", "a.mkv")
	mkvFixture(t, f)
	before := stamp(t, f)
	// The policy exists only in a directory the daemon does not use yet.
	other := filepath.Join(d.dir, "other-policies")
	writePolicy(t, other, "eng.yaml", keepEngPolicy)
	d.rewriteConfig(fmt.Sprintf("\n[policies]\ndir = %q\nmin_file_age = \"0s\"\nrequire_approval = true\n", other))
	d.reloadAndWait(1)
	d.waitLog(5*time.Second, "policies.require_approval changed from false to true")
	d.waitLog(5*time.Second, "policies.dir changed from")
	if o := d.applyFile("eng", f, false); o.Outcome != "pending_approval" {
		t.Fatalf("apply after the reload = %+v; want pending_approval (policy from the new directory)", o)
	}
	if stamp(t, f) != before {
		t.Error("a plan waiting for approval changed the file")
	}
	var list struct {
		Dir string `json:"policies_directory"`
	}
	if d.getBody("/api/policies", &list); list.Dir != other {
		t.Errorf("/api/policies lists %q, want the reloaded directory %q", list.Dir, other)
	}
}

// TestApplyContainerChangeMovesTheFile: a plan that converts a.mp4 to
// a.mkv moves the file's row to the new path; its id and history follow.
func TestApplyContainerChangeMovesTheFile(t *testing.T) {
	d, pdir := startPolicies(t, "")
	writePolicy(t, pdir, "mkv.yaml", "schema_version: 13\nphases:\n  - name: c\n    container:\n      target: mkv\n")
	mkv := filepath.Join(d.dir, "fixture", "a.mkv")
	mkvFixture(t, mkv)
	src := filepath.Join(d.dir, "lib", "a.mp4")
	if err := os.MkdirAll(filepath.Dir(src), 0o755); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command("ffmpeg", "-v", "error", "-i", mkv, "-map", "0", "-c", "copy", src).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg remux to mp4: %v: %s", err, b)
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(src, old, old); err != nil {
		t.Fatal(err)
	}
	d.scanNow(filepath.Dir(src), true)
	var list struct {
		Files []struct {
			ID   int64  `json:"id"`
			Path string `json:"path"`
		} `json:"files"`
	}
	d.getBody("/api/files", &list)
	if len(list.Files) != 1 || list.Files[0].Path != src || list.Files[0].ID == 0 {
		t.Fatalf("after the scan: %+v", list.Files)
	}
	id := list.Files[0].ID

	j := d.submit("apply", fmt.Sprintf(`{"policy":"mkv","path":%q}`, src))
	done := d.waitJob(j.ID, "completed", 30*time.Second)
	var res struct {
		Outcome string `json:"outcome"`
		NewPath string `json:"new_path"`
	}
	_ = json.Unmarshal(done.Result, &res)
	dst := strings.TrimSuffix(src, ".mp4") + ".mkv"
	if res.Outcome != "applied" || res.NewPath != dst {
		t.Fatalf("result %s; want applied with new_path %s", done.Result, dst)
	}
	if _, err := os.Stat(src); !os.IsNotExist(err) {
		t.Errorf("%s still exists after the conversion: %v", src, err)
	}
	var detail struct {
		ID      int64  `json:"id"`
		Path    string `json:"path"`
		History []struct {
			Executor string `json:"executor"`
		} `json:"history"`
	}
	if code := d.getBody(fmt.Sprintf("/api/files/%d", id), &detail); code != http.StatusOK || detail.Path != dst ||
		len(detail.History) != 1 || detail.History[0].Executor == "" {
		t.Fatalf("GET /api/files/%d = %d %+v; want the row moved to %s with one change", id, code, detail, dst)
	}
	d.getBody("/api/files", &list)
	if len(list.Files) != 1 {
		t.Errorf("files after the move: %+v; want one row", list.Files)
	}
}

// TestApplyMkvToMp4 converts an MKV file whose tracks carry titles and no
// default flags to MP4: the plan targets what ffmpeg writes, so the result
// verifies and replaces the file.
func TestApplyMkvToMp4(t *testing.T) {
	d, pdir := startPolicies(t, "")
	writePolicy(t, pdir, "mp4.yaml", "schema_version: 13\nphases:\n  - name: c\n    container:\n      target: mp4\n")
	fixture := filepath.Join(d.dir, "fixture", "a.mkv")
	mkvFixture(t, fixture)
	src := filepath.Join(d.dir, "lib", "a.mkv")
	if err := os.MkdirAll(filepath.Dir(src), 0o755); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command("mkvmerge", "--quiet", "-o", src,
		"--track-name", "0:Camera", "--track-name", "1:Stereo",
		"--default-track-flag", "0:0", "--default-track-flag", "1:0", "--default-track-flag", "2:0",
		fixture).CombinedOutput(); err != nil {
		t.Fatalf("mkvmerge: %v: %s", err, b)
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(src, old, old); err != nil {
		t.Fatal(err)
	}
	j := d.submit("apply", fmt.Sprintf(`{"policy":"mp4","path":%q}`, src))
	done := d.waitJob(j.ID, "completed", 30*time.Second)
	var res struct {
		Outcome string `json:"outcome"`
		NewPath string `json:"new_path"`
	}
	_ = json.Unmarshal(done.Result, &res)
	dst := strings.TrimSuffix(src, ".mkv") + ".mp4"
	if res.Outcome != "applied" || res.NewPath != dst {
		t.Fatalf("result %s; want applied with new_path %s", done.Result, dst)
	}
	if n := streams(t, dst); n != 3 {
		t.Errorf("%s has %d streams, want 3", dst, n)
	}
	if _, err := os.Stat(src); !os.IsNotExist(err) {
		t.Errorf("%s still exists after the conversion: %v", src, err)
	}
}

// TestApplyFileReplacedWhileItsJobWaits: an apply job queued behind a busy
// worker runs on the file that is at the path when it starts — here a new
// file with another track layout — never on what the scan or an earlier
// plan saw.
func TestApplyFileReplacedWhileItsJobWaits(t *testing.T) {
	d, pdir := startPolicies(t, "[jobs]\nworkers = 1\ntest_kinds = true\n")
	writePolicy(t, pdir, "eng.yaml", keepEngPolicy)
	src := filepath.Join(d.dir, "lib", "a.mkv")
	mkvFixture(t, src)
	d.scanNow(filepath.Dir(src), true)

	// The only worker sleeps; the apply job waits behind it.
	sleeper := d.submit("test.sleep", `{"seconds":2}`)
	d.waitJob(sleeper.ID, "running", 10*time.Second)
	j := d.submit("apply", fmt.Sprintf(`{"policy":"eng","path":%q}`, src))

	// Meanwhile the file is replaced: a new file (new inode, other size)
	// with a third audio track, in Japanese.
	repl := filepath.Join(d.dir, "lib", ".new.mkv")
	if b, err := exec.Command("ffmpeg", "-v", "error", "-i", src,
		"-f", "lavfi", "-i", "sine=frequency=880:duration=2",
		"-map", "0", "-map", "1", "-c", "copy", "-c:a:2", "aac", "-b:a:2", "24k",
		"-metadata:s:a:2", "language=jpn", repl).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v: %s", err, b)
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(repl, old, old); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(repl, src); err != nil {
		t.Fatal(err)
	}
	if n := streams(t, src); n != 4 {
		t.Fatalf("the replacement has %d streams, want 4", n)
	}

	done := d.waitJob(j.ID, "completed", 60*time.Second)
	var res fileOutcome
	_ = json.Unmarshal(done.Result, &res)
	if res.Outcome != "applied" {
		t.Fatalf("result %s; want applied", done.Result)
	}
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "a", "-show_entries", "stream_tags=language",
		"-of", "csv=p=0", src).Output()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Fields(string(out)); len(got) != 1 || got[0] != "eng" {
		t.Errorf("audio languages after the apply: %q; want only eng (the replacement's fre and jpn removed)", got)
	}
}
