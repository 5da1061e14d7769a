package server_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vpo-project/vpo/libs/store"
	"github.com/vpo-project/vpo/services/vpo/internal/server"
)

func policiesRouter(t *testing.T, dir string) (*store.Store, func(method, target string) *httptest.ResponseRecorder) {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "vpo.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	api := server.NewPoliciesAPI(server.PoliciesAPIOptions{Store: st, Dir: func() string { return dir }})
	h := server.NewRouter(server.RouterOptions{Health: fakeHealth{}, Policies: api})
	return st, func(method, target string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(method, "http://localhost"+target, nil)
		if method == "POST" {
			req.Header.Set("Content-Type", "application/json")
		}
		h.ServeHTTP(rec, req)
		return rec
	}
}

// TestPoliciesDirIsAFile: a policies.dir that is a regular file is
// reported with its error, and not as an existing directory.
func TestPoliciesDirIsAFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "policies")
	if err := os.WriteFile(dir, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, do := policiesRouter(t, dir)
	rec := do("GET", "/api/policies")
	if body := rec.Body.String(); rec.Code != 200 || !strings.Contains(body, `"directory_exists":false`) || !strings.Contains(body, `"error":`) {
		t.Fatalf("policies.dir is a file: %d %s", rec.Code, body)
	}
}

func TestPoliciesList(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "policies")
	_, do := policiesRouter(t, dir)
	rec := do("GET", "/api/policies")
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"directory_exists":false`) || !strings.Contains(rec.Body.String(), `"policies":[]`) {
		t.Fatalf("missing directory: %d %s", rec.Code, rec.Body)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{
		"good.yaml":   "schema_version: 13\nconfig:\n  audio_languages: [eng]\nphases:\n  - name: p\n    keep_audio:\n      languages: [eng]\n",
		"broken.yaml": "schema_version: 13\nphases: [\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rec = do("GET", "/api/policies")
	var out struct {
		Policies []map[string]any `json:"policies"`
		Total    int              `json:"total"`
		Exists   bool             `json:"directory_exists"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || rec.Code != 200 || out.Total != 2 || !out.Exists {
		t.Fatalf("GET /api/policies = %d %s", rec.Code, rec.Body)
	}
	for _, p := range out.Policies {
		for _, k := range []string{"name", "filename", "file_path", "last_modified", "schema_version", "description",
			"audio_languages", "subtitle_languages", "has_transcode", "has_transcription", "parse_error", "unsupported"} {
			if _, ok := p[k]; !ok {
				t.Errorf("policy %v lacks %q", p["name"], k)
			}
		}
		if (p["name"] == "broken") != (p["parse_error"] != nil) {
			t.Errorf("policy %v: parse_error %v", p["name"], p["parse_error"])
		}
	}
	if rec := do("GET", "/api/policies/broken"); rec.Code != 200 || !strings.Contains(rec.Body.String(), `"source":"schema_version: 13`) {
		t.Errorf("GET /api/policies/broken = %d %s", rec.Code, rec.Body)
	}
	if rec := do("GET", "/api/policies/none"); rec.Code != 404 {
		t.Errorf("GET /api/policies/none = %d", rec.Code)
	}
}

