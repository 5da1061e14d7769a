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
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/vpo-project/vpo/libs/jobs"
	"github.com/vpo-project/vpo/libs/media"
	"github.com/vpo-project/vpo/libs/policy"
	"github.com/vpo-project/vpo/libs/store"
	"github.com/vpo-project/vpo/services/vpo/internal/apply"
	"github.com/vpo-project/vpo/services/vpo/internal/applyjob"
)

// encoding plans with the policy and then re-encodes the video track to
// hevc, as a policy with a transcode block would.
func encoding(pol *policy.Policy, src media.File) (policy.Plan, error) {
	plan, err := pol.Plan(src)
	if err != nil {
		return plan, err
	}
	for i, t := range plan.Target.Tracks {
		if t.Type != "video" {
			continue
		}
		crf := 30
		from := t.Codec
		plan.Target.Tracks[i].Codec = "hevc"
		plan.Target.Tracks[i].Encode = &policy.Encode{Codec: "hevc", CRF: &crf, Preset: "ultrafast", HW: policy.HWNone}
		plan.Changes = append(plan.Changes, policy.Change{Kind: policy.ChangeTranscodeVideo, Track: t.Source, TrackType: "video",
			From: from, To: "hevc", Phase: "filter", Reason: "transcode.video.to: hevc"})
	}
	return plan, nil
}

// transcodes says every policy has a transcode block.
func transcodes(*policy.Policy) bool { return true }

// encodeExec is an executor that reports progress the way the ffmpeg
// executor does and says which encoder it used.
type encodeExec struct {
	fakeExec
	reqs []apply.Request
}

func (e *encodeExec) Apply(ctx context.Context, req apply.Request) (apply.Result, error) {
	e.reqs = append(e.reqs, req)
	res, err := e.fakeExec.Apply(ctx, req)
	if err != nil || !req.Plan.Encodes() {
		return res, err
	}
	if req.Progress != nil {
		req.Progress(25, "speed 2.4x, 00:01:00 of 00:04:00", 75*time.Second)
		req.Progress(50, "speed 2.4x, 00:02:00 of 00:04:00", 50*time.Second)
	}
	res.Executor, res.Encoder, res.HW = "ffmpeg", "libx265", "none"
	return res, nil
}

// report is one progress report.
type report struct {
	percent float64
	message string
	eta     time.Duration
}

// recProgress records the reports.
type recProgress struct {
	mu      sync.Mutex
	reports []report
}

func (r *recProgress) Report(p float64, m string) { r.ReportETA(p, m, -1) }

func (r *recProgress) ReportETA(p float64, m string, eta time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reports = append(r.reports, report{p, m, eta})
}

func (r *recProgress) messages() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, x := range r.reports {
		out = append(out, x.message)
	}
	return out
}

// transcodeFixture is a fixture whose handler plans re-encodes.
func transcodeFixture(t *testing.T, s applyjob.Settings) (*fixture, *encodeExec) {
	t.Helper()
	f := newFixture(t, s)
	ex := &encodeExec{}
	l := logrus.New()
	l.SetOutput(io.Discard)
	f.h = applyjob.New(f.st, ex, f.h.Settings(), logrus.NewEntry(l))
	applyjob.SetPlanner(f.h, encoding, transcodes)
	return f, ex
}

// runKind creates, claims and runs one job of kind.
func (f *fixture) runKind(t *testing.T, nj store.NewJob, progress jobs.Progress) (store.Job, json.RawMessage, error) {
	t.Helper()
	ctx := context.Background()
	if nj.MaxAttempts == 0 {
		nj.MaxAttempts = 1
	}
	created, err := f.st.CreateJob(ctx, nj)
	if err != nil {
		t.Fatal(err)
	}
	j, ok, err := f.st.ClaimJob(ctx, "w", []string{nj.Kind}, time.Minute, time.Now())
	if !ok || err != nil || j.ID != created.ID {
		t.Fatalf("claim = %v, %v, %s; want job %s", ok, err, j.ID, created.ID)
	}
	res, err := f.h.Run(ctx, j, progress)
	return j, res, err
}

// children returns the hand-off err makes, failing the test if it is none.
func children(t *testing.T, err error) []store.NewJob {
	t.Helper()
	var kids *jobs.Children
	if !errors.As(err, &kids) {
		t.Fatalf("job returned %v; want a hand-off to child jobs", err)
	}
	return kids.Jobs
}

