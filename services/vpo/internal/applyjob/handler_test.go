package applyjob_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/vpo-project/vpo/libs/jobs"
	"github.com/vpo-project/vpo/libs/media"
	"github.com/vpo-project/vpo/libs/store"
	"github.com/vpo-project/vpo/services/vpo/internal/apply"
	"github.com/vpo-project/vpo/services/vpo/internal/applyjob"
)

// probeJSON is ffprobe's answer for a file with video, eng and fre audio.
const probeJSON = `{"format":{"format_name":"matroska,webm","duration":"2.0"},"streams":[
 {"index":0,"codec_type":"video","codec_name":"h264","width":160,"height":120},
 {"index":1,"codec_type":"audio","codec_name":"aac","channels":2,"tags":{"language":"eng"}},
 {"index":2,"codec_type":"audio","codec_name":"aac","channels":2,"tags":{"language":"fre"}}]}`

const keepEng = "schema_version: 13\nconfig:\n  on_error: fail\nphases:\n  - name: filter\n    keep_audio:\n      languages: [eng]\n"

// fakeExec counts probes and answers applies with err (or success).
type fakeExec struct {
	probes, applies int
	err             error
}

func (f *fakeExec) Probe(_ context.Context, _ string, opts media.Options) (media.File, []byte, error) {
	f.probes++
	m, err := media.FromFFProbe([]byte(probeJSON), opts)
	return m, []byte(probeJSON), err
}

func (f *fakeExec) Apply(_ context.Context, req apply.Request) (apply.Result, error) {
	f.applies++
	if f.err != nil {
		return apply.Result{}, f.err
	}
	return apply.Result{Executor: apply.ExecutorMkvMerge, Path: req.Path, After: req.Source, AfterProbe: []byte(probeJSON),
		Size: req.SourceSize, MTime: req.SourceMTime}, nil
}

type noProgress struct{}

func (noProgress) Report(float64, string) {}

func (noProgress) ReportETA(float64, string, time.Duration) {}

type fixture struct {
	st   *store.Store
	exec *fakeExec
	h    *applyjob.Handler
	dir  string
	file string
}

func newFixture(t testing.TB, s applyjob.Settings) *fixture {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(context.Background(), filepath.Join(dir, "vpo.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	s.Dir = filepath.Join(dir, "policies")
	if err := os.MkdirAll(s.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.Dir, "eng.yaml"), []byte(keepEng), 0o644); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "lib", "a.mkv")
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte("not really a video"), 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(file, old, old); err != nil {
		t.Fatal(err)
	}
	l := logrus.New()
	l.SetOutput(io.Discard)
	ex := &fakeExec{}
	return &fixture{st: st, exec: ex, h: applyjob.New(st, ex, s, logrus.NewEntry(l)), dir: dir, file: file}
}

// run creates, claims and runs one apply job with payload.
func (f *fixture) run(t *testing.T, payload string) (store.Job, json.RawMessage, error) {
	t.Helper()
	ctx := context.Background()
	if _, err := f.st.CreateJob(ctx, store.NewJob{Kind: applyjob.Kind, Payload: json.RawMessage(payload), MaxAttempts: 1}); err != nil {
		t.Fatal(err)
	}
	j, ok, err := f.st.ClaimJob(ctx, "w", []string{applyjob.Kind}, time.Minute, time.Now())
	if !ok || err != nil {
		t.Fatalf("claim = %v, %v", ok, err)
	}
	res, err := f.h.Run(ctx, j, noProgress{})
	return j, res, err
}

func outcome(t *testing.T, raw json.RawMessage) applyjob.Result {
	t.Helper()
	var r applyjob.Result
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatalf("result %s: %v", raw, err)
	}
	return r
}

