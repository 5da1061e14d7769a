package integration_test

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestApplyPayloadPolicyIsAName: through POST /api/jobs, an apply job's
// policy is a NAME in policies.dir: a path (absolute, with "..", or
// relative to the daemon's directory), a file name and other values that
// are not names are 400 at submission, and no file's content is shown.
// Keys are exact and given once; plan_id is not taken from a client.
func TestApplyPayloadPolicyIsAName(t *testing.T) {
	d, pdir := startPolicies(t, "")
	writePolicy(t, pdir, "eng.yaml", keepEngPolicy)
	secret := filepath.Join(d.dir, "outside.yaml")
	if err := os.WriteFile(secret, []byte("hunter2: the secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	lib := filepath.Join(d.dir, "lib")
	if err := os.Mkdir(lib, 0o755); err != nil {
		t.Fatal(err)
	}
	rel, err := filepath.Rel(pdir, secret)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, payload, want string
	}{
		{"absolute path", fmt.Sprintf(`{"policy":%q,"path":%q,"dry_run":true}`, secret, lib), `is not a policy name: it contains \"/\"`},
		{"passwd", fmt.Sprintf(`{"policy":"/etc/passwd","path":%q,"dry_run":true}`, lib), `policy \"/etc/passwd\" is not a policy name`},
		{"dot-dot", fmt.Sprintf(`{"policy":%q,"path":%q,"dry_run":true}`, strings.TrimSuffix(rel, ".yaml"), lib), "is not a policy name"},
		{"dot-slash", fmt.Sprintf(`{"policy":"./outside.yaml","path":%q,"dry_run":true}`, lib), "is not a policy name"},
		{"file name", fmt.Sprintf(`{"policy":"eng.yaml","path":%q,"dry_run":true}`, lib), `it ends in .yaml (the name is the file name without it: \"eng\")`},
		{"NUL", fmt.Sprintf(`{"policy":"e\u0000ng","path":%q,"dry_run":true}`, lib), "it contains a NUL byte (at byte 1)"},
		{"100 KB", fmt.Sprintf(`{"policy":%q,"path":%q,"dry_run":true}`, strings.Repeat("e", 100*1024), lib), "it is 102400 bytes long"},
		{"Policy", fmt.Sprintf(`{"Policy":"eng","path":%q,"dry_run":true}`, lib), `unknown field \"Policy\"`},
		{"PATH", fmt.Sprintf(`{"policy":"eng","PATH":%q,"dry_run":true}`, lib), `unknown field \"PATH\"`},
		{"policy twice", fmt.Sprintf(`{"policy":%q,"policy":"eng","path":%q,"dry_run":true}`, secret, lib), `field \"policy\" is given twice`},
		{"plan_id", `{"plan_id":999999}`, "plan_id is set by vpo"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, body := d.call(http.MethodPost, "/api/jobs", `{"kind":"apply","payload":`+tc.payload+`}`, "")
			if code != http.StatusBadRequest || !strings.Contains(string(body), tc.want) {
				t.Errorf("POST /api/jobs = %d %.300s; want 400 with %q", code, body, tc.want)
			}
			if strings.Contains(string(body), "hunter2") {
				t.Errorf("the answer shows the content of %s: %.300s", secret, body)
			}
		})
	}
	// A name is still taken, and found in policies.dir, not in the cwd.
	j := d.submit("apply", fmt.Sprintf(`{"policy":"eng","path":%q,"dry_run":true}`, lib))
	d.waitJob(j.ID, "completed", 30*time.Second)
	if strings.Contains(d.stderr.String(), "hunter2") {
		t.Error("the daemon's output shows the secret")
	}
}

