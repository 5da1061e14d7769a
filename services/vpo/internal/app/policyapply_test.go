package app_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/vpo-project/vpo/services/vpo/internal/app"
)

// fakeDaemon answers the jobs API for one apply job: POST /api/jobs
// records the request, each GET /api/jobs/{id} returns the next of states
// (the last one for ever), GET /api/jobs?parent= returns children.
type fakeDaemon struct {
	mu        sync.Mutex
	submitted []map[string]any
	states    []string // job JSON, without the id
	gets      int
	children  string // JSON array of jobs
	queries   []string
}

func (d *fakeDaemon) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	defer d.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.Method == "POST" && r.URL.Path == "/api/jobs":
		if r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, `{"error":"content type"}`, 415)
			return
		}
		var body map[string]any
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &body); err != nil {
			http.Error(w, `{"error":"bad json"}`, 400)
			return
		}
		d.submitted = append(d.submitted, body)
		w.WriteHeader(201)
		io.WriteString(w, `{"id":"job-1","kind":"apply","status":"queued"}`)
	case r.Method == "GET" && r.URL.Path == "/api/jobs/job-1":
		s := d.states[min(d.gets, len(d.states)-1)]
		d.gets++
		io.WriteString(w, `{"id":"job-1","kind":"apply",`+s+`}`)
	case r.Method == "GET" && r.URL.Path == "/api/jobs":
		d.queries = append(d.queries, r.URL.RawQuery)
		io.WriteString(w, `{"jobs":`+d.children+`}`)
	default:
		http.Error(w, `{"error":"no such route"}`, 404)
	}
}

func TestPolicyApply(t *testing.T) {
	home := t.TempDir()
	media := filepath.Join(home, "media")
	if err := os.Mkdir(media, 0o755); err != nil {
		t.Fatal(err)
	}
	env := []string{"HOME=" + home}
	running := `"status":"running","result":{"files":3,"applied":1,"unchanged":0,"planned":0,"pending_approval":0,"skipped":0,"failed":0}`
	for _, tc := range []struct {
		name     string
		args     []string
		states   []string
		children string
		code     int
		stdout   string // exact
		stderr   string // contained
		payload  string
	}{
		{
			name:    "no wait",
			args:    []string{"policy", "apply", "english", media, "--dry-run"},
			states:  []string{`"status":"queued"`},
			stdout:  "apply job job-1 queued (policy english, " + media + ", dry run)\n",
			payload: `{"dry_run":true,"path":"` + media + `","policy":"english","recursive":true}`,
		},
		{
			name: "wait, all applied",
			args: []string{"policy", "apply", "english", media, "--wait", "--no-recursive"},
			states: []string{running,
				`"status":"completed","result":{"files":3,"applied":2,"unchanged":1,"planned":0,"pending_approval":0,"skipped":0,"failed":0}`},
			stdout: "apply job job-1 queued (policy english, " + media + ")\n" +
				"running: 3 files, 1 applied\n" +
				"completed: 3 files, 2 applied, 1 unchanged\n",
			payload: `{"dry_run":false,"path":"` + media + `","policy":"english","recursive":false}`,
		},
		{
			name: "wait, a file failed",
			args: []string{"policy", "apply", "english", media, "--wait"},
			states: []string{running, running,
				`"status":"completed","result":{"files":3,"applied":1,"unchanged":1,"planned":0,"pending_approval":0,"skipped":0,"failed":1}`},
			children: `[{"id":"c3","kind":"apply","status":"failed","payload":{"policy":"english","path":"` + media + `/c.mp4"},"error":"no room for the new file"}]`,
			code:     app.ExitFailure,
			stdout: "apply job job-1 queued (policy english, " + media + ")\n" +
				"running: 3 files, 1 applied\n" +
				"completed: 3 files, 1 applied, 1 unchanged, 1 failed\n" +
				"failed: " + media + "/c.mp4: no room for the new file\n",
			stderr:  "vpo: error: apply job job-1: 1 file failed\n",
			payload: `{"dry_run":false,"path":"` + media + `","policy":"english","recursive":true}`,
		},
		{
			name:    "wait, job failed",
			args:    []string{"policy", "apply", "nope", media, "--wait"},
			states:  []string{`"status":"failed","error":"policy \"nope\" not found"`},
			code:    app.ExitFailure,
			stdout:  "apply job job-1 queued (policy nope, " + media + ")\nfailed\n",
			stderr:  `vpo: error: apply job job-1 failed: policy "nope" not found`,
			payload: `{"dry_run":false,"path":"` + media + `","policy":"nope","recursive":true}`,
		},
		{
			name:    "wait, one file",
			args:    []string{"policy", "apply", "english", media + "/a.mp4", "--wait"},
			states:  []string{`"status":"completed","result":{"outcome":"applied","path":"` + media + `/a.mp4","executor":"ffmpeg","new_path":"` + media + `/a.mkv"}`},
			stdout:  "apply job job-1 queued (policy english, " + media + "/a.mp4)\ncompleted: applied (ffmpeg), now " + media + "/a.mkv\n",
			payload: `{"dry_run":false,"path":"` + media + `/a.mp4","policy":"english","recursive":true}`,
		},
		{
			name:    "wait, cancelled",
			args:    []string{"policy", "apply", "english", media, "--wait"},
			states:  []string{`"status":"cancelled"`},
			code:    app.ExitFailure,
			stdout:  "apply job job-1 queued (policy english, " + media + ")\ncancelled\n",
			stderr:  "apply job job-1 cancelled",
			payload: `{"dry_run":false,"path":"` + media + `","policy":"english","recursive":true}`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &fakeDaemon{states: tc.states, children: tc.children}
			srv := httptest.NewServer(d)
			defer srv.Close()
			code, out, errs := runMain(t, env, append(tc.args, "--url", srv.URL)...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, out, errs)
			}
			if out != tc.stdout || !strings.Contains(errs, tc.stderr) {
				t.Errorf("stdout:\n%s\nwant:\n%s\nstderr %q, want %q", out, tc.stdout, errs, tc.stderr)
			}
			if len(d.submitted) != 1 {
				t.Fatalf("%d submissions", len(d.submitted))
			}
			if d.submitted[0]["kind"] != "apply" {
				t.Errorf("kind %v", d.submitted[0]["kind"])
			}
			if p, _ := json.Marshal(d.submitted[0]["payload"]); string(p) != tc.payload {
				t.Errorf("payload %s, want %s", p, tc.payload)
			}
			if tc.children != "" && (len(d.queries) != 1 || !strings.Contains(d.queries[0], "parent=job-1")) {
				t.Errorf("children asked with %q", d.queries)
			}
		})
	}
}