// TestStoredProbeReused: a file whose size and mtime match its stored
// probe is planned from it without running ffprobe; a changed one is
// probed again and its row updated.
func TestStoredProbeReused(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, applyjob.Settings{})
	fi, err := os.Stat(f.file)
	if err != nil {
		t.Fatal(err)
	}
	reduced, err := store.ReduceProbe([]byte(probeJSON))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.st.UpsertFile(ctx, store.File{Path: f.file, Size: fi.Size(), ModTime: fi.ModTime(), LastScannedAt: time.Now(),
		Probe: reduced, ProbedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	payload := fmt.Sprintf(`{"policy":"eng","path":%q,"dry_run":true}`, f.file)
	_, res, err := f.run(t, payload)
	if err != nil {
		t.Fatal(err)
	}
	if r := outcome(t, res); r.Outcome != applyjob.OutcomePlanned || f.exec.probes != 0 || f.exec.applies != 0 {
		t.Fatalf("dry run with a stored probe: %+v, %d probes, %d applies; want planned, none", r, f.exec.probes, f.exec.applies)
	}
	later := fi.ModTime().Add(time.Minute)
	if err := os.Chtimes(f.file, later, later); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.run(t, payload); err != nil {
		t.Fatal(err)
	}
	if f.exec.probes != 1 {
		t.Fatalf("changed file: %d probes, want 1", f.exec.probes)
	}
	row, err := f.st.GetFile(ctx, f.file)
	if err != nil || !row.ModTime.Equal(later) || !row.Probed() {
		t.Errorf("files row = %+v, %v; want the new mtime, probed", row, err)
	}
}

// TestApplyRecordsPlanAndHistory: an approved (not dry) apply stores the
// plan as applied and a history entry.
func TestApplyRecordsPlanAndHistory(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, applyjob.Settings{})
	var written []string
	f.h.OnWritten(func(kind string, n int64) { written = append(written, fmt.Sprintf("%s %d", kind, n)) })
	job, res, err := f.run(t, fmt.Sprintf(`{"policy":"eng","path":%q}`, f.file))
	if err != nil {
		t.Fatal(err)
	}
	r := outcome(t, res)
	if r.Outcome != applyjob.OutcomeApplied || r.Executor != apply.ExecutorMkvMerge || f.exec.applies != 1 {
		t.Fatalf("result %+v, %d applies", r, f.exec.applies)
	}
	fi, err := os.Stat(f.file)
	if err != nil {
		t.Fatal(err)
	}
	// A remux wrote a new file: its size is in the result and counted.
	if want := fmt.Sprintf("apply %d", fi.Size()); r.BytesWritten != fi.Size() || len(written) != 1 || written[0] != want {
		t.Errorf("bytes_written %d, OnWritten %q; want %d and [%q]", r.BytesWritten, written, fi.Size(), want)
	}
	p, err := f.st.GetPlan(ctx, r.PlanID)
	if err != nil || p.Status != store.PlanApplied || p.JobID != job.ID {
		t.Fatalf("plan = %+v, %v", p, err)
	}
	row, _ := f.st.GetFile(ctx, f.file)
	h, err := f.st.ListHistory(ctx, row.ID)
	if err != nil || len(h) != 1 || h[0].Executor != apply.ExecutorMkvMerge || h[0].JobID != job.ID {
		t.Fatalf("history = %+v, %v", h, err)
	}
}

// TestStillChangingIsRetriedLater: a file younger than min_file_age, or
// one the executor finds busy or still changing, is skipped (the job does
// not fail) and a delayed job tries it again.
func TestStillChangingIsRetriedLater(t *testing.T) {
	cases := []struct {
		name     string
		minAge   time.Duration
		execErr  error
		wantText string
	}{
		{"young file", 3 * time.Hour, nil, "still changing"},
		{"executor still changing", 0, fmt.Errorf("x: %w", apply.ErrStillChanging), "still changing"},
		{"executor busy", 0, fmt.Errorf("x: %w", apply.ErrBusy), "another apply"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t, applyjob.Settings{MinFileAge: tc.minAge})
			f.exec.err = tc.execErr
			_, res, err := f.run(t, fmt.Sprintf(`{"policy":"eng","path":%q}`, f.file))
			if err != nil {
				t.Fatalf("job failed: %v", err)
			}
			r := outcome(t, res)
			if r.Outcome != applyjob.OutcomeSkipped || !strings.Contains(r.Reason, tc.wantText) || r.RetryJobID == "" {
				t.Fatalf("result = %+v", r)
			}
			retry, err := f.st.GetJob(ctx, r.RetryJobID)
			if err != nil || retry.Status != store.StatusQueued || retry.RunAfter == nil || !retry.RunAfter.After(time.Now()) {
				t.Fatalf("retry job = %+v, %v; want queued with a run_after in the future", retry, err)
			}
		})
	}
}