// TestPolicyFIFOAnsweredAtOnce: a FIFO named like a policy in policies.dir
// is "not a regular file" for GET /api/policies, GET /api/policies/NAME,
// an apply job, `vpo policy list` and `vpo doctor`; none of them waits for
// a writer (before, each blocked for good, the job even past cancel).
func TestPolicyFIFOAnsweredAtOnce(t *testing.T) {
	d, pdir := startPolicies(t, "")
	writePolicy(t, pdir, "eng.yaml", keepEngPolicy)
	fifo := filepath.Join(pdir, "pipe.yaml")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	notRegular := fifo + `: not a regular file`
	for _, path := range []string{"/api/policies", "/api/policies/pipe"} {
		// The client gives up after 5 s: a blocked handler is an error here.
		code, _, body := d.call(http.MethodGet, path, "", "")
		if code != http.StatusOK || !strings.Contains(string(body), notRegular) {
			t.Errorf("GET %s = %d %.400s; want 200 with %q", path, code, body, notRegular)
		}
	}
	lib := filepath.Join(d.dir, "lib")
	if err := os.Mkdir(lib, 0o755); err != nil {
		t.Fatal(err)
	}
	j := d.submit("apply", fmt.Sprintf(`{"policy":"pipe","path":%q,"dry_run":true}`, lib))
	done := d.waitJob(j.ID, "failed", 30*time.Second)
	if !strings.Contains(done.Error, notRegular) || done.Attempts != 1 {
		t.Errorf("apply with the FIFO: error %q after %d attempts; want %q at the first attempt", done.Error, done.Attempts, notRegular)
	}
	env := baseEnv(d.dir, "VPO_POLICIES_DIR="+pdir)
	for _, args := range [][]string{{"policy", "list"}, {"doctor"}} {
		// run gives up after 30 s (exit -1): a command that blocked.
		code, out, errs := run(t, env, args...)
		if code < 0 || !strings.Contains(out+errs, "not a regular file") {
			t.Errorf("vpo %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errs)
		}
	}
}

// TestAmbiguousPolicyAndPlanJobFilter: NAME.yaml with NAME.yml is
// ambiguous everywhere (policy check, policy list, GET /api/policies/NAME
// 409, an apply job); GET /api/plans?job= takes the spellings of a job id
// that /api/jobs/{id} takes and is 400 for anything else.
func TestAmbiguousPolicyAndPlanJobFilter(t *testing.T) {
	d, pdir := startPolicies(t, "")
	writePolicy(t, pdir, "eng.yaml", keepEngPolicy)
	writePolicy(t, pdir, "dup.yaml", keepEngPolicy)
	writePolicy(t, pdir, "dup.yml", keepBothPolicy)
	env := baseEnv(d.dir, "VPO_POLICIES_DIR="+pdir)
	if code, out, errs := run(t, env, "policy", "check", "dup"); code != 3 || !strings.Contains(errs, "ambiguous") {
		t.Errorf("policy check dup: exit %d\n%s%s", code, out, errs)
	}
	code, out, errs := run(t, env, "policy", "list")
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "dup ") && !strings.Contains(line, "ambiguous") {
			t.Errorf("policy list shows dup without the ambiguity: %q (exit %d)\n%s%s", line, code, out, errs)
		}
	}
	if code, _, body := d.call(http.MethodGet, "/api/policies/dup", "", ""); code != http.StatusConflict || !strings.Contains(string(body), "ambiguous") {
		t.Errorf("GET /api/policies/dup = %d %s; want 409", code, body)
	}

	needTools(t, "ffmpeg", "ffprobe", "mkvmerge")
	a := filepath.Join(d.dir, "lib", "a.mkv")
	mkvFixture(t, a)
	j := d.submit("apply", fmt.Sprintf(`{"policy":"dup","path":%q,"dry_run":true}`, a))
	if done := d.waitJob(j.ID, "failed", 30*time.Second); !strings.Contains(done.Error, "ambiguous") || done.Attempts != 1 {
		t.Errorf("apply of dup: error %q after %d attempts", done.Error, done.Attempts)
	}
	j = d.submit("apply", fmt.Sprintf(`{"policy":"eng","path":%q,"dry_run":true}`, a))
	d.waitJob(j.ID, "completed", 30*time.Second)
	for _, tc := range []struct {
		job   string
		code  int
		plans int
	}{
		{j.ID, 200, 1},
		{"{" + j.ID + "}", 200, 1},
		{strings.ToUpper(j.ID), 200, 1},
		{"notauuid", 400, 0},
	} {
		var list struct {
			Plans []planRow `json:"plans"`
		}
		if code := d.getBody("/api/plans?job="+url.QueryEscape(tc.job), &list); code != tc.code || len(list.Plans) != tc.plans {
			t.Errorf("GET /api/plans?job=%s = %d with %d plans; want %d with %d", tc.job, code, len(list.Plans), tc.code, tc.plans)
		}
	}
}
