package app_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/vpo-project/vpo/services/vpo/internal/app"
)

// fakePlans serves /api/plans over a fixed set of plans, two per page,
// newest (highest id) first.
type fakePlans struct {
	mu       sync.Mutex
	status   map[int]string
	conflict map[int]bool // approve/reject answers 409 (decided elsewhere)
	queries  []string
	decided  []string
}

func (f *fakePlans) row(id int) string {
	return fmt.Sprintf(`{"id":%d,"job_id":"j","policy":"english","path":"/m/%d.mkv","status":%q,"dry_run":false,`+
		`"created_at":"2026-01-02T03:04:05Z","updated_at":"2026-01-02T03:04:05Z",`+
		`"plan":{"policy":"english","changes":[{"kind":"remove_track","track":2,"phase":"p","reason":"r"}],"target":{"container":"mkv","tracks":[]}},`+
		`"file_size":10,"file_mtime":"2026-01-01T00:00:00Z"}`, id, id, f.status[id])
}

func (f *fakePlans) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if r.Method == "GET" && r.URL.Path == "/api/plans" {
		f.queries = append(f.queries, r.URL.RawQuery)
		q := r.URL.Query()
		var ids []int
		for id, s := range f.status {
			if q.Get("status") == "" || q.Get("status") == s {
				ids = append(ids, id)
			}
		}
		sort.Sort(sort.Reverse(sort.IntSlice(ids)))
		if c := q.Get("cursor"); c != "" {
			n, _ := strconv.Atoi(c)
			for len(ids) > 0 && ids[0] >= n {
				ids = ids[1:]
			}
		}
		limit, _ := strconv.Atoi(q.Get("limit"))
		limit = min(limit, 2)
		next := ""
		if len(ids) > limit {
			ids = ids[:limit]
			next = strconv.Itoa(ids[limit-1])
		}
		rows := make([]string, len(ids))
		for i, id := range ids {
			rows[i] = f.row(id)
		}
		fmt.Fprintf(w, `{"plans":[%s],"next_cursor":%q}`, strings.Join(rows, ","), next)
		return
	}
	var id int
	var verb string
	if _, err := fmt.Sscanf(strings.ReplaceAll(r.URL.Path, "/", " "), " api plans %d %s", &id, &verb); err != nil || r.Method != "POST" {
		http.Error(w, `{"error":"no such route"}`, 404)
		return
	}
	io.Copy(io.Discard, r.Body)
	if _, ok := f.status[id]; !ok {
		w.WriteHeader(404)
		io.WriteString(w, `{"error":"no plan `+strconv.Itoa(id)+`"}`)
		return
	}
	if f.conflict[id] || f.status[id] != "pending" {
		w.WriteHeader(409)
		io.WriteString(w, `{"error":"plan is not pending"}`)
		return
	}
	f.decided = append(f.decided, fmt.Sprintf("%s %d", verb, id))
	job := ""
	if verb == "approve" {
		f.status[id] = "approved"
		job = `,"job_id":"apply-` + strconv.Itoa(id) + `"`
	} else {
		f.status[id] = "rejected"
	}
	fmt.Fprintf(w, `{"plan":%s%s}`, f.row(id), job)
}

func newFakePlans() *fakePlans {
	return &fakePlans{
		status:   map[int]string{1: "applied", 2: "pending", 3: "pending", 4: "rejected", 5: "pending", 6: "pending"},
		conflict: map[int]bool{5: true},
	}
}