// TestDeferralsAreBounded: each retry of a file skipped for now counts in
// its payload; after MaxDeferrals in a row the file is left alone (no new
// job), so a file that never settles does not get a job forever.
func TestDeferralsAreBounded(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, applyjob.Settings{})
	f.exec.err = fmt.Errorf("x: %w", apply.ErrBusy)
	_, res, err := f.run(t, fmt.Sprintf(`{"policy":"eng","path":%q,"deferrals":3}`, f.file))
	if err != nil {
		t.Fatal(err)
	}
	r := outcome(t, res)
	retry, err := f.st.GetJob(ctx, r.RetryJobID)
	if err != nil {
		t.Fatalf("retry job %q: %v", r.RetryJobID, err)
	}
	var p applyjob.Payload
	if err := json.Unmarshal(retry.Payload, &p); err != nil || p.Deferrals != 4 {
		t.Fatalf("retry payload %s (%v); want deferrals 4", retry.Payload, err)
	}
	_, res, err = f.run(t, fmt.Sprintf(`{"policy":"eng","path":%q,"deferrals":%d}`, f.file, applyjob.MaxDeferrals))
	if err != nil {
		t.Fatal(err)
	}
	if r := outcome(t, res); r.Outcome != applyjob.OutcomeSkipped || r.RetryJobID != "" || !strings.Contains(r.Reason, "not tried again") {
		t.Fatalf("after %d deferrals: result = %+v; want skipped without a retry job", applyjob.MaxDeferrals, r)
	}
}

// TestOnErrorFailStopsTheDirectory: with on_error: fail, a child whose
// file fails cancels its siblings and fails the parent.
func TestOnErrorFailStopsTheDirectory(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, applyjob.Settings{})
	f.exec.err = errors.New("mkvmerge exploded")
	other := filepath.Join(filepath.Dir(f.file), "b.mkv")
	if err := os.WriteFile(other, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	parent, _, err := f.run(t, fmt.Sprintf(`{"policy":"eng","path":%q}`, filepath.Dir(f.file)))
	var kids interface{ Error() string }
	if !errors.As(err, &kids) || !strings.Contains(err.Error(), "2 child jobs") {
		t.Fatalf("directory job returned %v; want a hand-off to 2 children", err)
	}
	// What the pool does with the hand-off.
	var nj []store.NewJob
	for _, p := range []string{f.file, other} {
		nj = append(nj, store.NewJob{Kind: applyjob.Kind, MaxAttempts: 1,
			Payload: json.RawMessage(fmt.Sprintf(`{"policy":"eng","path":%q}`, p))})
	}
	if err := f.st.AwaitChildren(ctx, parent.Lease(), nj, nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	child, ok, err := f.st.ClaimJob(ctx, "w", []string{applyjob.Kind}, time.Minute, time.Now())
	if !ok || err != nil {
		t.Fatal(ok, err)
	}
	if _, err := f.h.Run(ctx, child, noProgress{}); err == nil {
		t.Fatal("child with a failing executor succeeded")
	} else if err := f.st.FailJob(ctx, child.Lease(), err.Error(), time.Now()); err != nil {
		t.Fatal(err)
	}
	p, err := f.st.GetJob(ctx, parent.ID)
	if err != nil || p.Status != store.StatusFailed || !strings.Contains(p.Error, "on_error: fail") {
		t.Fatalf("parent = %s %q, %v; want failed naming on_error", p.Status, p.Error, err)
	}
}

func TestValidatePayload(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		payload, want string
	}{
		{`{}`, "payload is required"},
		{`{"path":"/x"}`, "policy is required"},
		{`{"policy":"p"}`, "path is required"},
		{`{"policy":"p","path":"rel/x"}`, "must be absolute"},
		{`{"policy":"p","path":"/nonexistent/vpo/x"}`, "does not exist"},
		{`{"policy":"p","path":"/x","bogus":1}`, "unknown field"},
		{`{"plan_id":-1}`, "plan_id"},
		{fmt.Sprintf(`{"policy":"p","path":%q,"recursive":false,"dry_run":true}`, dir), ""},
		{fmt.Sprintf(`{"policy":"films ä.v2","path":%q}`, dir), ""},
		// Only POST /api/plans/{id}/approve makes a job of a plan.
		{`{"plan_id":4}`, "plan_id is set by vpo, not given: approve plan 4 with POST /api/plans/4/approve"},
		{fmt.Sprintf(`{"plan_id":999999,"policy":"p","path":%q}`, dir), "plan_id"},
		{fmt.Sprintf(`{"policy":"p","path":%q,"deferrals":1}`, dir), "deferrals is set by vpo, not given"},
		{fmt.Sprintf(`{"policy":"p","path":%q,"dry_run":null}`, dir), `field "dry_run" is null`},
		{fmt.Sprintf(`{"policy":"p","path":%q,"deferrals":-1}`, dir), "deferrals -1 must be between 0 and 20"},
		// The policy is a name in policies.dir, never a path.
		{fmt.Sprintf(`{"policy":"/etc/shadow","path":%q}`, dir), `policy "/etc/shadow" is not a policy name: it contains "/"`},
		{fmt.Sprintf(`{"policy":"../../etc/passwd","path":%q}`, dir), `policy "../../etc/passwd" is not a policy name`},
		{fmt.Sprintf(`{"policy":"./outside.yaml","path":%q}`, dir), `policy "./outside.yaml" is not a policy name`},
		{fmt.Sprintf(`{"policy":"..","path":%q}`, dir), `policy ".." is not a policy name: it starts with "."`},
		{fmt.Sprintf(`{"policy":".hidden","path":%q}`, dir), `starts with "."`},
		{fmt.Sprintf(`{"policy":"english.yaml","path":%q}`, dir), `policy "english.yaml" is not a policy name: it ends in .yaml`},
		{fmt.Sprintf(`{"policy":"eng\u0000lish","path":%q}`, dir), `policy "eng\x00lish" is not a policy name: it contains a NUL byte (at byte 3)`},
		{fmt.Sprintf(`{"policy":%q,"path":%q}`, strings.Repeat("e", 100*1024), dir), "is not a policy name: it is 102400 bytes long"},
		{fmt.Sprintf(`{"policy":"","path":%q}`, dir), "policy is required"},
		// Keys are exact and given once.
		{fmt.Sprintf(`{"Policy":"p","path":%q}`, dir), `unknown field "Policy"`},
		{fmt.Sprintf(`{"policy":"p","PATH":%q}`, dir), `unknown field "PATH"`},
		{fmt.Sprintf(`{"policy":"p","path":%q,"DRY_RUN":true}`, dir), `unknown field "DRY_RUN"`},
		{fmt.Sprintf(`{"policy":"/etc/shadow","policy":"p","path":%q}`, dir), `field "policy" is given twice`},
		{fmt.Sprintf(`{"policy":"p","path":%q,"path":%q}`, dir, dir), `field "path" is given twice`},
		{`["policy"]`, "must be a JSON object"},
	}
	for _, tc := range cases {
		_, err := applyjob.ValidatePayload(json.RawMessage(tc.payload))
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.payload, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: error %v, want one containing %q", tc.payload, err, tc.want)
		}
	}
}

