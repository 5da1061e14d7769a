package server_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"

	"github.com/vpo-project/vpo/libs/jobs"
	"github.com/vpo-project/vpo/libs/store"
	"github.com/vpo-project/vpo/services/vpo/internal/server"
)

const guardToken = "guard-0123456789abcdef"

// newGuardedRouter is the router with a token (or none) and allowed hosts,
// over an in-memory store holding one queued job.
func newGuardedRouter(t *testing.T, token string, hosts []string) (http.Handler, *fakeStore, string) {
	t.Helper()
	api, st, id := jobsAPIWithJob(t)
	h := server.NewRouter(server.RouterOptions{Health: fakeHealth{}, Jobs: api, AuthToken: token, AllowedHosts: hosts})
	return h, st, id
}

// jobsAPIWithJob is the jobs API over an in-memory store holding one
// queued scan job, whose id it returns.
func jobsAPIWithJob(t *testing.T) (*server.JobsAPI, *fakeStore, string) {
	t.Helper()
	reg := jobs.NewRegistry()
	if err := reg.Register("scan", validatingHandler{}); err != nil {
		t.Fatal(err)
	}
	st := &fakeStore{jobs: map[string]store.Job{}}
	job, err := st.CreateJob(t.Context(), store.NewJob{Kind: "scan"})
	if err != nil {
		t.Fatal(err)
	}
	return server.NewJobsAPI(server.JobsAPIOptions{Store: st, Kinds: reg}), st, job.ID
}

// guardCase is one request and the answer it must get.
type guardCase struct {
	name   string
	method string
	path   string
	host   string            // "" = 127.0.0.1:8321
	header map[string]string // "Content-Type" defaults to application/json on non-GET; "-" removes it
	body   string
	want   int
}