func TestPolicyApplyRelativePathAndUnreachable(t *testing.T) {
	home := t.TempDir()
	d := &fakeDaemon{states: []string{`"status":"queued"`}}
	srv := httptest.NewServer(d)
	defer srv.Close()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	code, _, errs := runMain(t, []string{"HOME=" + home}, "policy", "apply", "english", "some/dir", "--url", srv.URL)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if got := d.submitted[0]["payload"].(map[string]any)["path"]; got != filepath.Join(wd, "some/dir") {
		t.Errorf("path %v, want it made absolute", got)
	}

	code, _, errs = runMain(t, []string{"HOME=" + home}, "policy", "apply", "english", "/srv", "--wait", "--url", "http://127.0.0.1:1")
	if code != app.ExitUnavailable || !strings.Contains(errs, "cannot reach") {
		t.Errorf("unreachable: exit %d, %s", code, errs)
	}
}

// TestPolicyApplyShowsTranscodeChild: `policy apply --wait` of a file
// whose plan re-encodes names the transcode job it was handed to and
// follows that job's progress.
func TestPolicyApplyShowsTranscodeChild(t *testing.T) {
	home := t.TempDir()
	file := filepath.Join(home, "a.mkv")
	var (
		mu      sync.Mutex
		gets    int
		queries []string
	)
	parent := []string{`"status":"running","awaiting_children":true,"progress_message":"child jobs left: 1"`,
		`"status":"running","awaiting_children":true,"progress_message":"child jobs left: 1"`,
		`"status":"completed","result":{"files":1,"applied":1,"unchanged":0,"planned":0,"pending_approval":0,"skipped":0,"failed":0}`}
	child := []string{`"status":"running","progress_percent":0,"progress_message":"probing"`,
		`"status":"running","progress_percent":42.4,"progress_message":"speed 2.4x, 00:01:10 of 00:04:00"`}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == "POST" && r.URL.Path == "/api/jobs":
			w.WriteHeader(201)
			io.WriteString(w, `{"id":"job-1","kind":"apply","status":"queued"}`)
		case r.URL.Path == "/api/jobs/job-1":
			io.WriteString(w, `{"id":"job-1","kind":"apply",`+parent[min(gets, len(parent)-1)]+`}`)
			gets++
		case r.URL.Path == "/api/jobs/t-1":
			io.WriteString(w, `{"id":"t-1","kind":"transcode","parent_id":"job-1",`+child[min(gets-1, len(child)-1)]+`}`)
		case r.URL.Path == "/api/jobs":
			queries = append(queries, r.URL.RawQuery)
			io.WriteString(w, `{"jobs":[{"id":"t-1","kind":"transcode","status":"queued","payload":{"policy":"hevc","path":"`+file+`"}}]}`)
		default:
			http.Error(w, `{"error":"no such route"}`, 404)
		}
	}))
	defer srv.Close()
	code, out, errs := runMain(t, []string{"HOME=" + home}, "policy", "apply", "hevc", file, "--wait", "--url", srv.URL)
	if code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errs)
	}
	want := "apply job job-1 queued (policy hevc, " + file + ")\n" +
		"re-encoding in transcode job t-1 (" + file + ")\n" +
		"running (transcode running 0%)\n" +
		"running (transcode running 42%)\n" +
		"completed: 1 file, 1 applied\n"
	if out != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", out, want)
	}
	if len(queries) != 1 || !strings.Contains(queries[0], "parent=job-1") || !strings.Contains(queries[0], "kind=transcode") {
		t.Errorf("children asked with %q; want once, by parent and kind", queries)
	}
}