func filePayload(t *testing.T, raw json.RawMessage) applyjob.Payload {
	t.Helper()
	p, err := applyjob.ParsePayload(raw)
	if err != nil {
		t.Fatalf("payload %s: %v", raw, err)
	}
	return p
}

// TestApplyHandsEncodeToTranscode: an apply job of one file whose plan
// re-encodes does not run it: it hands the file to one transcode child
// with the same payload, priority and attempts, and stores no plan (the
// transcode job plans it from a fresh probe).
func TestApplyHandsEncodeToTranscode(t *testing.T) {
	ctx := context.Background()
	f, ex := transcodeFixture(t, applyjob.Settings{})
	prog := &recProgress{}
	_, _, err := f.runKind(t, store.NewJob{Kind: applyjob.Kind, Priority: 7, MaxAttempts: 3,
		Payload: json.RawMessage(fmt.Sprintf(`{"policy":"eng","path":%q}`, f.file))}, prog)
	kids := children(t, err)
	if len(kids) != 1 || kids[0].Kind != applyjob.TranscodeKind || kids[0].Priority != 7 || kids[0].MaxAttempts != 3 {
		t.Fatalf("children = %+v; want one transcode job of priority 7, 3 attempts", kids)
	}
	if p := filePayload(t, kids[0].Payload); p.Policy != "eng" || p.Path != f.file || p.DryRun || p.PlanID != 0 {
		t.Errorf("child payload %s; want policy eng and the file", kids[0].Payload)
	}
	if len(ex.reqs) != 0 {
		t.Errorf("the apply job executed %d plans; an encode runs only in a transcode job", len(ex.reqs))
	}
	if plans, _, err := f.st.ListPlans(ctx, store.PlanFilter{Path: f.file}); err != nil || len(plans) != 0 {
		t.Errorf("plans = %+v, %v; want none stored by the apply job", plans, err)
	}
	if msgs := prog.messages(); len(msgs) == 0 || !strings.Contains(msgs[len(msgs)-1], "transcode") {
		t.Errorf("progress %q; want the hand-off reported", msgs)
	}
}

// TestTranscodeJobExecutesEncode: a transcode job plans the file, runs the
// encode with a progress callback that reaches the job's progress (with
// the time left), reports its phases before the encoder's first report,
// and stores the encoder and hardware method in its result.
func TestTranscodeJobExecutesEncode(t *testing.T) {
	ctx := context.Background()
	f, ex := transcodeFixture(t, applyjob.Settings{})
	prog := &recProgress{}
	job, res, err := f.runKind(t, store.NewJob{Kind: applyjob.TranscodeKind,
		Payload: json.RawMessage(fmt.Sprintf(`{"policy":"eng","path":%q}`, f.file))}, prog)
	if err != nil {
		t.Fatal(err)
	}
	if len(ex.reqs) != 1 || !ex.reqs[0].Plan.Encodes() || ex.reqs[0].Progress == nil {
		t.Fatalf("executor requests %+v; want one encoding plan with a progress callback", ex.reqs)
	}
	r := outcome(t, res)
	if r.Outcome != applyjob.OutcomeApplied || r.Executor != "ffmpeg" || r.Encoder != "libx265" || r.HW != "none" {
		t.Errorf("result %+v; want applied by ffmpeg with encoder libx265, hw none", r)
	}
	var raw map[string]any
	if err := json.Unmarshal(res, &raw); err != nil || raw["encoder"] != "libx265" || raw["hw"] != "none" {
		t.Errorf("result JSON %s; want \"encoder\" and \"hw\"", res)
	}
	msgs := strings.Join(prog.messages(), " | ")
	for _, want := range []string{"probing", "encoding", "speed 2.4x, 00:01:00 of 00:04:00", "speed 2.4x, 00:02:00 of 00:04:00"} {
		if !strings.Contains(msgs, want) {
			t.Errorf("progress %q; want %q", msgs, want)
		}
	}
	if !strings.Contains(msgs, "probing | encoding | speed") {
		t.Errorf("progress %q; want probing, then encoding, then the encoder's reports", msgs)
	}
	var eta bool
	for _, x := range prog.reports {
		if x.percent == 50 && x.eta == 50*time.Second {
			eta = true
		}
	}
	if !eta {
		t.Errorf("reports %+v; want the encoder's time left passed on", prog.reports)
	}
	p, err := f.st.GetPlan(ctx, r.PlanID)
	if err != nil || p.Status != store.PlanApplied || p.JobID != job.ID || !strings.Contains(string(p.Plan), "transcode_video") {
		t.Errorf("plan = %+v, %v; want the applied encoding plan of the job", p, err)
	}
	row, _ := f.st.GetFile(ctx, f.file)
	if h, err := f.st.ListHistory(ctx, row.ID); err != nil || len(h) != 1 || h[0].Executor != "ffmpeg" || h[0].JobID != job.ID {
		t.Errorf("history = %+v, %v; want one ffmpeg entry of the job", h, err)
	}
}

