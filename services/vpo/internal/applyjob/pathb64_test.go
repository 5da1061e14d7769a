package applyjob_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vpo-project/vpo/libs/jobs"
	"github.com/vpo-project/vpo/libs/store"
	"github.com/vpo-project/vpo/services/vpo/internal/apply"
	"github.com/vpo-project/vpo/services/vpo/internal/applyjob"
)

// badName is a file name that is not valid UTF-8.
const badName = "bad\xff\xfe.mkv"

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// badFile adds a file named badName next to the fixture's file and
// returns its path.
func badFile(t *testing.T, f *fixture) string {
	t.Helper()
	p := filepath.Join(filepath.Dir(f.file), badName)
	if err := os.WriteFile(p, []byte("not really a video"), 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(p, old, old); err != nil {
		t.Fatal(err)
	}
	return p
}

// checkPayloadPath fails unless raw is a payload naming path exactly, in
// "path_b64" when path is not UTF-8.
func checkPayloadPath(t *testing.T, what string, raw json.RawMessage, path string) {
	t.Helper()
	p, err := applyjob.ParsePayload(raw)
	if err != nil {
		t.Fatalf("%s: payload %s: %v", what, raw, err)
	}
	if p.Path != path {
		t.Errorf("%s: payload %s names %q, want %q", what, raw, p.Path, path)
	}
	if strings.Contains(string(raw), `\ufffd`) || strings.Contains(string(raw), "\ufffd") {
		t.Errorf("%s: payload %s holds U+FFFD", what, raw)
	}
}

// TestPayloadPathB64: a path that is not UTF-8 is given as path_b64
// (exactly one of path and path_b64); errors name the field.
func TestPayloadPathB64(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "lib\xff")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		payload, want string
	}{
		{fmt.Sprintf(`{"policy":"p","path_b64":%q}`, b64(dir)), ""},
		{fmt.Sprintf(`{"policy":"p","path_b64":%q,"recursive":false,"dry_run":true}`, b64(dir)), ""},
		{fmt.Sprintf(`{"policy":"p","path":"/x","path_b64":%q}`, b64(dir)), "give either path or path_b64, not both"},
		{`{"policy":"p","path_b64":"not base64!"}`, `path_b64 "not base64!" is not standard base64`},
		{fmt.Sprintf(`{"policy":"p","path_b64":%q}`, b64("rel\xff/x")), `path_b64 "rel\xff/x" must be absolute`},
		{fmt.Sprintf(`{"policy":"p","path_b64":%q}`, b64("/nonexistent/vpo/x\xff")), `path_b64 "/nonexistent/vpo/x\xff" does not exist`},
		{fmt.Sprintf(`{"policy":"p","path_b64":%q}`, b64("/x\x00y")), `path_b64 "/x\x00y" contains a NUL byte (at byte 2)`},
		{fmt.Sprintf(`{"policy":"p","path_b64":%q,"path_b64":%q}`, b64(dir), b64(dir)), `field "path_b64" is given twice`},
		{fmt.Sprintf(`{"policy":"p","PATH_B64":%q}`, b64(dir)), `unknown field "PATH_B64"`},
	}
	for _, tc := range cases {
		p, err := applyjob.ValidatePayload(json.RawMessage(tc.payload))
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.payload, err)
		case tc.want == "" && p.Path != dir:
			t.Errorf("%s: path %q, want %q", tc.payload, p.Path, dir)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: error %v, want one containing %q", tc.payload, err, tc.want)
		}
	}
}

// TestPayloadJSONPath: a payload is written with "path" when its path is
// UTF-8 without a backslash and with "path_b64" (only) otherwise, and
// reads back to the same bytes.
func TestPayloadJSONPath(t *testing.T) {
	for _, path := range []string{"/m/a é.mkv", "/m/" + badName, `/m/a\xff.mkv`} {
		raw, err := json.Marshal(applyjob.Payload{Policy: "p", Path: path})
		if err != nil {
			t.Fatal(err)
		}
		checkPayloadPath(t, path, raw, path)
		_, exact := store.EscapePath(path)
		if got := strings.Contains(string(raw), `"path_b64"`); got == exact || strings.Contains(string(raw), `"path":`) != exact {
			t.Errorf("payload of %q is %s; want path_b64 only when the path is escaped", path, raw)
		}
	}
}

// TestApplyNonUTF8File: a file whose name is not UTF-8 is applied by a
// path_b64 payload; the plan names it exactly and the result shows it
// escaped, with its bytes in path_b64.
func TestApplyNonUTF8File(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, applyjob.Settings{})
	bad := badFile(t, f)
	_, res, err := f.run(t, fmt.Sprintf(`{"policy":"eng","path_b64":%q}`, b64(bad)))
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		applyjob.Result
		PathB64 string `json:"path_b64"`
	}
	if err := json.Unmarshal(res, &r); err != nil {
		t.Fatal(err)
	}
	want, _ := store.EscapePath(bad)
	if r.Outcome != applyjob.OutcomeApplied || r.Result.Path != want || r.PathB64 != b64(bad) {
		t.Fatalf("result %s; want applied, path %q and path_b64 %q", res, want, b64(bad))
	}
	p, err := f.st.GetPlan(ctx, r.PlanID)
	if err != nil || p.Path != bad || p.Status != store.PlanApplied {
		t.Fatalf("plan = %+v, %v; want applied, path %q", p, err, bad)
	}
}

// TestChildAndRetryOfNonUTF8File: a directory job hands a file whose name
// is not UTF-8 to its child by path_b64, and a retry of it names it
// exactly too.
func TestChildAndRetryOfNonUTF8File(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, applyjob.Settings{})
	bad := badFile(t, f)
	_, _, err := f.run(t, fmt.Sprintf(`{"policy":"eng","path":%q}`, filepath.Dir(f.file)))
	var kids *jobs.Children
	if !errors.As(err, &kids) || len(kids.Jobs) != 2 {
		t.Fatalf("directory job returned %v; want a hand-off to 2 children", err)
	}
	checkPayloadPath(t, "child", kids.Jobs[0].Payload, f.file)
	checkPayloadPath(t, "child", kids.Jobs[1].Payload, bad)

	f.exec.err = fmt.Errorf("x: %w", apply.ErrBusy)
	_, res, err := f.run(t, string(kids.Jobs[1].Payload))
	if err != nil {
		t.Fatal(err)
	}
	r := outcome(t, res)
	retry, err := f.st.GetJob(ctx, r.RetryJobID)
	if err != nil {
		t.Fatalf("retry job %q: %v (result %s)", r.RetryJobID, err, res)
	}
	checkPayloadPath(t, "retry", retry.Payload, bad)
}
