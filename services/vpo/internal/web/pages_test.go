package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/mux"

	"github.com/vpo-project/vpo/libs/store"
	"github.com/vpo-project/vpo/services/vpo/internal/web"
)

const hostile = `/m/<script>alert(1)</script> & "quotes".mkv`

// dashboard serves the pages over a real store holding 60 jobs, a few
// files (one with a hostile name) and a dry-run plan.
func dashboard(t *testing.T, sessions *web.Sessions) fixture {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.Open(ctx, filepath.Join(dir, "l.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	var last store.Job
	for i := range 60 {
		if last, err = st.CreateJob(ctx, store.NewJob{Kind: "scan", Payload: json.RawMessage(fmt.Sprintf(`{"path":"/m/%d"}`, i))}); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{hostile, "/m/Alpha.mkv", "/m/Beta.mkv", "/m/caf\xe9.mkv", "/m/nl\nname.mkv"} {
		if err := st.UpsertFile(ctx, store.File{Path: p, LastScannedAt: time.Now(), Size: 1 << 20}); err != nil {
			t.Fatal(err)
		}
	}
	plan := `{"policy":"english","changes":[{"kind":"remove_track","track":2,"track_type":"audio","phase":"filter","reason":"audio track 2 (fre) not in keep_audio.languages [eng]"}],"target":{}}`
	if _, err := st.CreatePlan(ctx, store.Plan{JobID: last.ID, Policy: "english", Path: "/m/Alpha.mkv", Status: store.PlanPlanned, DryRun: true, Plan: json.RawMessage(plan)}, time.Now()); err != nil {
		t.Fatal(err)
	}
	pending, err := st.CreatePlan(ctx, store.Plan{JobID: last.ID, Policy: "english", Path: "/m/Beta.mkv", Status: store.PlanPending, Plan: json.RawMessage(plan)}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	alpha, err := st.GetFile(ctx, "/m/Alpha.mkv")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.RecordApplied(ctx, store.AppliedChange{File: alpha, Policy: "english", History: store.HistoryEntry{
		Policy: "english", JobID: last.ID, Executor: "mkvmerge", Plan: json.RawMessage(plan),
		TracksBefore: json.RawMessage(`[]`), TracksAfter: json.RawMessage(`[]`)}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	pdir := filepath.Join(dir, "policies")
	if err := os.MkdirAll(pdir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{
		"english.yaml": "schema_version: 13\ndescription: English only\nphases:\n  - name: filter\n    keep_audio:\n      languages: [eng]\n",
		"broken.yaml":  "schema_version: 13\nphases: [\n",
	} {
		if err := os.WriteFile(filepath.Join(pdir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	d, err := web.New(web.Options{
		Store: st,
		Health: func(context.Context) any {
			return map[string]any{"status": "healthy", "version": "1.2.3", "workers": 4, "jobs_running": 1,
				"queue":     map[string]any{"paused": true, "window_open": false},
				"libraries": []map[string]any{{"id": "lib1", "path": "/m", "watch": true, "watching": false, "fallback_reason": "watch limit reached"}}}
		},
		Kinds:     func() []string { return []string{"apply", "scan"} },
		PolicyDir: func() string { return pdir },
		Sessions:  sessions,
	})
	if err != nil {
		t.Fatal(err)
	}
	r := mux.NewRouter()
	for _, rt := range d.Routes() {
		r.Handle(rt.Path, rt.Handler).Methods(rt.Method)
	}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return fixture{srv: srv, lastJob: last.ID, pendingPlan: pending.ID}
}

// fixture is what dashboard made.
type fixture struct {
	srv         *httptest.Server
	lastJob     string // the newest job
	pendingPlan int64  // a plan waiting for approval
}

var noFollow = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func get(t *testing.T, srv *httptest.Server, path string) (int, http.Header, string) {
	t.Helper()
	resp, err := noFollow.Get(srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func TestPages(t *testing.T) {
	fx := dashboard(t, nil)
	srv, lastJob, pendingPlan := fx.srv, fx.lastJob, fx.pendingPlan
	tests := []struct {
		path  string
		code  int
		title string
		has   []string
	}{
		{"/", 200, "Overview", []string{"1 busy, 3 idle", "paused", "Resume the queue", "not watching: watch limit reached", `href="/jobs?state=queued"`}},
		{"/jobs", 200, "Jobs", []string{"Older jobs", `data-action="/api/jobs/` + lastJob + `/cancel"`, "/m/59"}},
		{"/jobs?state=queued&kind=scan", 200, "Jobs", []string{"/m/59"}},
		{"/jobs?state=bogus", 400, "Bad Request", []string{`state &#34;bogus&#34; is not a job state`}},
		{"/jobs?kind=bogus", 400, "Bad Request", []string{`kind &#34;bogus&#34; is not a job kind`}},
		{"/jobs?state=%zz", 400, "Bad Request", []string{"malformed query string"}},
		{"/library?filter=missing;x=1", 400, "Bad Request", []string{"malformed query string"}},
		{"/jobs/" + lastJob, 200, "Job " + lastJob[:8], []string{"Payload", "/m/59", "No log lines yet"}},
		{"/jobs/" + strings.ToUpper(lastJob), 200, "Job " + lastJob[:8], []string{"/m/59"}},
		{"/jobs/not-a-job", 404, "Not Found", []string{"is not a job id"}},
		{"/jobs/01234567-89ab-cdef-0123-456789abcdef", 404, "Not Found", []string{"not found"}},
		{"/library", 200, "Library", []string{"/m/Alpha.mkv", "/m/Beta.mkv", "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &#34;quotes&#34;.mkv"}},
		{"/library?q=alp", 200, "Library", []string{"/m/Alpha.mkv"}},
		{"/library?q=caf", 200, "Library", []string{`/m/caf\xe9.mkv`}},
		{"/library?q=name", 200, "Library", []string{`/m/nl\x0aname.mkv`}},
		{"/library?filter=missing", 200, "Library", []string{"No files match"}},
		{"/library?filter=nope", 400, "Bad Request", []string{"filter"}},
		{"/library?cursor=%25%25", 400, "Bad Request", []string{"malformed cursor"}},
		{"/library/1", 200, "File 1", []string{"Change history", "has not been probed", "vpo has not changed this file"}},
		{"/library/2", 200, "File 2", []string{"/m/Alpha.mkv", "policy english", "with mkvmerge", "remove_track", "audio track 2 (fre) not in keep_audio.languages [eng]"}},
		{"/library/999", 404, "Not Found", []string{"file 999 not found"}},
		{"/library/x", 404, "Not Found", []string{"not a file id"}},
		{"/plans", 200, "Plans", []string{"/m/Beta.mkv", fmt.Sprintf(`data-action="/api/plans/%d/approve"`, pendingPlan), fmt.Sprintf(`data-action="/api/plans/%d/reject"`, pendingPlan), "No plans applied yet"}},
		{"/plans?job=" + lastJob, 200, "Plans of job " + lastJob[:8], []string{"/m/Alpha.mkv", "remove_track", "not in keep_audio.languages [eng]", "(dry run)"}},
		{"/plans?job=nope", 400, "Bad Request", []string{"not a job id"}},
		{"/policies", 200, "Policies", []string{"<h1>Policies</h1>", "English only", "does not parse", `<option>english</option>`}},
		{"/policies/english", 200, "Policy english", []string{"keep_audio:"}},
		{"/policies/none", 404, "Not Found", []string{"no policy named"}},
	}
	titleRe := regexp.MustCompile(`<title>(.*) · vpo</title>`)
	for _, tt := range tests {
		code, h, body := get(t, srv, tt.path)
		if code != tt.code {
			t.Errorf("GET %s = %d, want %d\n%s", tt.path, code, tt.code, body)
			continue
		}
		if m := titleRe.FindStringSubmatch(body); m == nil || m[1] != tt.title {
			t.Errorf("GET %s: title %v, want %q", tt.path, m, tt.title)
		}
		for _, want := range tt.has {
			if !strings.Contains(body, want) {
				t.Errorf("GET %s lacks %q", tt.path, want)
			}
		}
		if strings.Contains(body, "<script>alert") {
			t.Errorf("GET %s: a file name reached the page unescaped", tt.path)
		}
		if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "unsafe") {
			t.Errorf("GET %s: CSP %q", tt.path, csp)
		}
		if strings.Contains(body, "<script>") || strings.Contains(body, " style=") || strings.Contains(body, " onclick=") {
			t.Errorf("GET %s: inline script or style in the page", tt.path)
		}
	}
}

func TestJobsPaging(t *testing.T) {
	srv := dashboard(t, nil).srv
	seen := map[string]bool{}
	next := "/jobs"
	for pages := 0; next != ""; pages++ {
		if pages > 3 {
			t.Fatal("paging never ends")
		}
		_, _, body := get(t, srv, next)
		rows := regexp.MustCompile(`data-job-row="([^"]+)"`).FindAllStringSubmatch(body, -1)
		for _, r := range rows {
			if seen[r[1]] {
				t.Errorf("job %s on two pages", r[1])
			}
			seen[r[1]] = true
		}
		m := regexp.MustCompile(`href="(/jobs\?[^"]*cursor=[^"]+)" rel="next"`).FindStringSubmatch(body)
		next = ""
		if m != nil {
			next = strings.ReplaceAll(m[1], "&amp;", "&")
		}
	}
	if len(seen) != 60 {
		t.Errorf("paging showed %d jobs, want 60", len(seen))
	}
}

func TestLogin(t *testing.T) {
	key, _, _ := web.LoadKey(t.TempDir())
	sessions := web.NewSessions(key, "token-0123456789abcdef")
	srv := dashboard(t, sessions).srv
	post := func(token, next string) (int, http.Header) {
		resp, err := noFollow.PostForm(srv.URL+"/login", url.Values{"token": {token}, "next": {next}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header
	}
	if code, h := post("wrong-token-0123456789", "/jobs"); code != http.StatusUnauthorized || h.Get("Set-Cookie") != "" {
		t.Errorf("wrong token: %d, cookie %q", code, h.Get("Set-Cookie"))
	}
	for next, want := range map[string]string{"/jobs?state=failed": "/jobs?state=failed", "//evil.example/": "/", "https://evil.example/": "/",
		`/\evil`: "/", "": "/", "/\t/evil.example/": "/", "/\n/evil.example": "/", "/\x7f/x": "/", "javascript:alert(1)": "/"} {
		code, h := post("token-0123456789abcdef", next)
		if code != http.StatusSeeOther || h.Get("Location") != want || !strings.Contains(h.Get("Set-Cookie"), web.SessionCookie+"=") {
			t.Errorf("login with next %q: %d to %q (cookie %q), want 303 to %q", next, code, h.Get("Location"), h.Get("Set-Cookie"), want)
		}
	}
	if code, _, body := get(t, srv, "/login?next=/plans"); code != http.StatusOK || !strings.Contains(body, `name="next" value="/plans"`) || !strings.Contains(body, `<label for="token">`) {
		t.Errorf("login page: %d\n%s", code, body)
	}
}

func TestStaticFiles(t *testing.T) {
	srv := dashboard(t, nil).srv
	for _, p := range []string{"/static/app.js", "/static/style.css"} {
		code, h, body := get(t, srv, p)
		if code != http.StatusOK || len(body) < 100 || h.Get("Content-Security-Policy") == "" {
			t.Errorf("GET %s: %d, %d bytes, CSP %q", p, code, len(body), h.Get("Content-Security-Policy"))
		}
	}
	if code, _, _ := get(t, srv, "/static/nope.js"); code != http.StatusNotFound {
		t.Errorf("GET a missing static file: %d", code)
	}
}