// TestTranscodeJobWithoutEncode: a transcode job whose plan no longer
// encodes (the file was converted meanwhile) applies the rest like an
// apply job, or completes unchanged when nothing is left.
func TestTranscodeJobWithoutEncode(t *testing.T) {
	f, ex := transcodeFixture(t, applyjob.Settings{})
	applyjob.SetPlanner(f.h, func(pol *policy.Policy, src media.File) (policy.Plan, error) { return pol.Plan(src) }, nil)
	payload := json.RawMessage(fmt.Sprintf(`{"policy":"eng","path":%q}`, f.file))
	_, res, err := f.runKind(t, store.NewJob{Kind: applyjob.TranscodeKind, Payload: payload}, &recProgress{})
	if err != nil {
		t.Fatal(err)
	}
	if r := outcome(t, res); r.Outcome != applyjob.OutcomeApplied || r.Executor != apply.ExecutorMkvMerge || r.Encoder != "" || len(ex.reqs) != 1 {
		t.Errorf("result %+v after %d applies; want applied by mkvmerge without an encoder", r, len(ex.reqs))
	}
	applyjob.SetPlanner(f.h, func(*policy.Policy, media.File) (policy.Plan, error) { return policy.Plan{Policy: "eng"}, nil }, nil)
	_, res, err = f.runKind(t, store.NewJob{Kind: applyjob.TranscodeKind, Payload: payload}, &recProgress{})
	if err != nil {
		t.Fatal(err)
	}
	if r := outcome(t, res); r.Outcome != applyjob.OutcomeUnchanged || len(ex.reqs) != 1 {
		t.Errorf("result %+v after %d applies; want unchanged, nothing executed", r, len(ex.reqs))
	}
}

// TestDryRunReportsEncode: a dry run of a file whose plan encodes stores
// the plan with its transcode change and hands nothing off.
func TestDryRunReportsEncode(t *testing.T) {
	ctx := context.Background()
	f, ex := transcodeFixture(t, applyjob.Settings{})
	_, res, err := f.runKind(t, store.NewJob{Kind: applyjob.Kind,
		Payload: json.RawMessage(fmt.Sprintf(`{"policy":"eng","path":%q,"dry_run":true}`, f.file))}, &recProgress{})
	if err != nil {
		t.Fatalf("dry run returned %v; want a result", err)
	}
	r := outcome(t, res)
	if r.Outcome != applyjob.OutcomePlanned || len(ex.reqs) != 0 {
		t.Fatalf("result %+v after %d applies; want planned, nothing executed", r, len(ex.reqs))
	}
	p, err := f.st.GetPlan(ctx, r.PlanID)
	if err != nil || !p.DryRun || !strings.Contains(string(p.Plan), `"transcode_video"`) || !strings.Contains(string(p.Plan), `"encode"`) {
		t.Errorf("plan = %s, %v; want the dry-run plan with its encode", p.Plan, err)
	}
}