// TestPolicyReadAtJobStart: each job reads the policy file when it starts:
// an unsupported feature fails it naming the feature, a broken file fails
// it naming file and line, and a fixed file works at the next job.
func TestPolicyReadAtJobStart(t *testing.T) {
	f := newFixture(t, applyjob.Settings{})
	pfile := filepath.Join(f.dir, "policies", "eng.yaml")
	payload := fmt.Sprintf(`{"policy":"eng","path":%q,"dry_run":true}`, f.file)
	for _, tc := range []struct {
		name, body, want string
	}{
		{"unsupported", keepEng + "    transcription: {}\n", "eng.yaml:8: phases[0].transcription: not supported by vpo yet"},
		{"broken", "schema_version: 13\nphases:\n  - nmae: x\n", "eng.yaml:3"},
		{"missing", "", `policy "eng" not found in`},
		{"fixed", keepEng, ""},
	} {
		if tc.body == "" {
			_ = os.Remove(pfile)
		} else if err := os.WriteFile(pfile, []byte(tc.body), 0o644); err != nil {
			t.Fatal(err)
		}
		_, _, err := f.run(t, payload)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		case tc.want != "" && !errors.As(err, new(*jobs.FinalError)):
			t.Errorf("%s: error %v is retried; a policy problem is final", tc.name, err)
		}
	}
}

// TestInterruptedAttemptSuperseded: an approved plan left by an attempt of
// the same job that never finished is superseded when the job runs again.
func TestInterruptedAttemptSuperseded(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, applyjob.Settings{})
	j, err := f.st.CreateJob(ctx, store.NewJob{Kind: applyjob.Kind, MaxAttempts: 2,
		Payload: json.RawMessage(fmt.Sprintf(`{"policy":"eng","path":%q}`, f.file))})
	if err != nil {
		t.Fatal(err)
	}
	stale, err := f.st.CreatePlan(ctx, store.Plan{JobID: j.ID, Policy: "eng", Path: f.file, Status: store.PlanApproved,
		Plan: json.RawMessage(`{}`)}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	claimed, _, _ := f.st.ClaimJob(ctx, "w", []string{applyjob.Kind}, time.Minute, time.Now())
	res, err := f.h.Run(ctx, claimed, noProgress{})
	if err != nil {
		t.Fatal(err)
	}
	if r := outcome(t, res); r.Outcome != applyjob.OutcomeApplied || r.PlanID == stale.ID {
		t.Fatalf("result = %+v", r)
	}
	if p, _ := f.st.GetPlan(ctx, stale.ID); p.Status != store.PlanSuperseded {
		t.Errorf("stale plan = %s, want superseded", p.Status)
	}
}