func (c guardCase) serve(h http.Handler) *httptest.ResponseRecorder {
	req := httptest.NewRequest(c.method, c.path, strings.NewReader(c.body))
	req.Host = "127.0.0.1:8321"
	if c.host != "" {
		req.Host = c.host
	}
	if c.host == "-" {
		req.Host = ""
	}
	if c.method != http.MethodGet && c.method != http.MethodHead {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range c.header {
		if v == "-" {
			req.Header.Del(k)
			continue
		}
		req.Header[http.CanonicalHeaderKey(k)] = strings.Split(v, "\n")
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// runGuardCases checks every case's status, and that every error answer is JSON.
func runGuardCases(t *testing.T, h http.Handler, cases []guardCase) {
	t.Helper()
	for _, c := range cases {
		rec := c.serve(h)
		if rec.Code != c.want {
			t.Errorf("%s: %s %s (Host %q) = %d %s, want %d", c.name, c.method, c.path, c.host, rec.Code, rec.Body.String(), c.want)
			continue
		}
		// Errors are JSON (a 503 is the ready probe's own document).
		if rec.Code >= 400 && rec.Code != http.StatusServiceUnavailable && c.method != http.MethodHead {
			var e struct {
				Error string `json:"error"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error == "" {
				t.Errorf("%s: %d answer is not a JSON error: %q", c.name, rec.Code, rec.Body.String())
			}
		}
	}
}

func basic(user, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}

// TestHostRule: without a token only names of the daemon reach it, so a
// DNS-rebinding page cannot read the library; probes are exempt.
func TestHostRule(t *testing.T) {
	h, _, id := newGuardedRouter(t, "", []string{"vpo.lan", "NAS.Example."})
	ok := []string{
		"127.0.0.1:8321", "127.0.0.1", "localhost", "localhost:8321", "localhost:9999", "LocalHost.",
		"[::1]:8321", "[::1]", "127.0.0.2:8321", "vpo.lan", "VPO.LAN:8321", "nas.example",
	}
	bad := []string{
		"evil.example", "evil.example:8321", "-", "::1", "127.0.0.1.evil.example", "localhost.evil.example",
		"vpo.lan.evil.example", "192.168.1.10:8321", "[fe80::1]:8321", "0.0.0.0:8321", "local host", "[::1", "::1:8321",
		"localhost:abc", "localhost:99999", "localhost:", "127.0.0.1:0", "localhost:+80", "localhost:080",
	}
	var cases []guardCase
	for _, host := range ok {
		cases = append(cases,
			guardCase{name: "allowed " + host, method: "GET", path: "/api/jobs", host: host, want: 200},
			guardCase{name: "allowed post " + host, method: "POST", path: "/api/jobs/" + id + "/retry", host: host, want: 409})
	}
	for _, host := range bad {
		cases = append(cases,
			guardCase{name: "foreign " + host, method: "GET", path: "/api/jobs", host: host, want: 421},
			guardCase{name: "foreign job " + host, method: "GET", path: "/api/jobs/" + id, host: host, want: 421},
			guardCase{name: "foreign unknown path " + host, method: "GET", path: "/nope", host: host, want: 421},
			guardCase{name: "foreign post " + host, method: "POST", path: "/api/jobs/" + id + "/cancel", host: host, want: 421},
			guardCase{name: "probe live " + host, method: "GET", path: "/health/live", host: host, want: 200},
			guardCase{name: "probe ready " + host, method: "GET", path: "/health/ready", host: host, want: 503},
			guardCase{name: "health " + host, method: "GET", path: "/health", host: host, want: 200})
	}
	runGuardCases(t, h, cases)

	// /health answers a foreign Host with its status only.
	for _, tc := range []struct {
		host string
		keys string
	}{{"evil.example", "shutting_down,status"}, {"localhost:8321", "status"}} {
		rec := guardCase{method: "GET", path: "/health", host: tc.host}.serve(h)
		if got := keysOf(t, rec.Body.Bytes()); got != tc.keys {
			t.Errorf("/health with Host %s: keys %s, want %s (%s)", tc.host, got, tc.keys, rec.Body.String())
		}
	}
}

func keysOf(t *testing.T, b []byte) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("not a JSON object: %q", b)
	}
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return strings.Join(keys, ",")
}

// TestContentTypeAndOrigin: state-changing requests need
// "Content-Type: application/json" (a cross-site form cannot send it
// without a preflight) and, with an Origin header, the daemon's own origin;
// with or without a token.
func TestContentTypeAndOrigin(t *testing.T) {
	for _, token := range []string{"", guardToken} {
		name := "no token"
		if token != "" {
			name = "token"
		}
		t.Run(name, func(t *testing.T) {
			h, st, id := newGuardedRouter(t, token, nil)
			auth := map[string]string{}
			if token != "" {
				auth["Authorization"] = "Bearer " + token
			}
			with := func(kv ...string) map[string]string {
				m := map[string]string{}
				for k, v := range auth {
					m[k] = v
				}
				for i := 0; i+1 < len(kv); i += 2 {
					m[kv[i]] = kv[i+1]
				}
				return m
			}
			submit := `{"kind":"scan","payload":{"path":"/m"}}`
			cancel := "/api/jobs/" + id + "/cancel"
			before := st.count()
			runGuardCases(t, h, []guardCase{
				{"no content type", "POST", "/api/jobs", "", with("Content-Type", "-"), submit, 415},
				{"form", "POST", "/api/jobs", "", with("Content-Type", "application/x-www-form-urlencoded"), submit, 415},
				{"multipart", "POST", "/api/jobs", "", with("Content-Type", "multipart/form-data; boundary=x"), submit, 415},
				{"text", "POST", "/api/jobs", "", with("Content-Type", "text/plain"), submit, 415},
				{"json lookalike", "POST", "/api/jobs", "", with("Content-Type", "application/jsonx"), submit, 415},
				{"two content types", "POST", "/api/jobs", "", with("Content-Type", "application/json\ntext/plain"), submit, 415},
				{"bad media type", "POST", "/api/jobs", "", with("Content-Type", "application/json; ="), submit, 415},
				{"empty body, no content type", "POST", cancel, "", with("Content-Type", "-"), "", 415},
				{"foreign origin", "POST", "/api/jobs", "", with("Origin", "http://evil.example"), submit, 403},
				{"null origin", "POST", "/api/jobs", "", with("Origin", "null"), submit, 403},
				{"other local origin", "POST", "/api/jobs", "", with("Origin", "http://127.0.0.1:3000"), submit, 403},
				{"other name of this host", "POST", "/api/jobs", "", with("Origin", "http://localhost:8321"), submit, 403},
				{"origin with path", "POST", "/api/jobs", "", with("Origin", "http://127.0.0.1:8321/x"), submit, 403},
				{"two origins", "POST", "/api/jobs", "", with("Origin", "http://127.0.0.1:8321\nhttp://evil.example"), submit, 403},
				{"foreign origin cancel", "POST", cancel, "", with("Origin", "http://evil.example"), "", 403},
				{"foreign origin and no content type", "POST", cancel, "", with("Origin", "http://evil.example", "Content-Type", "-"), "", 403},
			})
			if st.count() != before {
				t.Fatalf("refused requests stored jobs: %d -> %d", before, st.count())
			}
			if j, _ := st.GetJob(t.Context(), id); j.Status != "queued" {
				t.Fatalf("refused cancel changed the job: %s", j.Status)
			}
			runGuardCases(t, h, []guardCase{
				{"json", "POST", "/api/jobs", "", with(), submit, 201},
				{"json with charset", "POST", "/api/jobs", "", with("Content-Type", "Application/JSON; charset=utf-8"), submit, 201},
				{"own origin", "POST", "/api/jobs", "", with("Origin", "http://127.0.0.1:8321"), submit, 201},
				{"own origin, https", "POST", "/api/jobs", "", with("Origin", "https://127.0.0.1:8321"), submit, 201},
				{"read with a foreign origin", "GET", "/api/jobs", "", with("Origin", "http://evil.example"), "", 200},
				{"cancel without a body", "POST", cancel, "", with(), "", 200},
				// Unknown routes and methods answer 404 and 405 first.
				{"wrong method without content type", "DELETE", "/api/jobs", "", with("Content-Type", "-"), "", 405},
				{"unknown path without content type", "POST", "/api/nope", "", with("Content-Type", "-"), "", 404},
			})
			if st.count() != before+4 {
				t.Fatalf("accepted submissions stored %d jobs, want 4", st.count()-before)
			}
		})
	}
}

// TestTokenRule: with a token every request but the probes and /health
// needs it, before any 404 or 405; Bearer (any case) and Basic (the token
// as password, any user) are accepted; the Host is free.
func TestTokenRule(t *testing.T) {
	h, _, id := newGuardedRouter(t, guardToken, nil)
	good := []string{
		"Bearer " + guardToken, "bearer " + guardToken, "BEARER  " + guardToken,
		basic("vpo", guardToken), basic("", guardToken), basic("vpo user", guardToken),
		"basic " + base64.StdEncoding.EncodeToString([]byte("x:"+guardToken)),
	}
	bad := []string{
		"", guardToken, "Bearer", "Bearer ", "Bearer wrong", "Bearer " + guardToken + "x", "Bearer " + guardToken[1:],
		"Token " + guardToken, basic(guardToken, ""), basic(guardToken, "x"), basic("vpo", guardToken+"x"),
		"Basic " + base64.StdEncoding.EncodeToString([]byte(guardToken)), "Basic " + guardToken, "Basic !!!",
	}
	requests := []guardCase{
		{method: "GET", path: "/api/jobs", want: 200},
		{method: "GET", path: "/api/jobs/" + id, want: 200},
		{method: "POST", path: "/api/jobs/" + id + "/retry", want: 409},
		{method: "GET", path: "/api/nope", want: 404},
		{method: "GET", path: "/api", want: 404},
		{method: "GET", path: "/", want: 404},
		{method: "DELETE", path: "/api/jobs", want: 405},
		{method: "PUT", path: "/api/jobs/" + id, want: 405},
		{method: "GET", path: "/api/jobs/not-a-uuid", want: 400},
	}
	var cases []guardCase
	for _, r := range requests {
		for _, a := range good {
			c := r
			c.name, c.header = "good "+a, map[string]string{"Authorization": a}
			cases = append(cases, c)
		}
		c := r
		c.name, c.host, c.header = "any host", "evil.example:8321", map[string]string{"Authorization": good[0]}
		cases = append(cases, c)
		for _, a := range bad {
			c := r
			c.name, c.header, c.want = "bad "+a, map[string]string{"Authorization": a}, 401
			if a == "" {
				c.header = nil
			}
			cases = append(cases, c)
		}
	}
	cases = append(cases,
		guardCase{name: "probe", method: "GET", path: "/health/live", host: "evil.example", want: 200},
		guardCase{name: "health", method: "GET", path: "/health", host: "evil.example", want: 200},
		guardCase{name: "health wrong method", method: "POST", path: "/health", want: 405},
	)
	runGuardCases(t, h, cases)

	rec := guardCase{method: "GET", path: "/api/nope"}.serve(h)
	if got := rec.Header().Values("WWW-Authenticate"); len(got) != 2 || !strings.HasPrefix(got[0], "Bearer ") || !strings.HasPrefix(got[1], "Basic ") {
		t.Errorf("WWW-Authenticate = %q, want a Bearer and a Basic challenge", got)
	}
}

// TestAllowHeader: every 405 names the methods the path does serve.
func TestAllowHeader(t *testing.T) {
	h, _, id := newGuardedRouter(t, "", nil)
	for _, tc := range []struct{ method, path, allow string }{
		{"DELETE", "/api/jobs", "GET, HEAD, POST"},
		{"PUT", "/api/jobs", "GET, HEAD, POST"},
		{"POST", "/health", "GET, HEAD"},
		{"DELETE", "/health/live", "GET, HEAD"},
		{"GET", "/api/jobs/" + id + "/cancel", "POST"},
		{"DELETE", "/api/jobs/" + id, "GET, HEAD"},
		{"POST", "/api/files", "GET, HEAD"},
	} {
		rec := guardCase{method: tc.method, path: tc.path}.serve(h)
		if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != tc.allow {
			t.Errorf("%s %s = %d with Allow %q, want 405 with Allow %q", tc.method, tc.path, rec.Code, rec.Header().Get("Allow"), tc.allow)
		}
	}
}

// TestHeadWhereGet: RFC 9110 — every resource that answers GET answers
// HEAD with the same status and headers and no body.
func TestHeadWhereGet(t *testing.T) {
	h, _, id := newGuardedRouter(t, "", nil)
	for _, path := range []string{"/api/jobs", "/api/jobs/" + id, "/api/files", "/health/live"} {
		get := guardCase{method: "GET", path: path}.serve(h)
		head := guardCase{method: "HEAD", path: path}.serve(h)
		if head.Code != get.Code || head.Header().Get("Content-Type") != get.Header().Get("Content-Type") {
			t.Errorf("HEAD %s = %d %q, GET = %d %q", path, head.Code, head.Header().Get("Content-Type"), get.Code, get.Header().Get("Content-Type"))
		}
	}
}

// TestJobIDSpellings: every spelling of an existing job's UUID finds it.
func TestJobIDSpellings(t *testing.T) {
	h, _, id := newGuardedRouter(t, "", nil)
	upper := strings.ToUpper(id)
	bare := strings.ReplaceAll(id, "-", "")
	for _, spelling := range []string{id, upper, "{" + id + "}", "{" + upper + "}", "urn:uuid:" + id, "URN:UUID:" + upper, bare, strings.ToUpper(bare)} {
		for _, tc := range []struct {
			method, suffix string
			want           int
		}{{"GET", "", 200}, {"POST", "/retry", 409}} {
			rec := guardCase{method: tc.method, path: "/api/jobs/" + spelling + tc.suffix}.serve(h)
			var j store.Job
			if rec.Code != tc.want {
				t.Errorf("%s /api/jobs/%s%s = %d %s, want %d", tc.method, spelling, tc.suffix, rec.Code, rec.Body.String(), tc.want)
			} else if tc.want == 200 && (json.Unmarshal(rec.Body.Bytes(), &j) != nil || j.ID != id) {
				t.Errorf("GET /api/jobs/%s = %s, want job %s", spelling, rec.Body.String(), id)
			}
		}
	}
	for _, bad := range []string{id + "0", "{" + id, "urn:uuid:" + bare + "x", "uuid:" + id, id[:35], "x" + id + "x", "0" + id + "0", "(" + id + ")", "{" + id + ")"} {
		if rec := (guardCase{method: "GET", path: "/api/jobs/" + bad}).serve(h); rec.Code != http.StatusBadRequest {
			t.Errorf("GET /api/jobs/%s = %d, want 400", bad, rec.Code)
		}
	}
}
