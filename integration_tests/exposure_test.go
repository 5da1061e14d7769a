package integration_test

import (
	"encoding/base64"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// request sends method to the daemon with the given headers ("Host" sets
// the Host header) and returns the status, headers and body.
func request(t *testing.T, d *daemon, method, path, body string, headers map[string]string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, d.url(path), strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read answer: %v", method, path, err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

const sleepJob = `{"kind":"test.sleep","payload":{"seconds":0}}`

// TestDNSRebindingRefused: without a token, a request whose Host does not
// name the daemon (what a DNS-rebinding page sends) gets 421 and no data;
// loopback names, server.allowed_hosts and the probes still work.
func TestDNSRebindingRefused(t *testing.T) {
	d := start(t, startOpts{wait: true, env: []string{"VPO_SERVER_ALLOWED_HOSTS=vpo.lan", "VPO_JOBS_TEST_KINDS=true"}})
	port := strconv.Itoa(d.port)
	if code, _, b := d.call("POST", "/api/jobs", sleepJob, ""); code != http.StatusCreated {
		t.Fatalf("submit: %d %s", code, b)
	}
	for _, host := range []string{"evil.example:" + port, "evil.example", "127.0.0.1.evil.example:" + port, "192.168.1.20:" + port} {
		for _, path := range []string{"/api/jobs", "/api/files", "/api/nope"} {
			code, _, b := request(t, d, "GET", path, "", map[string]string{"Host": host})
			if code != http.StatusMisdirectedRequest || !strings.Contains(b, `"error"`) || strings.Contains(b, "test.sleep") {
				t.Errorf("GET %s with Host %s = %d %s, want 421 with a JSON error and no data", path, host, code, b)
			}
		}
		if code, _, b := request(t, d, "GET", "/health", "", map[string]string{"Host": host}); code != 200 || jsonKeys(t, []byte(b)) != "shutting_down,status" {
			t.Errorf("/health with Host %s = %d %s, want 200 with only status and shutting_down", host, code, b)
		}
		for _, probe := range []string{"/health/live", "/health/ready"} {
			if code, _, b := request(t, d, "GET", probe, "", map[string]string{"Host": host}); code != 200 {
				t.Errorf("%s with Host %s = %d %s, want 200", probe, host, code, b)
			}
		}
	}
	for _, host := range []string{"localhost:" + port, "127.0.0.1:" + port, "[::1]:" + port, "localhost", "vpo.lan:" + port, "VPO.lan"} {
		if code, _, b := request(t, d, "GET", "/api/jobs", "", map[string]string{"Host": host}); code != 200 || !strings.Contains(b, "test.sleep") {
			t.Errorf("GET /api/jobs with Host %s = %d %s, want 200 with the job", host, code, b)
		}
	}
	if code, _, b := request(t, d, "GET", "/health", "", map[string]string{"Host": "localhost:" + port}); code != 200 || !strings.Contains(b, "version") {
		t.Errorf("/health with Host localhost = %d %s, want the full document", code, b)
	}
}

// TestCrossSiteWritesRefused: what a web page can send cross-site — a form
// post, a text/plain fetch, a JSON post from its own origin — changes
// nothing, with or without a token; the vpo client still works.
func TestCrossSiteWritesRefused(t *testing.T) {
	for _, withToken := range []bool{false, true} {
		name := "no token"
		env := []string{"VPO_JOBS_TEST_KINDS=true"}
		auth := map[string]string{}
		if withToken {
			name = "token"
			env = append(env, "VPO_AUTH_TOKEN="+testToken)
			// A browser replays cached Basic credentials cross-site.
			auth["Authorization"] = "Basic " + base64.StdEncoding.EncodeToString([]byte("admin:"+testToken))
		}
		t.Run(name, func(t *testing.T) {
			d := start(t, startOpts{wait: true, env: env})
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
			someJob := "/api/jobs/00000000-0000-0000-0000-000000000000/cancel"
			for _, tc := range []struct {
				name, path, body string
				headers          map[string]string
				want             int
			}{
				{"form post", "/api/jobs", "kind=test.sleep", with("Content-Type", "application/x-www-form-urlencoded", "Origin", "http://evil.example"), 403},
				{"form post, no Origin", "/api/jobs", "kind=test.sleep", with("Content-Type", "application/x-www-form-urlencoded"), 415},
				{"text/plain fetch", "/api/jobs", sleepJob, with("Content-Type", "text/plain"), 415},
				{"no Content-Type", "/api/jobs", sleepJob, with(), 415},
				{"empty cancel without Content-Type", someJob, "", with(), 415},
				{"JSON from another origin", "/api/jobs", sleepJob, with("Content-Type", "application/json", "Origin", "http://evil.example"), 403},
				{"JSON from a sandboxed page", "/api/jobs", sleepJob, with("Content-Type", "application/json", "Origin", "null"), 403},
			} {
				code, _, b := request(t, d, "POST", tc.path, tc.body, tc.headers)
				if code != tc.want || !strings.Contains(b, `"error"`) {
					t.Errorf("%s: %d %s, want %d with a JSON error", tc.name, code, b, tc.want)
				}
			}
			token := ""
			if withToken {
				token = testToken
			}
			code, _, b := d.call("GET", "/api/jobs", "", token)
			if code != 200 || !strings.Contains(string(b), `"jobs":[]`) {
				t.Fatalf("after refused posts: %d %s, want no jobs", code, b)
			}
			// The daemon's own origin and the vpo client are accepted.
			origin := "http://127.0.0.1:" + strconv.Itoa(d.port)
			if code, _, b := request(t, d, "POST", "/api/jobs", sleepJob, with("Content-Type", "application/json", "Origin", origin)); code != http.StatusCreated {
				t.Fatalf("JSON from the daemon's own origin = %d %s, want 201", code, b)
			}
			cliEnv := baseEnv(d.dir)
			if withToken {
				cliEnv = baseEnv(d.dir, "VPO_AUTH_TOKEN="+testToken)
			}
			rc, out, stderr := run(t, cliEnv, "jobs", "submit", "test.sleep", "--payload", `{"seconds":60}`, "--json", "--url", d.url(""))
			if rc != exitOK {
				t.Fatalf("vpo jobs submit = %d %s %s", rc, out, stderr)
			}
			id := jsonField(t, out, "id")
			for _, cmd := range []string{"cancel", "retry", "cancel"} {
				if rc, out, stderr := run(t, cliEnv, "jobs", cmd, id, "--url", d.url("")); rc != exitOK {
					t.Fatalf("vpo jobs %s (no body) = %d %s %s", cmd, rc, out, stderr)
				}
			}
		})
	}
}

// jsonField reads one string field of a JSON object.
func jsonField(t *testing.T, s, field string) string {
	t.Helper()
	var m map[string]any
	if err := jsonUnmarshal([]byte(s), &m); err != nil {
		t.Fatalf("not a JSON object: %q", s)
	}
	v, _ := m[field].(string)
	if v == "" {
		t.Fatalf("no %q in %s", field, s)
	}
	return v
}

// TestTokenBeforeRouting: with a token, requests without it get 401 on
// any path and method (no 404 or 405 that maps the API); with it, 405
// names the allowed methods; Basic auth with the token as password works;
// any Host is accepted.
func TestTokenBeforeRouting(t *testing.T) {
	d := start(t, startOpts{wait: true, env: []string{"VPO_AUTH_TOKEN=" + testToken, "VPO_JOBS_TEST_KINDS=true"}})
	for _, c := range []struct{ method, path string }{
		{"GET", "/api/nope"}, {"GET", "/api"}, {"GET", "/nope"}, {"DELETE", "/api/jobs"}, {"PUT", "/api/jobs/x"},
		{"GET", "/api/jobs/00000000-0000-0000-0000-000000000000/cancel"},
	} {
		code, hdr, b := request(t, d, c.method, c.path, "", map[string]string{"Content-Type": "application/json"})
		if code != http.StatusUnauthorized || !strings.Contains(strings.Join(hdr.Values("WWW-Authenticate"), " "), "Basic") {
			t.Errorf("%s %s without the token = %d %q %s, want 401 with Bearer and Basic challenges", c.method, c.path, code, hdr.Values("WWW-Authenticate"), b)
		}
	}
	// A dashboard page sends a browser (no Authorization header) to the
	// login page, and answers a client with a wrong token 401.
	if code, _, b := request(t, d, "GET", "/", "", nil); code != http.StatusOK || !strings.Contains(b, "<title>Log in · vpo</title>") {
		t.Errorf("GET / without the token = %d %s, want the login page", code, b)
	}
	if code, _, b := request(t, d, "GET", "/", "", map[string]string{"Authorization": "Bearer wrong-token-0123456789"}); code != http.StatusUnauthorized {
		t.Errorf("GET / with a wrong token = %d %s, want 401", code, b)
	}
	bearer := map[string]string{"Authorization": "bearer " + testToken, "Host": "vpo.example.net"}
	code, hdr, b := request(t, d, "DELETE", "/api/jobs", "", bearer)
	if code != http.StatusMethodNotAllowed || hdr.Get("Allow") != "GET, HEAD, POST" {
		t.Errorf("DELETE /api/jobs with the token = %d Allow %q %s, want 405 with Allow: GET, HEAD, POST", code, hdr.Get("Allow"), b)
	}
	if code, _, b := request(t, d, "GET", "/api/nope", "", bearer); code != http.StatusNotFound {
		t.Errorf("GET /api/nope with the token = %d %s, want 404", code, b)
	}
	for _, user := range []string{"vpo", "", "someone else"} {
		basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+testToken))
		if code, _, b := request(t, d, "GET", "/api/jobs", "", map[string]string{"Authorization": basic}); code != 200 {
			t.Errorf("Basic auth as %q = %d %s, want 200", user, code, b)
		}
	}
	wrongBasic := "Basic " + base64.StdEncoding.EncodeToString([]byte(testToken+":x"))
	if code, _, _ := request(t, d, "GET", "/api/jobs", "", map[string]string{"Authorization": wrongBasic}); code != http.StatusUnauthorized {
		t.Errorf("Basic auth with the token as user name = %d, want 401", code)
	}
}