// TestDirectoryChildKinds: a directory apply of a policy with a transcode
// block makes transcode children, one without makes apply children, a
// transcode directory job makes transcode children either way, and a dry
// run's children keep the directory job's kind.
func TestDirectoryChildKinds(t *testing.T) {
	cases := []struct {
		name       string
		kind       string
		transcodes bool
		dryRun     bool
		want       string
	}{
		{"apply, policy transcodes", applyjob.Kind, true, false, applyjob.TranscodeKind},
		{"apply, policy does not transcode", applyjob.Kind, false, false, applyjob.Kind},
		{"transcode, policy does not transcode", applyjob.TranscodeKind, false, false, applyjob.TranscodeKind},
		{"transcode, policy transcodes", applyjob.TranscodeKind, true, false, applyjob.TranscodeKind},
		{"apply dry run, policy transcodes", applyjob.Kind, true, true, applyjob.Kind},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, _ := transcodeFixture(t, applyjob.Settings{})
			applyjob.SetPlanner(f.h, nil, func(*policy.Policy) bool { return tc.transcodes })
			other := filepath.Join(filepath.Dir(f.file), "b.mkv")
			if err := os.WriteFile(other, []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
			_, _, err := f.runKind(t, store.NewJob{Kind: tc.kind, Priority: 3, Payload: json.RawMessage(
				fmt.Sprintf(`{"policy":"eng","path":%q,"dry_run":%v}`, filepath.Dir(f.file), tc.dryRun))}, &recProgress{})
			kids := children(t, err)
			if len(kids) != 2 {
				t.Fatalf("%d children, want 2", len(kids))
			}
			for _, k := range kids {
				if k.Kind != tc.want || k.Priority != 3 || filePayload(t, k.Payload).DryRun != tc.dryRun {
					t.Errorf("child %s %s (priority %d); want kind %s, priority 3", k.Kind, k.Payload, k.Priority, tc.want)
				}
			}
		})
	}
}

