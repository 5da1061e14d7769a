package integration_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// waitEnded polls job id until it is completed, failed or cancelled.
func (d *daemon) waitEnded(id string, timeout time.Duration) job {
	d.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		j := d.job(id)
		switch j.Status {
		case "completed", "failed", "cancelled":
			return j
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("job %s is %q after %v\n%s", id, j.Status, timeout, d.stderr.String())
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// shownPath reads "path" and "path_b64" as the API prints a path.
type shownPath struct {
	Path    string `json:"path"`
	PathB64 string `json:"path_b64"`
}

// is tells whether s shows path: escaped (a backslash before each byte
// that is not UTF-8) with its exact bytes in path_b64.
func (s shownPath) is(path string) bool {
	b, err := base64.StdEncoding.DecodeString(s.PathB64)
	return err == nil && string(b) == path && strings.Contains(s.Path, `\x`) && !strings.ContainsRune(s.Path, '\ufffd')
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	slices.Sort(names)
	return names
}

// TestApplyNonUTF8Directory: a directory apply changes a file whose name
// is not UTF-8 (its child job names it by path_b64) and no other file
// appears; results, plans and history show it escaped with its bytes in
// path_b64.
func TestApplyNonUTF8Directory(t *testing.T) {
	d, pdir := startPolicies(t, "")
	writePolicy(t, pdir, "eng.yaml", keepEngPolicy)
	lib := filepath.Join(d.dir, "lib")
	bad := filepath.Join(lib, "bad\xff\xfe.mkv")
	ok := filepath.Join(lib, "ok.mkv")
	mkvFixture(t, bad)
	mkvFixture(t, ok)
	names := dirNames(t, lib)

	j := d.submitJob(fmt.Sprintf(`{"kind":"apply","payload":{"policy":"eng","path":%q}}`, lib))
	parent := d.waitEnded(j.ID, 60*time.Second)
	var c applyCounts
	if err := json.Unmarshal(parent.Result, &c); err != nil || parent.Status != "completed" || c != (applyCounts{Files: 2, Applied: 2}) {
		var kids struct{ Jobs []job }
		d.getBody("/api/jobs?parent="+j.ID, &kids)
		var errs []string
		for _, k := range kids.Jobs {
			errs = append(errs, k.Status+": "+k.Error)
		}
		t.Fatalf("directory apply = %s %s (%v); want completed with 2 applied; children: %q", parent.Status, parent.Result, err, errs)
	}
	for _, p := range []string{bad, ok} {
		if got := streams(t, p); got != 2 {
			t.Errorf("%q has %d streams after the apply, want 2", p, got)
		}
	}
	if got := dirNames(t, lib); !slices.Equal(got, names) {
		t.Errorf("files after the apply %q, want %q", got, names)
	}
	var kids struct {
		Jobs []struct {
			Payload json.RawMessage `json:"payload"`
			Result  json.RawMessage `json:"result"`
		} `json:"jobs"`
	}
	if code := d.getBody("/api/jobs?parent="+j.ID, &kids); code != http.StatusOK || len(kids.Jobs) != 2 {
		t.Fatalf("GET /api/jobs?parent = %d, %d jobs", code, len(kids.Jobs))
	}
	found := 0
	for _, k := range kids.Jobs {
		var res shownPath
		_ = json.Unmarshal(k.Result, &res)
		if res.PathB64 != "" {
			found++
			if !res.is(bad) || !strings.Contains(string(k.Payload), `"path_b64"`) {
				t.Errorf("child of the file that is not UTF-8: payload %s, result %s", k.Payload, k.Result)
			}
		}
	}
	if found != 1 {
		t.Errorf("%d children show a path_b64 in their result, want 1", found)
	}

	// The plan, found by the escaped path and by path_b64.
	esc := `\xff\xfe`
	for _, q := range []string{"path=" + url.QueryEscape(filepath.Join(lib, "bad"+esc+".mkv")),
		"path_b64=" + url.QueryEscape(base64.StdEncoding.EncodeToString([]byte(bad)))} {
		var plans struct {
			Plans []shownPath `json:"plans"`
		}
		if code := d.getBody("/api/plans?"+q, &plans); code != http.StatusOK || len(plans.Plans) != 1 || !plans.Plans[0].is(bad) {
			t.Errorf("GET /api/plans?%s = %d %+v; want the plan of %q", q, code, plans.Plans, bad)
		}
	}

	// Its history.
	var id int64
	var list struct {
		Files []struct {
			ID int64 `json:"id"`
			shownPath
		} `json:"files"`
	}
	d.getBody("/api/files?limit=1000", &list)
	for _, f := range list.Files {
		if f.is(bad) {
			id = f.ID
		}
	}
	var detail struct {
		History []shownPath `json:"history"`
	}
	if code := d.getBody(fmt.Sprintf("/api/files/%d", id), &detail); code != http.StatusOK || len(detail.History) != 1 || !detail.History[0].is(bad) {
		t.Errorf("GET /api/files/%d = %d, history %+v; want one entry showing %q", id, code, detail.History, bad)
	}
}

// TestApplyNonUTF8SingleFile: a single-file apply takes a path that is not
// UTF-8 as path_b64, changes that file and no other, and its result shows
// the path escaped with its bytes in path_b64.
func TestApplyNonUTF8SingleFile(t *testing.T) {
	d, pdir := startPolicies(t, "")
	writePolicy(t, pdir, "eng.yaml", keepEngPolicy)
	lib := filepath.Join(d.dir, "lib")
	single := filepath.Join(lib, "single\xfe.mkv")
	mkvFixture(t, single)
	mkvFixture(t, filepath.Join(lib, "single\xff.mkv"))
	names := dirNames(t, lib)
	before := stamp(t, filepath.Join(lib, "single\xff.mkv"))
	body := fmt.Sprintf(`{"kind":"apply","payload":{"policy":"eng","path_b64":%q}}`, base64.StdEncoding.EncodeToString([]byte(single)))
	code, _, b := d.call(http.MethodPost, "/api/jobs", body, "")
	if code != http.StatusCreated {
		t.Fatalf("submit %s = %d %s", body, code, b)
	}
	var sj job
	if err := json.Unmarshal(b, &sj); err != nil {
		t.Fatal(err)
	}
	done := d.waitEnded(sj.ID, 30*time.Second)
	var res struct {
		Outcome string `json:"outcome"`
		shownPath
	}
	if err := json.Unmarshal(done.Result, &res); err != nil || done.Status != "completed" || res.Outcome != "applied" || !res.is(single) {
		t.Fatalf("single-file apply = %s %s %q; want completed, applied, showing %q", done.Status, done.Result, done.Error, single)
	}
	if got := streams(t, single); got != 2 {
		t.Errorf("%q has %d streams after the apply, want 2", single, got)
	}
	if got := dirNames(t, lib); !slices.Equal(got, names) {
		t.Errorf("files after the apply %q, want %q", got, names)
	}
	if got := stamp(t, filepath.Join(lib, "single\xff.mkv")); got != before {
		t.Errorf("the other file changed: %+v → %+v", before, got)
	}
}