func TestPlanList(t *testing.T) {
	env := []string{"HOME=" + t.TempDir(), "TZ=UTC"}
	f := newFakePlans()
	srv := httptest.NewServer(f)
	defer srv.Close()

	code, out, errs := runMain(t, env, "plan", "list", "--status", "pending", "--policy", "english", "--url", srv.URL)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 5 || !strings.HasPrefix(lines[0], "ID") || !strings.HasPrefix(lines[1], "6 ") || !strings.HasPrefix(lines[4], "2 ") {
		t.Errorf("every pending plan over two pages, newest first:\n%s", out)
	}
	if !strings.Contains(lines[1], "pending  english  1") || !strings.HasSuffix(lines[1], "/m/6.mkv") {
		t.Errorf("row: %q", lines[1])
	}
	if len(f.queries) != 2 || !strings.Contains(f.queries[0], "policy=english") || !strings.Contains(f.queries[1], "cursor=5") {
		t.Errorf("queries %q", f.queries)
	}

	code, out, errs = runMain(t, env, "plan", "list", "--limit", "3", "--json", "--url", srv.URL)
	var rows []struct {
		ID     int    `json:"id"`
		Status string `json:"status"`
	}
	if err := json.Unmarshal([]byte(out), &rows); code != 0 || err != nil || len(rows) != 3 || rows[0].ID != 6 || rows[2].ID != 4 {
		t.Errorf("--limit 3 --json: exit %d, %v, %s%s", code, err, out, errs)
	}
}

func TestPlanApproveReject(t *testing.T) {
	env := []string{"HOME=" + t.TempDir()}
	for _, tc := range []struct {
		name    string
		args    []string
		code    int
		stdout  string
		stderr  string
		decided []string
	}{
		{name: "approve one", args: []string{"plan", "approve", "3"},
			stdout: "plan 3 approved: /m/3.mkv (apply job apply-3)\n", decided: []string{"approve 3"}},
		{name: "reject one", args: []string{"plan", "reject", "2"},
			stdout: "plan 2 rejected: /m/2.mkv\n", decided: []string{"reject 2"}},
		{name: "not pending", args: []string{"plan", "approve", "1"}, code: app.ExitUnavailable,
			stderr: "daemon answered 409: plan is not pending"},
		{name: "unknown", args: []string{"plan", "reject", "99"}, code: app.ExitUnavailable,
			stderr: "daemon answered 404: no plan 99"},
		{name: "not a number", args: []string{"plan", "approve", "x"}, code: app.ExitUsage, stderr: `plan ID "x" is not a number`},
		{name: "neither", args: []string{"plan", "approve"}, code: app.ExitUsage, stderr: "give a plan ID or --all"},
		{name: "both", args: []string{"plan", "approve", "2", "--all"}, code: app.ExitUsage, stderr: "give a plan ID or --all"},
		{name: "approve all", args: []string{"plan", "approve", "--all"}, code: app.ExitFailure,
			stdout: "plan 6 approved: /m/6.mkv (apply job apply-6)\n" +
				"plan 3 approved: /m/3.mkv (apply job apply-3)\n" +
				"plan 2 approved: /m/2.mkv (apply job apply-2)\n",
			stderr:  "vpo: plan 5 (/m/5.mkv): daemon answered 409: plan is not pending\nvpo: error: 1 plan of 4 could not be approved\n",
			decided: []string{"approve 6", "approve 3", "approve 2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakePlans()
			srv := httptest.NewServer(f)
			defer srv.Close()
			code, out, errs := runMain(t, env, append(tc.args, "--url", srv.URL)...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, out, errs)
			}
			if out != tc.stdout || !strings.Contains(errs, tc.stderr) {
				t.Errorf("stdout:\n%s\nwant:\n%s\nstderr %q, want %q", out, tc.stdout, errs, tc.stderr)
			}
			if strings.Join(f.decided, ",") != strings.Join(tc.decided, ",") {
				t.Errorf("decided %q, want %q", f.decided, tc.decided)
			}
		})
	}

	// Rejecting all when every plan is decided: nothing to do, exit 0.
	f := &fakePlans{status: map[int]string{1: "applied"}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	code, out, errs := runMain(t, env, "plan", "reject", "--all", "--url", srv.URL)
	if code != 0 || out != "" || !strings.Contains(errs, "no pending plans") {
		t.Errorf("nothing pending: exit %d, %q, %q", code, out, errs)
	}
}