// TestApprovedEncodeRunsInTranscodeJob: with require_approval the apply
// job stores the encoding plan as pending; the apply job of its approval
// hands the approved plan to a transcode job, which executes that plan
// (not a new one).
func TestApprovedEncodeRunsInTranscodeJob(t *testing.T) {
	ctx := context.Background()
	f, ex := transcodeFixture(t, applyjob.Settings{RequireApproval: true})
	_, res, err := f.runKind(t, store.NewJob{Kind: applyjob.Kind,
		Payload: json.RawMessage(fmt.Sprintf(`{"policy":"eng","path":%q}`, f.file))}, &recProgress{})
	if err != nil {
		t.Fatal(err)
	}
	r := outcome(t, res)
	if r.Outcome != applyjob.OutcomePendingApproval || len(ex.reqs) != 0 {
		t.Fatalf("result %+v; want pending approval", r)
	}
	approve, _ := json.Marshal(applyjob.Payload{PlanID: r.PlanID, Policy: "eng", Path: f.file})
	if _, _, err := f.st.ApprovePlan(ctx, r.PlanID, store.NewJob{Kind: applyjob.Kind, Payload: approve, MaxAttempts: 2}, time.Now()); err != nil {
		t.Fatal(err)
	}
	j, ok, err := f.st.ClaimJob(ctx, "w", []string{applyjob.Kind}, time.Minute, time.Now())
	if !ok || err != nil {
		t.Fatalf("claim approval job: %v, %v", ok, err)
	}
	_, err = f.h.Run(ctx, j, &recProgress{})
	kids := children(t, err)
	if len(kids) != 1 || kids[0].Kind != applyjob.TranscodeKind || kids[0].MaxAttempts != 2 || filePayload(t, kids[0].Payload).PlanID != r.PlanID {
		t.Fatalf("children %+v; want one transcode job of plan %d", kids, r.PlanID)
	}
	if len(ex.reqs) != 0 {
		t.Fatalf("the apply job executed the encode")
	}
	if err := f.st.AwaitChildren(ctx, j.Lease(), kids, nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	child, ok, err := f.st.ClaimJob(ctx, "w", []string{applyjob.TranscodeKind}, time.Minute, time.Now())
	if !ok || err != nil {
		t.Fatalf("claim transcode child: %v, %v", ok, err)
	}
	res, err = f.h.Run(ctx, child, &recProgress{})
	if err != nil {
		t.Fatal(err)
	}
	if got := outcome(t, res); got.Outcome != applyjob.OutcomeApplied || got.PlanID != r.PlanID || got.Encoder != "libx265" || len(ex.reqs) != 1 {
		t.Fatalf("transcode result %+v after %d applies; want plan %d applied with libx265", got, len(ex.reqs), r.PlanID)
	}
	if p, err := f.st.GetPlan(ctx, r.PlanID); err != nil || p.Status != store.PlanApplied {
		t.Errorf("plan = %s, %v; want applied", p.Status, err)
	}
}

// TestTranscodeRetryIsTranscode: a transcode job that finds its file busy
// is tried again later by a transcode job, so the retry counts against
// the transcode limit too.
func TestTranscodeRetryIsTranscode(t *testing.T) {
	ctx := context.Background()
	f, ex := transcodeFixture(t, applyjob.Settings{})
	ex.err = fmt.Errorf("x: %w", apply.ErrBusy)
	_, res, err := f.runKind(t, store.NewJob{Kind: applyjob.TranscodeKind,
		Payload: json.RawMessage(fmt.Sprintf(`{"policy":"eng","path":%q}`, f.file))}, &recProgress{})
	if err != nil {
		t.Fatal(err)
	}
	r := outcome(t, res)
	retry, err := f.st.GetJob(ctx, r.RetryJobID)
	if err != nil || retry.Kind != applyjob.TranscodeKind {
		t.Fatalf("retry job %+v, %v; want a transcode job", retry, err)
	}
}

// TestSkipIfNoteInResult: a file whose transcode the policy's skip_if
// skips is left unchanged, and the plan's note saying so is in the
// result.
func TestSkipIfNoteInResult(t *testing.T) {
	f, ex := transcodeFixture(t, applyjob.Settings{})
	note := `phase "shrink": transcode.video.skip_if.codec_matches: the video is already h264`
	applyjob.SetPlanner(f.h, func(*policy.Policy, media.File) (policy.Plan, error) {
		return policy.Plan{Policy: "eng", Notes: []string{note}}, nil
	}, nil)
	_, res, err := f.runKind(t, store.NewJob{Kind: applyjob.Kind,
		Payload: json.RawMessage(fmt.Sprintf(`{"policy":"eng","path":%q}`, f.file))}, &recProgress{})
	if err != nil {
		t.Fatal(err)
	}
	if r := outcome(t, res); r.Outcome != applyjob.OutcomeUnchanged || len(r.Notes) != 1 || r.Notes[0] != note || len(ex.reqs) != 0 {
		t.Errorf("result %+v; want unchanged with the skip_if note", r)
	}
}

// TestTranscodeChildRequiresPhaseTags: the transcode job an apply hands a
// file to requires the worker tags the policy's phases require, so that
// only a node with them (a GPU node) encodes; without requires it runs
// anywhere.
func TestTranscodeChildRequiresPhaseTags(t *testing.T) {
	f, _ := transcodeFixture(t, applyjob.Settings{})
	gpu := keepEng + "    requires: [gpu]\n"
	if err := os.WriteFile(filepath.Join(f.h.Settings().Dir, "gpu.yaml"), []byte(gpu), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ policy, want string }{{"gpu", "[gpu]"}, {"eng", "[]"}} {
		_, _, err := f.runKind(t, store.NewJob{Kind: applyjob.Kind,
			Payload: json.RawMessage(fmt.Sprintf(`{"policy":%q,"path":%q}`, tc.policy, f.file))}, &recProgress{})
		kids := children(t, err)
		if got := fmt.Sprint(kids[0].Requires); len(kids) != 1 || got != tc.want {
			t.Errorf("policy %s: transcode child requires %s, want %s", tc.policy, got, tc.want)
		}
	}
}

// TestDirectoryTranscodeChildrenRequirePhaseTags: the transcode children
// of a directory apply require the policy's tags, as the hand-off of one
// file does.
func TestDirectoryTranscodeChildrenRequirePhaseTags(t *testing.T) {
	f, _ := transcodeFixture(t, applyjob.Settings{})
	if err := os.WriteFile(filepath.Join(f.h.Settings().Dir, "gpu.yaml"), []byte(keepEng+"    requires: [gpu]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	applyjob.SetPlanner(f.h, nil, func(*policy.Policy) bool { return true })
	_, _, err := f.runKind(t, store.NewJob{Kind: applyjob.Kind, Payload: json.RawMessage(
		fmt.Sprintf(`{"policy":"gpu","path":%q}`, filepath.Dir(f.file)))}, &recProgress{})
	for _, k := range children(t, err) {
		if k.Kind != applyjob.TranscodeKind || fmt.Sprint(k.Requires) != "[gpu]" {
			t.Errorf("child %s requires %v, want a transcode job requiring [gpu]", k.Kind, k.Requires)
		}
	}
}
