package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/vpo-project/vpo/libs/health"
	"github.com/vpo-project/vpo/libs/jobs"
	"github.com/vpo-project/vpo/libs/store"
	"github.com/vpo-project/vpo/services/vpo/internal/scan"
	"github.com/vpo-project/vpo/services/vpo/internal/server"
	"github.com/vpo-project/vpo/services/vpo/internal/testkinds"
)

type testAPI struct {
	handler http.Handler
	store   *store.Store
}

// newTestAPI mounts the real router, jobs API and job kinds on a store in a
// temporary directory. No workers run: submitted jobs stay queued.
func newTestAPI(tb testing.TB, token string, dbCheck health.Checker) *testAPI {
	tb.Helper()
	st, err := store.Open(context.Background(), filepath.Join(tb.TempDir(), "library.db"), store.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = st.Close() })
	logger := logrus.New()
	logger.SetOutput(io.Discard)
	log := logrus.NewEntry(logger)
	reg := jobs.NewRegistry()
	if err := reg.Register(scan.Kind, scan.New(st, nil, log)); err != nil {
		tb.Fatal(err)
	}
	if err := reg.Register(testkinds.SleepKind, testkinds.Sleep{}); err != nil {
		tb.Fatal(err)
	}
	if dbCheck == nil {
		dbCheck = health.CheckerFunc(st.Ping)
	}
	hl := health.New(health.Options{Version: "test", Database: dbCheck, CacheFor: -1})
	hl.SetReady(true)
	api := server.NewJobsAPI(server.JobsAPIOptions{Store: st, Kinds: reg})
	return &testAPI{
		handler: server.NewRouter(server.RouterOptions{Health: hl, Jobs: api, Log: log, AuthToken: token}),
		store:   st,
	}
}

func (a *testAPI) do(method, target string, body io.Reader, auth string) *httptest.ResponseRecorder {
	req := apiRequest(method, target, body)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	rec := httptest.NewRecorder()
	a.handler.ServeHTTP(rec, req)
	return rec
}

func (a *testAPI) jobCount(t *testing.T) int {
	t.Helper()
	counts, err := a.store.CountJobs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range counts {
		n += c
	}
	return n
}

// checkErrorBody asserts a JSON {"error": "..."} answer.
func checkErrorBody(t *testing.T, rec *httptest.ResponseRecorder, what string) {
	t.Helper()
	var e struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error == "" {
		t.Fatalf("%s: %d answer is not a JSON error: %q", what, rec.Code, rec.Body.String())
	}
}

// FuzzSubmitJob posts arbitrary bodies to /api/jobs (job JSON and the
// payloads of every kind): 201 stores exactly one job; 400 or 413 store
// nothing and say why; nothing else, and no panic.
func FuzzSubmitJob(f *testing.F) {
	for _, seed := range []string{
		`{"kind":"scan","payload":{"path":"/srv/media"}}`,
		`{"kind":"scan","payload":{"path":"/srv/media","recursive":false},"priority":10,"max_attempts":5}`,
		`{"kind":"test.sleep","payload":{"seconds":1.5,"ignore_cancel":false,"fail":false}}`,
		`{"kind":"test.sleep","payload":{"seconds":-1}}`,
		`{"kind":"test.sleep"}`,
		`{"kind":"scan","payload":null}`,
		`{"kind":"scan","payload":{"path":"rel"}}`,
		`{"kind":"nope"}`,
		`{"kind":"scan","priority":1001}`,
		`{"kind":"scan","payload":{"path":"/a"}} {}`,
		`{"kind":"scan","payload":{"path":"/a"},"x":1}`,
		`[`, ``, `null`, `"scan"`,
	} {
		f.Add([]byte(seed))
	}
	api := newTestAPI(f, "", nil)
	f.Fuzz(func(t *testing.T, body []byte) {
		before := api.jobCount(t)
		rec := api.do(http.MethodPost, "/api/jobs", strings.NewReader(string(body)), "")
		after := api.jobCount(t)
		switch rec.Code {
		case http.StatusCreated:
			var j store.Job
			if err := json.Unmarshal(rec.Body.Bytes(), &j); err != nil || j.ID == "" {
				t.Fatalf("201 without a job: %q", rec.Body.String())
			}
			if after != before+1 {
				t.Fatalf("201 but %d jobs stored (was %d)", after, before)
			}
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
			checkErrorBody(t, rec, "POST /api/jobs")
			if after != before {
				t.Fatalf("rejected body %q changed the job count %d -> %d", body, before, after)
			}
		default:
			t.Fatalf("POST /api/jobs %q = %d %s", body, rec.Code, rec.Body.String())
		}
	})
}