// TestInterruptedAttemptSupersededWhenPlannedForApproval: the approved
// plan an interrupted attempt left is superseded also when the next
// attempt's plan waits for approval (it is not carried out).
func TestInterruptedAttemptSupersededWhenPlannedForApproval(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, applyjob.Settings{RequireApproval: true})
	j, err := f.st.CreateJob(ctx, store.NewJob{Kind: applyjob.Kind, MaxAttempts: 2,
		Payload: json.RawMessage(fmt.Sprintf(`{"policy":"eng","path":%q}`, f.file))})
	if err != nil {
		t.Fatal(err)
	}
	stale, err := f.st.CreatePlan(ctx, store.Plan{JobID: j.ID, Policy: "eng", Path: f.file, Status: store.PlanApproved,
		Plan: json.RawMessage(`{}`)}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	claimed, _, _ := f.st.ClaimJob(ctx, "w", []string{applyjob.Kind}, time.Minute, time.Now())
	res, err := f.h.Run(ctx, claimed, noProgress{})
	if err != nil {
		t.Fatal(err)
	}
	if r := outcome(t, res); r.Outcome != applyjob.OutcomePendingApproval {
		t.Fatalf("result = %+v", r)
	}
	if p, _ := f.st.GetPlan(ctx, stale.ID); p.Status != store.PlanSuperseded {
		t.Errorf("stale plan = %s, want superseded", p.Status)
	}
}

// TestQueuedBadPolicyName: a job already queued with a path (or another
// value that is not a name) as its policy, or an approved plan recorded
// with one, fails at once without reading the file it names.
func TestQueuedBadPolicyName(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, applyjob.Settings{})
	secret := filepath.Join(f.dir, "secret.yaml")
	if err := os.WriteFile(secret, []byte("hunter2: the secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	check := func(what string, err error) {
		t.Helper()
		switch {
		case err == nil:
			t.Errorf("%s: the job ran", what)
		case strings.Contains(err.Error(), "hunter2"):
			t.Errorf("%s: error shows the file's content: %v", what, err)
		case !strings.Contains(err.Error(), "is not a policy name"):
			t.Errorf("%s: error %v, want it to say the policy is not a name", what, err)
		case !errors.As(err, new(*jobs.FinalError)):
			t.Errorf("%s: error %v is retried; it can never succeed", what, err)
		}
	}
	for _, pol := range []string{secret, "../secret", "../secret.yaml", "eng.yaml"} {
		_, _, err := f.run(t, fmt.Sprintf(`{"policy":%q,"path":%q,"dry_run":true}`, pol, f.file))
		check(pol, err)
	}
	row, err := f.st.CreatePlan(ctx, store.Plan{JobID: "j", Policy: secret, Path: f.file, Status: store.PlanApproved,
		Plan: json.RawMessage(`{}`)}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = f.run(t, fmt.Sprintf(`{"plan_id":%d}`, row.ID))
	check("approved plan", err)
}

// TestAmbiguousPolicyIsFinal: a name held by NAME.yaml and NAME.yml fails
// the job at its first attempt, naming both files; another attempt cannot
// choose between them.
func TestAmbiguousPolicyIsFinal(t *testing.T) {
	f := newFixture(t, applyjob.Settings{})
	if err := os.WriteFile(filepath.Join(f.dir, "policies", "eng.yml"), []byte(keepEng), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err := f.run(t, fmt.Sprintf(`{"policy":"eng","path":%q,"dry_run":true}`, f.file))
	want := fmt.Sprintf(`policy "eng" is ambiguous: both %s and %s exist; remove one`,
		filepath.Join(f.dir, "policies", "eng.yaml"), filepath.Join(f.dir, "policies", "eng.yml"))
	if err == nil || err.Error() != want || !errors.As(err, new(*jobs.FinalError)) {
		t.Errorf("error %v (final: %v), want the final error %q", err, errors.As(err, new(*jobs.FinalError)), want)
	}
}