// TestJobIDSpellings: a job is found by any spelling of its UUID.
func TestJobIDSpellings(t *testing.T) {
	d := start(t, startOpts{wait: true, env: []string{"VPO_JOBS_TEST_KINDS=true"}})
	code, _, b := d.call("POST", "/api/jobs", sleepJob, "")
	if code != http.StatusCreated {
		t.Fatalf("submit: %d %s", code, b)
	}
	id := jsonField(t, string(b), "id")
	upper := strings.ToUpper(id)
	for _, spelling := range []string{upper, "%7B" + id + "%7D", "urn:uuid:" + id, strings.ReplaceAll(upper, "-", "")} {
		code, _, b := d.call("GET", "/api/jobs/"+spelling, "", "")
		if code != 200 || jsonField(t, string(b), "id") != id {
			t.Errorf("GET /api/jobs/%s = %d %s, want job %s", spelling, code, b, id)
		}
	}
	if code, _, b := d.call("GET", "/api/jobs/"+id+"00", "", ""); code != http.StatusBadRequest {
		t.Errorf("GET a malformed id = %d %s, want 400", code, b)
	}
}

// TestConfigCheckAsServe: config check refuses what serve refuses, and a
// file with a byte-order mark keeps its line numbers.
func TestConfigCheckAsServe(t *testing.T) {
	dir := t.TempDir()
	exposed := filepath.Join(dir, "exposed.toml")
	if err := os.WriteFile(exposed, []byte("[server]\nport = 8400\nbind = \"0.0.0.0\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := run(t, baseEnv(dir), "config", "check", "--config", exposed)
	if code != exitConfig || !strings.Contains(stderr, exposed+`:3: server.bind = "0.0.0.0": refusing to listen on non-loopback address`) {
		t.Errorf("config check of a non-loopback bind without a token = %d %q %q, want 3 naming line 3", code, out, stderr)
	}
	if code, out, stderr := run(t, baseEnv(dir, "VPO_AUTH_TOKEN="+testToken), "config", "check", "--config", exposed); code != exitOK {
		t.Errorf("config check with a token = %d %q %q, want 0", code, out, stderr)
	}
	bom := filepath.Join(dir, "bom.toml")
	if err := os.WriteFile(bom, []byte("\ufeff[server]\nbind = \"127.0.0.1\"\nport = 70000\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := run(t, baseEnv(dir), "config", "check", "--config", bom); code != exitConfig || !strings.Contains(stderr, bom+":3: server.port = 70000") {
		t.Errorf("config check of a BOM file = %d %q, want 3 naming line 3", code, stderr)
	}
	if err := os.WriteFile(bom, []byte("\ufeff[server]\nport = 8400\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, _ := run(t, baseEnv(dir), "config", "show", "--config", bom); code != exitOK || !strings.Contains(out, "server.port = 8400  # file "+bom+":2") {
		t.Errorf("config show of a valid BOM file = %d %q, want port 8400 from line 2", code, out)
	}
}