// FuzzListJobs: any query string gets 200 or 400 (never a 500).
func FuzzListJobs(f *testing.F) {
	f.Add("queued", "scan", "10", "")
	f.Add("exploded", "", "-1", "zzz")
	f.Add("", "", "abc", "%00")
	f.Add("completed", "test.sleep", "100000", "eyJ0IjoxfQ")
	api := newTestAPI(f, "", nil)
	f.Fuzz(func(t *testing.T, status, kind, limit, cursor string) {
		q := url.Values{"status": {status}, "kind": {kind}, "limit": {limit}, "cursor": {cursor}}
		rec := api.do(http.MethodGet, "/api/jobs?"+q.Encode(), nil, "")
		switch rec.Code {
		case http.StatusOK:
		case http.StatusBadRequest:
			checkErrorBody(t, rec, "GET /api/jobs")
		default:
			t.Fatalf("GET /api/jobs?%s = %d %s", q.Encode(), rec.Code, rec.Body.String())
		}
	})
}

// FuzzJobPath: any job id in the path, with any action, gets a JSON answer
// below 500.
func FuzzJobPath(f *testing.F) {
	f.Add("00000000-0000-0000-0000-000000000000", uint8(0))
	f.Add("not-a-uuid", uint8(1))
	f.Add("00000000-0000-0000-0000-00000000000G", uint8(2))
	f.Add("..", uint8(3))
	// Non-canonical spellings of a UUID are accepted and canonicalised.
	f.Add("{00000000-0000-0000-0000-000000000000}", uint8(0))
	f.Add("URN:UUID:0000000A-0000-0000-0000-000000000000", uint8(1))
	f.Add("0000000a000000000000000000000000", uint8(2))
	actions := []string{"", "/cancel", "/retry", "/nope"}
	api := newTestAPI(f, "", nil)
	f.Fuzz(func(t *testing.T, id string, action uint8) {
		target := "/api/jobs/" + url.PathEscape(id) + actions[int(action)%len(actions)]
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			rec := api.do(method, target, nil, "")
			if rec.Code >= 500 {
				t.Fatalf("%s %s = %d %s", method, target, rec.Code, rec.Body.String())
			}
			if rec.Code >= 400 {
				checkErrorBody(t, rec, method+" "+target)
			}
		}
	})
}

// TestHealthRedaction: with a token, /health keeps its status code but shows
// only status and shutting_down to callers without the token.
func TestHealthRedaction(t *testing.T) {
	const token = "0123456789abcdef-token"
	for _, tc := range []struct {
		name     string
		dbErr    error
		wantCode int
		status   string
	}{
		{"healthy", nil, 200, "healthy"},
		{"degraded", io.ErrUnexpectedEOF, 503, "degraded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := newTestAPI(t, token, health.CheckerFunc(func(context.Context) error { return tc.dbErr }))
			for _, auth := range []string{"", "Bearer wrong", token} {
				rec := api.do(http.MethodGet, "/health", nil, auth)
				var m map[string]any
				if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
					t.Fatal(err)
				}
				if rec.Code != tc.wantCode || m["status"] != tc.status || m["shutting_down"] != false || len(m) != 2 {
					t.Fatalf("auth %q: %d %v, want %d with only status %q and shutting_down", auth, rec.Code, m, tc.wantCode, tc.status)
				}
				if rec.Header().Get("Content-Type") != "application/json" {
					t.Fatalf("Content-Type %q", rec.Header().Get("Content-Type"))
				}
			}
			rec := api.do(http.MethodGet, "/health", nil, "Bearer "+token)
			var m map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
				t.Fatal(err)
			}
			if rec.Code != tc.wantCode || m["version"] != "test" || m["database"] == nil {
				t.Fatalf("with the token: %d %v, want the full document", rec.Code, m)
			}
			if rec := api.do(http.MethodHead, "/health", nil, ""); rec.Code != tc.wantCode || rec.Body.Len() != 0 {
				t.Fatalf("HEAD /health = %d with %d bytes", rec.Code, rec.Body.Len())
			}
			for _, p := range []string{"/health/live", "/health/ready"} {
				if rec := api.do(http.MethodGet, p, nil, ""); rec.Code == http.StatusUnauthorized {
					t.Fatalf("%s asks for the token", p)
				}
			}
		})
	}
}

