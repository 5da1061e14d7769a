package app_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vpo-project/vpo/libs/policy"
	"github.com/vpo-project/vpo/libs/store"
	"github.com/vpo-project/vpo/services/vpo/internal/app"
)

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// TestPolicyApplyNonUTF8Path: `vpo policy apply` sends a PATH that is not
// UTF-8 as path_b64 (JSON would turn its bytes into U+FFFD) and prints it,
// and a failed child named by path_b64, escaped.
func TestPolicyApplyNonUTF8Path(t *testing.T) {
	home := t.TempDir()
	file := filepath.Join(home, "media", "x\xff\xfe.mkv")
	esc, _ := store.EscapePath(file)
	d := &fakeDaemon{
		states: []string{`"status":"completed","result":{"files":1,"applied":0,"unchanged":0,"planned":0,"pending_approval":0,"skipped":0,"failed":1}`},
		children: `[{"id":"c1","kind":"apply","status":"failed","payload":{"policy":"english","path_b64":"` + b64(file) +
			`"},"error":"no room for the new file"}]`,
	}
	srv := httptest.NewServer(d)
	defer srv.Close()
	code, out, errs := runMain(t, []string{"HOME=" + home}, "policy", "apply", "english", file, "--wait", "--url", srv.URL)
	if code != app.ExitFailure {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errs)
	}
	want := "apply job job-1 queued (policy english, " + esc + ")\n" +
		"completed: 1 file, 1 failed\n" +
		"failed: " + esc + ": no room for the new file\n"
	if out != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", out, want)
	}
	if len(d.submitted) != 1 {
		t.Fatalf("%d submissions", len(d.submitted))
	}
	p, _ := d.submitted[0]["payload"].(map[string]any)
	if _, has := p["path"]; has || p["path_b64"] != b64(file) {
		t.Errorf("payload %v; want path_b64 %q and no path", p, b64(file))
	}
}

// TestPolicyPlanJSONNonUTF8: `vpo policy plan --json` prints a path that
// is not UTF-8 escaped, with its bytes in path_b64, so that two files
// never print the same path.
func TestPolicyPlanJSONNonUTF8(t *testing.T) {
	home := t.TempDir()
	pdir := filepath.Join(home, "policies")
	writePolicies(t, pdir, "english")
	media := filepath.Join(home, "media")
	if err := os.MkdirAll(media, 0o755); err != nil {
		t.Fatal(err)
	}
	names := []string{"x\xfe\xff.mkv", "x\xff\xfe.mkv", "y.mkv"}
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(media, n), []byte(probeJSON("matroska,webm", "eng", "fre")), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	env := []string{"HOME=" + home, "VPO_POLICIES_DIR=" + pdir, "PATH=" + fakeFFProbe(t)}
	code, out, errs := runPolicies(t, env, "policy", "plan", "english", media, "--json")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	var got []struct {
		Path    string       `json:"path"`
		PathB64 *string      `json:"path_b64"`
		Plan    *policy.Plan `json:"plan"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if len(got) != len(names) {
		t.Fatalf("%d files, want %d:\n%s", len(got), len(names), out)
	}
	for i, n := range names {
		path := filepath.Join(media, n)
		esc, exact := store.EscapePath(path)
		g := got[i]
		if g.Path != esc || g.Plan == nil || len(g.Plan.Changes) != 1 {
			t.Errorf("file %d: path %q, plan %+v; want path %q with one change", i, g.Path, g.Plan, esc)
		}
		switch {
		case exact && g.PathB64 != nil:
			t.Errorf("%q: path_b64 %q for an exact path", g.Path, *g.PathB64)
		case !exact && (g.PathB64 == nil || *g.PathB64 != b64(path)):
			t.Errorf("%q: path_b64 %v, want %q", g.Path, g.PathB64, b64(path))
		}
	}
	if strings.Contains(out, "\ufffd") || strings.Contains(out, `\ufffd`) {
		t.Errorf("output holds U+FFFD:\n%s", out)
	}
}

// TestPlanListNonUTF8Path: `vpo plan list --path` asks for a path that is
// not UTF-8 by path_b64, and --json keeps the path_b64 of the rows.
func TestPlanListNonUTF8Path(t *testing.T) {
	const file = "/m/x\xff.mkv"
	esc, _ := store.EscapePath(file)
	var queries []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		queries = append(queries, r.URL.RawQuery)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"plans":[{"id":1,"job_id":"j","policy":"english","path":%q,"path_b64":%q,"status":"pending",`+
			`"created_at":"2026-01-02T03:04:05Z","updated_at":"2026-01-02T03:04:05Z","plan":{"changes":[]},`+
			`"file_size":10,"file_mtime":"2026-01-01T00:00:00Z"}]}`, esc, b64(file))
	}))
	defer srv.Close()
	code, out, errs := runMain(t, []string{"HOME=" + t.TempDir()}, "plan", "list", "--path", file, "--json", "--url", srv.URL)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if len(queries) != 1 || !strings.Contains(queries[0], "path_b64="+url.QueryEscape(b64(file))) || strings.Contains(queries[0], "path=") {
		t.Errorf("queries %q; want path_b64 and no path", queries)
	}
	var rows []struct {
		Path    string `json:"path"`
		PathB64 string `json:"path_b64"`
	}
	if err := json.Unmarshal([]byte(out), &rows); err != nil || len(rows) != 1 || rows[0].Path != esc || rows[0].PathB64 != b64(file) {
		t.Errorf("--json: %v\n%s", err, out)
	}
}
