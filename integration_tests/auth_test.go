package integration_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

const testToken = "it-0123456789abcdef0123456789abcdef"

// TestNonLoopbackBindNeedsToken: binding an address other machines can
// reach without a token is refused before anything listens.
func TestNonLoopbackBindNeedsToken(t *testing.T) {
	for _, tc := range []struct {
		name string
		args func(cfg string) []string
		env  []string
	}{
		{"flag", func(cfg string) []string { return []string{"--config", cfg, "--bind", "0.0.0.0"} }, nil},
		{"environment", func(cfg string) []string { return []string{"--config", cfg} }, []string{"VPO_SERVER_BIND=0.0.0.0"}},
		{"ipv6 any", func(cfg string) []string { return []string{"--config", cfg, "--bind", "::"} }, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			port := freePort(t)
			cfg := writeConfig(t, dir, port, "")
			d := start(t, startOpts{dir: dir, port: port, args: tc.args(cfg), env: tc.env})
			if code := d.wait(15 * time.Second); code != exitConfig {
				t.Fatalf("exit %d, want %d", code, exitConfig)
			}
			if out := d.stderr.String(); !containsAll(out, "refusing to listen on non-loopback address", "auth_token", "VPO_AUTH_TOKEN") {
				t.Fatalf("stderr does not explain the refusal:\n%s", out)
			}
			if _, err := os.Stat(filepath.Join(dir, "library.db")); err == nil {
				t.Fatal("the refused daemon created the database anyway")
			}
		})
	}
}

// TestBearerToken: with a token (from the environment or the file) every
// API call needs it, the probes stay open and /health shows internals only
// to callers with the token.
func TestBearerToken(t *testing.T) {
	for _, source := range []string{"environment", "file"} {
		t.Run(source, func(t *testing.T) {
			var d *daemon
			if source == "environment" {
				d = start(t, startOpts{wait: true, env: []string{"VPO_AUTH_TOKEN=" + testToken, "VPO_JOBS_TEST_KINDS=true"}})
			} else {
				dir := t.TempDir()
				port := freePort(t)
				cfg := filepath.Join(dir, "config.toml")
				body := fmt.Sprintf("[server]\nport = %d\nauth_token = %q\n[database]\npath = %q\n[jobs]\ntest_kinds = true\n",
					port, testToken, filepath.Join(dir, "library.db"))
				if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
					t.Fatal(err)
				}
				d = start(t, startOpts{dir: dir, port: port, args: []string{"--config", cfg}, wait: true})
			}
			checkBearer(t, d)
		})
	}
}

func checkBearer(t *testing.T, d *daemon) {
	const someID = "00000000-0000-0000-0000-000000000000"
	calls := []struct{ method, path, body string }{
		{"POST", "/api/jobs", `{"kind":"test.sleep","payload":{"seconds":0}}`},
		{"GET", "/api/jobs", ""},
		{"GET", "/api/jobs?status=completed", ""},
		{"GET", "/api/jobs/" + someID, ""},
		{"POST", "/api/jobs/" + someID + "/cancel", ""},
		{"POST", "/api/jobs/" + someID + "/retry", ""},
		{"GET", "/api/files", ""},
	}
	wrong := []struct{ name, header string }{
		{"none", ""},
		{"wrong token", "Bearer " + strings.Repeat("x", len(testToken))},
		{"token prefix", "Bearer " + testToken[:len(testToken)-1]},
		{"token plus one", "Bearer " + testToken + "x"},
		{"no scheme", testToken},
		{"basic scheme", "Basic " + testToken},
		{"empty bearer", "Bearer "},
	}
	for _, c := range calls {
		for _, w := range wrong {
			code, hdr, b := rawCall(t, d, c.method, c.path, c.body, w.header)
			if code != http.StatusUnauthorized || !strings.Contains(hdr.Get("WWW-Authenticate"), "Bearer") || !strings.Contains(string(b), `"error"`) {
				t.Errorf("%s %s with %s = %d %q %s, want 401 with WWW-Authenticate and a JSON error", c.method, c.path, w.name, code, hdr.Get("WWW-Authenticate"), b)
			}
		}
	}
	// Nothing was created by the refused POST.
	code, _, b := d.call("GET", "/api/jobs", "", testToken)
	if code != 200 || !strings.Contains(string(b), `"jobs":[]`) {
		t.Fatalf("GET /api/jobs with the token = %d %s, want 200 and no jobs", code, b)
	}
	if code, _, b := d.call("POST", "/api/jobs", `{"kind":"test.sleep","payload":{"seconds":0}}`, testToken); code != http.StatusCreated {
		t.Fatalf("POST /api/jobs with the token = %d %s", code, b)
	}
	if code, _, b := d.call("GET", "/api/files", "", testToken); code != 200 {
		t.Fatalf("GET /api/files with the token = %d %s", code, b)
	}

	// Probes stay open.
	expectProbe(t, d, "/health/live", 200, "alive")
	expectProbe(t, d, "/health/ready", 200, "ready")

	// /health: status and shutting_down only, same code, unless the caller
	// has the token.
	for _, w := range wrong {
		code, _, b := rawCall(t, d, "GET", "/health", "", w.header)
		if keys := jsonKeys(t, b); code != 200 || keys != "shutting_down,status" {
			t.Errorf("/health with %s = %d %s, want 200 with only status and shutting_down", w.name, code, b)
		}
	}
	code, _, b = d.call("GET", "/health", "", testToken)
	if keys := jsonKeys(t, b); code != 200 || !containsAll(keys, "version", "uptime_seconds", "database", "jobs_queued") {
		t.Fatalf("/health with the token = %d %s, want the full document", code, b)
	}
	if code, _, b := rawCall(t, d, "HEAD", "/health", "", ""); code != 200 || len(b) != 0 {
		t.Fatalf("HEAD /health = %d with %d body bytes", code, len(b))
	}

	// The client commands send the token from the same configuration.
	env := baseEnv(d.dir, "VPO_AUTH_TOKEN="+testToken)
	rc, out, stderr := run(t, env, "jobs", "list", "--url", d.url(""))
	if rc != exitOK || !strings.Contains(out, "test.sleep") {
		t.Fatalf("vpo jobs list with VPO_AUTH_TOKEN = %d %q %q", rc, out, stderr)
	}
	rc, _, stderr = run(t, baseEnv(d.dir), "jobs", "list", "--url", d.url(""))
	if rc != 6 || !strings.Contains(strings.ToLower(stderr), "token") {
		t.Fatalf("vpo jobs list without a token = %d %q, want 6 naming the token", rc, stderr)
	}
}

// rawCall is call with a literal Authorization header ("" for none).
func rawCall(t *testing.T, d *daemon, method, path, body, auth string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, d.url(path), strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

// jsonKeys returns the sorted top-level keys of a JSON object, joined by
// commas.
func jsonKeys(t *testing.T, b []byte) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("not a JSON object: %q", b)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return strings.Join(keys, ",")
}