// FuzzRequestRules sends any Host, Origin, Content-Type and Authorization
// to the router with and without a token: no answer is a 5xx, every error
// is JSON, and a request that got through to a handler (2xx) obeyed the
// rules — the token when one is set, a loopback or allowed Host when not,
// and JSON from the daemon's own origin for a state change.
func FuzzRequestRules(f *testing.F) {
	const token = "fuzz-0123456789abcdef"
	f.Add(false, uint8(0), "127.0.0.1:8321", "", "application/json", "")
	f.Add(false, uint8(1), "evil.example", "http://evil.example", "text/plain", "")
	f.Add(false, uint8(2), "[::1]:8321", "http://[::1]:8321", "application/json; charset=utf-8", "")
	f.Add(true, uint8(3), "evil.example:8321", "null", "application/json", "Bearer "+token)
	f.Add(true, uint8(0), "x", "", "", "basic dnBvOmZ1enotMDEyMzQ1Njc4OWFiY2RlZg==")
	f.Add(true, uint8(4), "", "http://x", "multipart/form-data; boundary=a", "Bearer")
	open := newTestAPI(f, "", nil)
	closed := newTestAPI(f, token, nil)
	requests := []struct{ method, path string }{
		{http.MethodGet, "/api/jobs"},
		{http.MethodPost, "/api/jobs"},
		{http.MethodPost, "/api/jobs/00000000-0000-0000-0000-000000000000/cancel"},
		{http.MethodGet, "/health"},
		{http.MethodDelete, "/api/jobs"},
		{http.MethodGet, "/nope"},
	}
	f.Fuzz(func(t *testing.T, withToken bool, which uint8, host, origin, contentType, auth string) {
		api := open
		if withToken {
			api = closed
		}
		rq := requests[int(which)%len(requests)]
		req := httptest.NewRequest(rq.method, rq.path, strings.NewReader(`{"kind":"test.sleep","payload":{"seconds":0}}`))
		req.Host = host
		for k, v := range map[string]string{"Origin": origin, "Content-Type": contentType, "Authorization": auth} {
			if v != "" {
				req.Header.Set(k, v)
			}
		}
		rec := httptest.NewRecorder()
		api.handler.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s = %d %s", rq.method, rq.path, rec.Code, rec.Body.String())
		}
		if rec.Code >= 400 {
			checkErrorBody(t, rec, rq.method+" "+rq.path)
		}
		if rec.Code >= 300 || rq.path == "/health" {
			return
		}
		switch {
		case withToken && !strings.Contains(strings.ToLower(auth), "bearer "+token) && !strings.HasPrefix(strings.ToLower(auth), "basic "):
			t.Fatalf("%s %s with Authorization %q got %d", rq.method, rq.path, auth, rec.Code)
		case !withToken && !loopbackLooking(host):
			t.Fatalf("%s %s with Host %q got %d", rq.method, rq.path, host, rec.Code)
		case rq.method == http.MethodPost && !strings.HasPrefix(strings.ToLower(strings.TrimSpace(contentType)), "application/json"):
			t.Fatalf("POST with Content-Type %q got %d", contentType, rec.Code)
		case rq.method == http.MethodPost && origin != "" && !sameHost(origin, host):
			t.Fatalf("POST with Origin %q to Host %q got %d", origin, host, rec.Code)
		}
	})
}

// sameHost reports whether origin's host part is host.
func sameHost(origin, host string) bool {
	u, err := url.Parse(origin)
	return err == nil && strings.EqualFold(u.Host, host)
}