func TestPlansAPI(t *testing.T) {
	st, do := policiesRouter(t, t.TempDir())
	ctx := context.Background()
	p, err := st.CreatePlan(ctx, store.Plan{JobID: "j", Policy: "p", Path: "/m/a.mkv", Status: store.PlanPending,
		Plan: json.RawMessage(`{"changes":[]}`)}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		method, target string
		code           int
		want           string
	}{
		{"GET", "/api/plans?status=nope", 400, "status"},
		{"GET", "/api/plans?limit=x", 400, "limit"},
		{"GET", "/api/plans?cursor=abc", 400, "cursor"},
		{"GET", "/api/plans?colour=red", 400, "colour"},
		{"GET", "/api/plans?status=pending&path=/m/a.mkv", 200, `"status":"pending"`},
		{"POST", "/api/plans/x/approve", 400, "plan id"},
		{"POST", "/api/plans/99/approve", 404, "not found"},
		{"POST", "/api/plans/99/reject", 404, "not found"},
		{"POST", "/api/plans/1/reject", 200, `"status":"rejected"`},
		{"POST", "/api/plans/1/reject", 409, "rejected"},
		{"POST", "/api/plans/1/approve", 409, "rejected"},
		{"GET", "/api/files/0", 400, "file id"},
		{"GET", "/api/files/7", 404, "not found"},
	} {
		rec := do(tc.method, tc.target)
		if rec.Code != tc.code || !strings.Contains(rec.Body.String(), tc.want) {
			t.Errorf("%s %s = %d %s; want %d with %q", tc.method, tc.target, rec.Code, rec.Body, tc.code, tc.want)
		}
	}
	q, err := st.CreatePlan(ctx, store.Plan{JobID: "j", Policy: "p", Path: "/m/b.mkv", Status: store.PlanPending,
		Plan: json.RawMessage(`{"changes":[]}`)}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	rec := do("POST", "/api/plans/2/approve")
	var ap struct {
		Plan  store.Plan `json:"plan"`
		JobID string     `json:"job_id"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &ap); err != nil || rec.Code != 200 || ap.Plan.ID != q.ID || ap.Plan.Status != store.PlanApproved || ap.JobID == "" {
		t.Fatalf("approve = %d %s", rec.Code, rec.Body)
	}
	j, err := st.GetJob(ctx, ap.JobID)
	if err != nil || j.Kind != "apply" || !strings.Contains(string(j.Payload), `"plan_id":2`) {
		t.Errorf("approval job = %+v, %v", j, err)
	}
	_ = p
}

// TestPlansJobFilter: ?job= takes the spellings of a job id that
// /api/jobs/{id} takes, and refuses anything else with 400.
func TestPlansJobFilter(t *testing.T) {
	st, do := policiesRouter(t, t.TempDir())
	const id = "0194c2a0-7b1e-7cde-8f00-0123456789ab"
	if _, err := st.CreatePlan(context.Background(), store.Plan{JobID: id, Policy: "p", Path: "/m/a.mkv", Status: store.PlanPlanned,
		Plan: json.RawMessage(`{"changes":[]}`)}, time.Now()); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		job  string
		code int
		want string
	}{
		{id, 200, `"job_id":"` + id + `"`},
		{"{" + id + "}", 200, `"job_id":"` + id + `"`},
		{strings.ToUpper(id), 200, `"job_id":"` + id + `"`},
		{strings.ReplaceAll(id, "-", ""), 200, `"job_id":"` + id + `"`},
		{"urn:uuid:" + id, 200, `"job_id":"` + id + `"`},
		{"0194c2a0-7b1e-7cde-8f00-0123456789ac", 200, `"plans":[]`},
		{"notauuid", 400, `job \"notauuid\" is not a job id (a UUID)`},
		{"x" + id + "y", 400, "is not a job id"},
	} {
		rec := do("GET", "/api/plans?job="+url.QueryEscape(tc.job))
		if rec.Code != tc.code || !strings.Contains(rec.Body.String(), tc.want) {
			t.Errorf("?job=%s = %d %s; want %d with %q", tc.job, rec.Code, rec.Body, tc.code, tc.want)
		}
	}
}

// TestPolicyAmbiguous: a name held by NAME.yaml and NAME.yml is 409;
// each file is still shown by its filename, with the ambiguity as its
// error, and the list shows both with it.
func TestPolicyAmbiguous(t *testing.T) {
	dir := t.TempDir()
	const body = "schema_version: 13\nphases:\n  - name: p\n    keep_audio:\n      languages: [eng]\n"
	for _, name := range []string{"dup.yaml", "dup.yml"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, do := policiesRouter(t, dir)
	for _, tc := range []struct {
		target string
		code   int
		text   string
	}{
		{"/api/policies/dup", 409, `policy \"dup\" is ambiguous: both ` + filepath.Join(dir, "dup.yaml") + " and " + filepath.Join(dir, "dup.yml")},
		{"/api/policies/dup.yml", 200, `"parse_error":"` + filepath.Join(dir, "dup.yml") + `: policy \"dup\" is ambiguous`},
		{"/api/policies", 200, `"parse_error":"` + filepath.Join(dir, "dup.yaml") + `: policy \"dup\" is ambiguous`},
	} {
		rec := do("GET", tc.target)
		if rec.Code != tc.code || !strings.Contains(rec.Body.String(), tc.text) {
			t.Errorf("GET %s = %d %s; want %d with %q", tc.target, rec.Code, rec.Body, tc.code, tc.text)
		}
	}
}

// TestPolicyFIFO: a FIFO named like a policy is answered at once, as a
// file that is not a regular file.
func TestPolicyFIFO(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(dir, "pipe.yaml"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, do := policiesRouter(t, dir)
	done := make(chan [2]*httptest.ResponseRecorder)
	go func() {
		done <- [2]*httptest.ResponseRecorder{do("GET", "/api/policies"), do("GET", "/api/policies/pipe")}
	}()
	var recs [2]*httptest.ResponseRecorder
	select {
	case recs = <-done:
	case <-time.After(20 * time.Second):
		// Not a time limit on the work: a read of the FIFO never returns.
		t.Fatal("GET /api/policies blocked on a FIFO in the policies directory")
	}
	for i, want := range []string{
		`"parse_error":"` + filepath.Join(dir, "pipe.yaml") + `: not a regular file`,
		`"source":""`,
	} {
		if recs[i].Code != 200 || !strings.Contains(recs[i].Body.String(), want) {
			t.Errorf("request %d = %d %s; want 200 with %q", i, recs[i].Code, recs[i].Body, want)
		}
	}
}