// loopbackLooking is a rough, independent check that host names this
// machine: localhost or a loopback address, any case, any port.
func loopbackLooking(host string) bool {
	h := strings.ToLower(host)
	return strings.HasPrefix(h, "localhost") || strings.HasPrefix(h, "127.") || strings.HasPrefix(h, "[::1]") ||
		strings.HasPrefix(h, "[0:0:0:0:0:0:0:1]") || strings.HasPrefix(h, "[::0:1]") || strings.HasPrefix(h, "[0::1]")
}

// FuzzHookPayload posts arbitrary bodies to the Sonarr and Radarr hooks
// (seeded with the samples in testdata/hooks): the answer is 200 (Test or
// ignored, nothing queued), 202 (each queued file an absolute, clean path,
// listed in the answer), 400 or 413 (a JSON error, nothing queued) or 422
// (the refused path named, only the files listed as queued were queued);
// never a 5xx, never a panic.
func FuzzHookPayload(f *testing.F) {
	entries, err := os.ReadDir(filepath.Join("testdata", "hooks"))
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("testdata", "hooks", e.Name()))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, strings.HasPrefix(e.Name(), "radarr"))
	}
	for _, seed := range []struct {
		body   string
		radarr bool
	}{
		{`{"eventType":"Download","series":{"path":"/srv/media/tv/x"},"episodeFiles":[{"relativePath":"a.mkv"},{"path":"/elsewhere/b.mkv"}]}`, false},
		{`{"eventType":"Download","movie":{"folderPath":"/srv/media/movies/x/"},"movieFile":{"relativePath":"./a/../b.mkv"}}`, true},
		{`{"eventType":"Download","episodeFile":{"path":"/srv/media/tv/../movies/a.mkv"}}`, false},
		{`{"eventType":"Download","movieFile":{"path":"/srv/media/movies//x/./a.mkv"}}`, true},
		{`{"eventType":"Download","episodeFile":{"path":"relative/a.mkv"}}`, false},
		{`{"eventType":"Download","isUpgrade":null,"movieFile":{"path":"/srv/media/movies"}}`, true},
		{`{"EVENTTYPE":"Test"}`, false}, {`{"eventType":"Test","eventType":"Download"}`, true},
		{`null`, false}, {`[]`, true}, {``, false}, {`{`, true},
	} {
		f.Add([]byte(seed.body), seed.radarr)
	}
	fx := newHooks(f, "")
	f.Fuzz(func(t *testing.T, body []byte, radarr bool) {
		app := "sonarr"
		if radarr {
			app = "radarr"
		}
		fx.target.reset()
		rec := fx.post("/api/hooks/"+app, string(body), "")
		calls := fx.target.taken()
		var m map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
			t.Fatalf("%d answer is not a JSON object: %q", rec.Code, rec.Body.String())
		}
		for _, c := range calls {
			if c.source != app || !filepath.IsAbs(c.path) || filepath.Clean(c.path) != c.path {
				t.Fatalf("queued %+v for %s: want an absolute, clean path", c, app)
			}
		}
		listed := func(key string) []string {
			var out []string
			items, _ := m[key].([]any)
			for _, it := range items {
				p, _ := it.(map[string]any)["path"].(string)
				out = append(out, p)
			}
			return out
		}
		var queued []string
		for _, c := range calls {
			queued = append(queued, c.path)
		}
		switch rec.Code {
		case http.StatusOK:
			if m["ok"] != true || m["event"] == "" || m["event"] == nil || len(calls) != 0 {
				t.Fatalf("200 %v with %d files queued", m, len(calls))
			}
		case http.StatusAccepted:
			if len(calls) == 0 || m["job_id"] != "job-1" || !slices.Equal(listed("files"), queued) {
				t.Fatalf("202 %v, queued %q", m, queued)
			}
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
			checkErrorBody(t, rec, "POST /api/hooks/"+app)
			if len(calls) != 0 {
				t.Fatalf("%d but queued %q", rec.Code, queued)
			}
		case http.StatusUnprocessableEntity:
			checkErrorBody(t, rec, "POST /api/hooks/"+app)
			if p, _ := m["path"].(string); p == "" || !slices.Equal(listed("queued"), queued) {
				t.Fatalf("422 %v, queued %q", m, queued)
			}
		default:
			t.Fatalf("POST /api/hooks/%s %q = %d %s", app, body, rec.Code, rec.Body.String())
		}
	})
}
