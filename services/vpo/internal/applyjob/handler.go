package applyjob

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/vpo-project/vpo/libs/jobs"
	"github.com/vpo-project/vpo/libs/media"
	"github.com/vpo-project/vpo/libs/policy"
	"github.com/vpo-project/vpo/libs/store"
	"github.com/vpo-project/vpo/services/vpo/internal/apply"
)

// Kind is the job kind name.
const Kind = "apply"

// TranscodeKind is the kind of the jobs that carry out plans re-encoding a
// track. It takes the same payload as an apply job and is run by the same
// Handler; only a transcode job executes a plan that encodes: an apply job
// of one file whose plan encodes hands the file to one transcode child and
// waits for it, and a directory apply of a policy with a transcode block
// makes transcode children. So jobs.limits can cap the encodes while
// applies and scans use the other workers.
const TranscodeKind = "transcode"

// The outcomes of one file (Result.Outcome); a directory job's result
// counts its files by them.
const (
	OutcomeUnchanged       = "unchanged"        // the file already complies
	OutcomeApplied         = "applied"          // the plan was carried out
	OutcomePlanned         = "planned"          // dry run: the plan is stored, nothing changed
	OutcomePendingApproval = "pending_approval" // the plan waits for approval
	OutcomeSkipped         = "skipped"          // left alone for now (still changing, busy) or by the policy
)

// DefaultRetryDelay is how long a file another apply is busy with waits
// before it is tried again.
const DefaultRetryDelay = 30 * time.Second

// Store is the part of the library database an apply reads and writes.
type Store interface {
	GetFile(ctx context.Context, path string) (store.File, error)
	UpsertFile(ctx context.Context, f store.File) error
	CreatePlan(ctx context.Context, p store.Plan, now time.Time) (store.Plan, error)
	CreatePlans(ctx context.Context, plans []store.Plan, now time.Time) error
	FilesByPath(ctx context.Context, paths []string) (map[string]store.File, error)
	GetPlan(ctx context.Context, id int64) (store.Plan, error)
	ListPlans(ctx context.Context, f store.PlanFilter) ([]store.Plan, string, error)
	SetPlanStatus(ctx context.Context, id int64, from []string, status, errMsg string, now time.Time) (store.Plan, error)
	RecordApplied(ctx context.Context, c store.AppliedChange, now time.Time) error
	MarkApplied(ctx context.Context, path, policy string, size int64, mtime, at time.Time) error
	CreateJob(ctx context.Context, nj store.NewJob) (store.Job, error)
	FailFamily(ctx context.Context, parentID, child, msg string, now time.Time) error
}

// Executor probes files and carries out plans (*apply.Executor).
type Executor interface {
	Apply(ctx context.Context, req apply.Request) (apply.Result, error)
	Probe(ctx context.Context, path string, opts media.Options) (media.File, []byte, error)
}

// Settings are the policies.* configuration keys; SetSettings changes
// them while vpo runs (SIGHUP).
type Settings struct {
	Dir             string
	KeepOriginal    bool
	MinFileAge      time.Duration
	RequireApproval bool
}

// Result is what an apply job of one file stores as its result.
type Result struct {
	Outcome string `json:"outcome"`
	Path    string `json:"path"`
	Policy  string `json:"policy,omitempty"`
	PlanID  int64  `json:"plan_id,omitempty"`
	// Executor is the tool that changed the file ("" when none ran).
	Executor string `json:"executor,omitempty"`
	// NewPath is the file's path after a change of container.
	NewPath string `json:"new_path,omitempty"`
	// Reason says why a file was skipped or planned again.
	Reason string `json:"reason,omitempty"`
	// RetryJobID is the job that tries a skipped file again.
	RetryJobID string `json:"retry_job_id,omitempty"`
	// Encoder is the video encoder a transcode used ("libx265"), HW its
	// hardware method ("none" for software); both empty when nothing was
	// re-encoded.
	Encoder string `json:"encoder,omitempty"`
	HW      string `json:"hw,omitempty"`
	// Notes are the plan's notes: what the policy asked for but left
	// undone for this file and why (a transcode skipped by its skip_if).
	Notes []string `json:"notes,omitempty"`
	// BytesWritten is the size of the new file a remux or transcode
	// wrote (0 for an edit in place, which rewrites headers only).
	BytesWritten int64 `json:"bytes_written,omitempty"`
}

// MarshalJSON writes "path" and "new_path" by the files API's rule: a
// path store.EscapePath escapes is written escaped, with its exact bytes
// in "path_b64" (or "new_path_b64").
func (r Result) MarshalJSON() ([]byte, error) {
	type plain Result
	j := struct {
		plain
		PathB64    string `json:"path_b64,omitempty"`
		NewPathB64 string `json:"new_path_b64,omitempty"`
	}{plain: plain(r), PathB64: store.PathB64(r.Path), NewPathB64: store.PathB64(r.NewPath)}
	j.Path, _ = store.EscapePath(r.Path)
	j.NewPath, _ = store.EscapePath(r.NewPath)
	return json.Marshal(j)
}

// Counts is the result of a directory job without video files (one with
// files gets the same shape from its children, see store.AwaitChildren).
type Counts struct {
	Files           int `json:"files"`
	Unchanged       int `json:"unchanged"`
	Applied         int `json:"applied"`
	Planned         int `json:"planned"`
	PendingApproval int `json:"pending_approval"`
	Skipped         int `json:"skipped"`
	Failed          int `json:"failed"`
}

// Handler is the apply job handler.
type Handler struct {
	st         Store
	exec       Executor
	log        *logrus.Entry
	settings   atomic.Pointer[Settings]
	now        func() time.Time
	retryDelay time.Duration
	// plan is policy.Policy.Plan; transcodes is
	// policy.Policy.HasTranscode (tests put others in).
	plan       func(pol *policy.Policy, src media.File) (policy.Plan, error)
	transcodes func(pol *policy.Policy) bool
	written    atomic.Pointer[func(kind string, n int64)]
}

// OnWritten sets fn to be told, after each file a job of kind rewrote,
// how many bytes its new file has (metrics).
func (h *Handler) OnWritten(fn func(kind string, n int64)) { h.written.Store(&fn) }

// New returns the handler.
func New(st Store, exec Executor, s Settings, log *logrus.Entry) *Handler {
	h := &Handler{st: st, exec: exec, log: log, now: time.Now, retryDelay: DefaultRetryDelay,
		plan: (*policy.Policy).Plan, transcodes: (*policy.Policy).HasTranscode}
	h.SetSettings(s)
	return h
}

// SetSettings puts new policies.* settings into effect for the jobs that
// start from now on.
func (h *Handler) SetSettings(s Settings) { h.settings.Store(&s) }

// Settings returns the policies.* settings in effect.
func (h *Handler) Settings() Settings { return *h.settings.Load() }

// Validate checks a payload at submission time (see ValidatePayload).
func (h *Handler) Validate(payload json.RawMessage) error {
	_, err := ValidatePayload(payload)
	return err
}

// Run implements jobs.Handler. The policy is read from the policies
// directory when the job starts, so an edited file is picked up; one that
// does not parse, or uses a feature vpo does not run, fails the job with
// its file, line and feature.
func (h *Handler) Run(ctx context.Context, job store.Job, progress jobs.Progress) (json.RawMessage, error) {
	p, err := ParsePayload(job.Payload)
	if err != nil {
		return nil, jobs.Final(err)
	}
	cfg := *h.settings.Load()
	log := h.log.WithFields(logrus.Fields{"job_id": job.ID, "file_path": p.Path})
	var (
		res Result
		pol *policy.Policy
	)
	if p.PlanID > 0 {
		res, pol, err = h.runApproved(ctx, job, cfg, p.PlanID, progress)
	} else {
		pol, err = loadPolicy(cfg.Dir, p.Policy)
		if err != nil {
			return nil, err
		}
		var fi os.FileInfo
		fi, err = os.Stat(p.Path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			err = jobs.Final(fmt.Errorf("apply %s: %w", p.Path, err))
		case err != nil:
			err = fmt.Errorf("apply %s: %w", p.Path, err)
		case fi.IsDir():
			return h.expand(ctx, job, pol, p, progress, log)
		default:
			res, err = h.applyFile(ctx, job, cfg, pol, p.Path, p.DryRun, progress)
		}
	}
	if kids := (*jobs.Children)(nil); errors.As(err, &kids) {
		log.WithField("child_kind", TranscodeKind).Info("the plan re-encodes: handed to a transcode job")
		return nil, err
	}
	if err != nil {
		h.fileFailed(ctx, job, pol, err, log)
		return nil, err
	}
	progress.Report(100, res.Outcome)
	log.WithFields(logrus.Fields{"outcome": res.Outcome, "executor": res.Executor, "plan_id": res.PlanID, "kind": job.Kind}).Info("apply finished")
	return json.Marshal(res)
}

// loadPolicy reads the named policy of dir and refuses one vpo cannot
// run. Only a name is looked up in dir, never a path: a job queued with
// another value fails at once.
func loadPolicy(dir, name string) (*policy.Policy, error) {
	if err := policy.CheckName(name); err != nil {
		return nil, jobs.Final(fmt.Errorf("policy %w", err))
	}
	pol, err := policy.FindName(dir, name)
	if errors.Is(err, policy.ErrNotFound) {
		return nil, jobs.Final(fmt.Errorf("policy %q not found in %s: %w", name, dir, err))
	}
	if errors.Is(err, policy.ErrAmbiguous) {
		return nil, jobs.Final(err)
	}
	if len(policy.Problems(err)) > 0 {
		return nil, jobs.Final(fmt.Errorf("policy %q: %w", name, err))
	}
	if err != nil {
		return nil, fmt.Errorf("policy %q: %w", name, err)
	}
	if err := pol.Check(); err != nil {
		return nil, jobs.Final(fmt.Errorf("policy %q cannot be applied: %w", name, err))
	}
	return pol, nil
}

// fileFailed lets a child of a directory job whose policy says on_error:
// fail stop its siblings and fail its parent, once it has no attempt left.
func (h *Handler) fileFailed(ctx context.Context, job store.Job, pol *policy.Policy, err error, log *logrus.Entry) {
	last := job.Attempts >= job.MaxAttempts || errors.As(err, new(*jobs.FinalError))
	if job.ParentID == "" || pol == nil || pol.Config.OnError != policy.OnErrorFail || !last || ctx.Err() != nil {
		return
	}
	p, _ := ParsePayload(job.Payload)
	msg := fmt.Sprintf("%s failed and policy %s says on_error: fail: %v", p.Path, pol.Name, err)
	if ferr := h.st.FailFamily(context.WithoutCancel(ctx), job.ParentID, job.ID, msg, h.now()); ferr != nil {
		log.WithError(ferr).Error("stop the other files of the directory job")
	}
}

// applyFile plans one file and, unless this is a dry run or the plan needs
// approval, carries the plan out. Planning without changing the file uses
// the probe a scan stored when it still stands for the file; an apply that
// changes the file probes it first.
func (h *Handler) applyFile(ctx context.Context, job store.Job, cfg Settings, pol *policy.Policy, path string, dryRun bool,
	progress jobs.Progress) (Result, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Result{}, jobs.Final(fmt.Errorf("apply %s: %w", path, err))
	}
	if err != nil {
		return Result{}, fmt.Errorf("apply %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return Result{}, jobs.Final(fmt.Errorf("apply %s: not a regular file", path))
	}
	res := Result{Path: path, Policy: pol.Name}
	if age := h.now().Sub(fi.ModTime()); !dryRun && cfg.MinFileAge > 0 && age < cfg.MinFileAge {
		return h.later(ctx, job, res, "still changing (modified "+age.Round(time.Second).String()+" ago)", cfg.MinFileAge-age+time.Second)
	}
	// A stored probe only plans what does not change the file; a change
	// is planned from a probe of the file as it is now.
	var src media.File
	if dryRun || cfg.RequireApproval {
		src, err = h.source(ctx, pol, path, fi)
	} else {
		progress.Report(0, "probing")
		src, err = h.probe(ctx, pol, path, fi)
	}
	if err != nil {
		return Result{}, err
	}
	return h.planFile(ctx, job, cfg, pol, path, fi, src, dryRun, progress)
}

// planFile plans the file at path (in state fi) from src and, unless this
// is a dry run or the plan needs approval, carries the plan out.
func (h *Handler) planFile(ctx context.Context, job store.Job, cfg Settings, pol *policy.Policy, path string, fi os.FileInfo,
	src media.File, dryRun bool, progress jobs.Progress) (Result, error) {
	res := Result{Path: path, Policy: pol.Name}
	plan, err := h.plan(pol, src)
	if err != nil {
		return Result{}, jobs.Final(fmt.Errorf("plan %s with policy %s: %w", path, pol.Name, err))
	}
	planJSON, err := json.Marshal(plan)
	if err != nil {
		return Result{}, fmt.Errorf("plan %s: %w", path, err)
	}
	row := store.Plan{JobID: job.ID, Policy: pol.Name, Path: path, Plan: planJSON, FileSize: fi.Size(), FileMTime: fi.ModTime().UTC()}
	res.Notes = plan.Notes
	if !dryRun {
		// Whatever this attempt plans (nothing to do, a plan to approve, a
		// hand-off), an approved plan an interrupted attempt left stays
		// approved no longer.
		if err := h.supersedeInterrupted(ctx, job, path); err != nil {
			return Result{}, err
		}
	}
	switch {
	case dryRun:
		row.Status, row.DryRun, res.Outcome = store.PlanPlanned, true, OutcomePlanned
		if plan.Empty() {
			res.Outcome = OutcomeUnchanged
		}
	case plan.Empty():
		res.Outcome, res.Reason = OutcomeUnchanged, plan.Skipped
		if plan.Skipped != "" {
			res.Outcome = OutcomeSkipped
		}
		// Nothing to do (or the policy skips the file) is a success too:
		// the file is not queued for this policy again until it changes.
		if err := h.st.MarkApplied(ctx, path, pol.Name, fi.Size(), fi.ModTime(), h.now()); err != nil {
			return Result{}, err
		}
		return res, nil
	case cfg.RequireApproval:
		row.Status, res.Outcome = store.PlanPending, OutcomePendingApproval
	case plan.Encodes() && job.Kind != TranscodeKind:
		// Planned again, from a fresh probe, by the transcode job.
		return Result{}, h.handOff(ctx, job, Payload{Policy: pol.Name, Path: path, Deferrals: deferralsOf(job)}, pol.Requires(), progress)
	default:
		row.Status = store.PlanApproved
	}
	row, err = h.st.CreatePlan(ctx, row, h.now())
	if err != nil {
		return Result{}, err
	}
	res.PlanID = row.ID
	if row.Status != store.PlanApproved {
		return res, nil
	}
	res, err = h.execute(ctx, job, cfg, pol, row, src, plan, progress)
	res.Notes = plan.Notes
	return res, err
}

// handOff ends an apply job whose plan re-encodes by handing the file to
// one transcode job with payload p (same priority and attempts, requiring
// the worker tags the policy's phases require), which the apply job waits
// for.
func (h *Handler) handOff(ctx context.Context, job store.Job, p Payload, requires []string, progress jobs.Progress) error {
	payload, err := json.Marshal(p)
	if err != nil {
		return err
	}
	progress.Report(0, "the plan re-encodes: handed to a transcode job")
	return &jobs.Children{Jobs: []store.NewJob{{Kind: TranscodeKind, Payload: payload, Priority: job.Priority,
		MaxAttempts: job.MaxAttempts, Requires: requires}}}
}

// supersedeInterrupted closes the approved plans an earlier attempt of job
// left for path (vpo stopped during the apply, or the attempt was
// abandoned at shutdown and could not record its end; the executor's
// recovery put the file back): this attempt plans the file again.
func (h *Handler) supersedeInterrupted(ctx context.Context, job store.Job, path string) error {
	old, _, err := h.st.ListPlans(ctx, store.PlanFilter{Path: path, JobID: job.ID, Status: store.PlanApproved})
	if err != nil {
		return err
	}
	for _, p := range old {
		if _, err := h.st.SetPlanStatus(ctx, p.ID, []string{store.PlanApproved}, store.PlanSuperseded,
			"an earlier attempt of job "+job.ID+" was interrupted; planned again", h.now()); err != nil {
			return err
		}
	}
	return nil
}

// runApproved carries out an approved plan, unless its file changed since
// the plan was made: the plan is then superseded and the file planned
// again under the current configuration (pending again when approval is
// required).
func (h *Handler) runApproved(ctx context.Context, job store.Job, cfg Settings, id int64, progress jobs.Progress) (Result, *policy.Policy, error) {
	row, err := h.st.GetPlan(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return Result{}, nil, jobs.Final(err)
	}
	if err != nil {
		return Result{}, nil, err
	}
	res := Result{Path: row.Path, Policy: row.Policy, PlanID: row.ID}
	if row.Status != store.PlanApproved {
		res.Outcome, res.Reason = OutcomeSkipped, fmt.Sprintf("plan %d is %s, not approved", row.ID, row.Status)
		return res, nil, nil
	}
	pol, err := loadPolicy(cfg.Dir, row.Policy)
	if err != nil {
		h.planFailed(ctx, row, err)
		return Result{}, nil, err
	}
	fi, err := os.Stat(row.Path)
	if err != nil {
		err = fmt.Errorf("apply plan %d to %s: %w", row.ID, row.Path, err)
		h.planFailed(ctx, row, err)
		return Result{}, pol, err
	}
	if fi.Size() != row.FileSize || !fi.ModTime().Equal(row.FileMTime) {
		why := fmt.Sprintf("file changed since plan %d was made (size %d → %d, mtime %s → %s): planned again",
			row.ID, row.FileSize, fi.Size(), row.FileMTime.Format(time.RFC3339Nano), fi.ModTime().UTC().Format(time.RFC3339Nano))
		if _, err := h.st.SetPlanStatus(ctx, row.ID, []string{store.PlanApproved}, store.PlanSuperseded, why, h.now()); err != nil {
			return Result{}, pol, err
		}
		res, err := h.applyFile(ctx, job, cfg, pol, row.Path, false, progress)
		if res.Reason == "" {
			res.Reason = why
		}
		return res, pol, err
	}
	var plan policy.Plan
	if err := json.Unmarshal(row.Plan, &plan); err != nil {
		err = fmt.Errorf("plan %d: stored plan: %w", row.ID, err)
		h.planFailed(ctx, row, err)
		return Result{}, pol, jobs.Final(err)
	}
	// The same size and mtime do not prove the same content (a file
	// patched in place, or replaced by one of the same size and mtime):
	// the file is probed and planned again, and the approved plan runs
	// only when it still makes the same file.
	progress.Report(0, "probing")
	src, err := h.probe(ctx, pol, row.Path, fi)
	if err != nil {
		h.planFailed(ctx, row, err)
		return Result{}, pol, err
	}
	again, err := h.plan(pol, src)
	if err != nil || !sameTarget(again.Target, plan.Target) {
		why := fmt.Sprintf("the file's content is not what plan %d was made from (same size and mtime, but its probe now plans a different result): planned again", row.ID)
		if err != nil {
			why = fmt.Sprintf("the file's content is not what plan %d was made from (it no longer plans: %v)", row.ID, err)
		}
		if _, serr := h.st.SetPlanStatus(ctx, row.ID, []string{store.PlanApproved}, store.PlanSuperseded, why, h.now()); serr != nil {
			return Result{}, pol, serr
		}
		res, err := h.planFile(ctx, job, cfg, pol, row.Path, fi, src, false, progress)
		if res.Reason == "" {
			res.Reason = why
		}
		return res, pol, err
	}
	if plan.Encodes() && job.Kind != TranscodeKind {
		// The approved plan itself runs in the transcode job.
		return Result{}, pol, h.handOff(ctx, job, Payload{PlanID: row.ID, Policy: row.Policy, Path: row.Path}, pol.Requires(), progress)
	}
	res, err = h.execute(ctx, job, cfg, pol, row, src, plan, progress)
	res.Notes = plan.Notes
	return res, pol, err
}

// sameTarget tells whether two plans make the same file. The targets are
// compared as stored (JSON): a track's Encode is a pointer, equal in
// content but not in address between a stored plan and a fresh one.
func sameTarget(a, b policy.Target) bool {
	ja, erra := json.Marshal(a)
	jb, errb := json.Marshal(b)
	return erra == nil && errb == nil && bytes.Equal(ja, jb)
}

func (h *Handler) planFailed(ctx context.Context, row store.Plan, cause error) {
	if _, err := h.st.SetPlanStatus(context.WithoutCancel(ctx), row.ID, []string{store.PlanApproved}, store.PlanFailed,
		cause.Error(), h.now()); err != nil {
		h.log.WithError(err).WithField("plan_id", row.ID).Error("record failed plan")
	}
}

// execute carries out the approved plan row and records the outcome: the
// file's row, the plan's status, the file's history and that the policy
// was applied to the file as it is now (see store.MarkApplied).
func (h *Handler) execute(ctx context.Context, job store.Job, cfg Settings, pol *policy.Policy, row store.Plan, src media.File,
	plan policy.Plan, progress jobs.Progress) (Result, error) {
	keep := cfg.KeepOriginal
	if pol.Config.KeepOriginal != nil {
		keep = *pol.Config.KeepOriginal
	}
	res := Result{Path: row.Path, Policy: pol.Name, PlanID: row.ID}
	// The tool's own reports follow while it advances; a tool that stops
	// advancing stops them, which is what stall detection watches.
	phase := "applying"
	if plan.Encodes() {
		phase = "encoding"
	}
	progress.Report(0, phase)
	out, err := h.exec.Apply(ctx, apply.Request{
		Path: row.Path, Source: src, SourceSize: row.FileSize, SourceMTime: row.FileMTime, Plan: plan,
		KeepOriginal: keep, MinFileAge: cfg.MinFileAge,
		Progress: func(percent float64, message string, eta time.Duration) {
			progress.ReportETA(percent, message, eta)
		},
	})
	if err != nil {
		var delay time.Duration
		switch {
		case ctx.Err() != nil:
			h.planFailed(ctx, row, fmt.Errorf("apply interrupted: %w", context.Cause(ctx)))
			return Result{}, err
		case errors.Is(err, apply.ErrStillChanging):
			delay = max(cfg.MinFileAge, time.Second)
		case errors.Is(err, apply.ErrBusy), errors.Is(err, apply.ErrChanged):
			delay = h.retryDelay
		case errors.Is(err, apply.ErrVerify), errors.Is(err, apply.ErrPermanent):
			// The same tools would make the same result again; a
			// read-only file, a symbolic link, a taken name stay so.
			h.planFailed(ctx, row, err)
			return Result{}, jobs.Final(err)
		default:
			h.planFailed(ctx, row, err)
			return Result{}, err
		}
		// Tried again later: by the same approved plan, or planned again.
		// A transcode job an approved plan was handed to (its parent is
		// the apply job of the plan) keeps the plan too.
		if (job.ParentID == "" || job.Kind == TranscodeKind) && planIDOf(job) == row.ID {
			return h.later(ctx, job, res, err.Error(), delay)
		}
		if _, serr := h.st.SetPlanStatus(ctx, row.ID, []string{store.PlanApproved}, store.PlanSuperseded,
			"not applied, planned again later: "+err.Error(), h.now()); serr != nil {
			return Result{}, serr
		}
		res.PlanID = 0
		return h.later(ctx, job, res, err.Error(), delay)
	}
	progress.Report(100, "recording the result")
	now := h.now()
	after := fileRow(out.Path, out.Size, out.MTime, out.After, out.AfterProbe, now)
	before, _ := json.Marshal(Tracks(src))
	afterTracks, _ := json.Marshal(Tracks(out.After))
	change := store.AppliedChange{PlanID: row.ID, OldPath: row.Path, File: after, Policy: pol.Name}
	if out.Executor != apply.ExecutorNone {
		change.History = store.HistoryEntry{Policy: pol.Name, JobID: job.ID, Executor: out.Executor, Plan: row.Plan,
			TracksBefore: before, TracksAfter: afterTracks}
	}
	if err := h.st.RecordApplied(context.WithoutCancel(ctx), change, now); err != nil {
		return Result{}, fmt.Errorf("%s was changed, but recording it failed: %w", row.Path, err)
	}
	res.Outcome, res.Executor, res.Encoder, res.HW = OutcomeApplied, out.Executor, out.Encoder, out.HW
	if out.Executor == apply.ExecutorNone {
		res.Outcome, res.Executor = OutcomeUnchanged, ""
	}
	if out.Executor != apply.ExecutorNone && out.Executor != apply.ExecutorMkvPropEdit {
		res.BytesWritten = out.Size
		if fn := h.written.Load(); fn != nil {
			(*fn)(job.Kind, out.Size)
		}
	}
	if out.Path != row.Path {
		res.NewPath = out.Path
	}
	return res, nil
}

// planIDOf returns the plan_id of job's payload (0 when none).
func planIDOf(job store.Job) int64 {
	var p Payload
	_ = json.Unmarshal(job.Payload, &p)
	return p.PlanID
}

// deferralsOf returns the deferrals of job's payload (0 when none).
func deferralsOf(job store.Job) int {
	var p Payload
	_ = json.Unmarshal(job.Payload, &p)
	return p.Deferrals
}

// ownKind is the kind of the jobs that do job's work again: a transcode
// job's retry is a transcode job, any other an apply job.
func ownKind(job store.Job) string {
	if job.Kind == TranscodeKind {
		return TranscodeKind
	}
	return Kind
}

// MaxDeferrals bounds how many times one file is skipped for now and tried
// again later (still changing, busy, changed under the tool): a file that
// never settles is then left alone until a new apply (or rescan) asks.
const MaxDeferrals = 20

// later skips the file for now: a new top-level apply job of the same
// payload (this file only) runs once delay has passed, at most
// MaxDeferrals times in a row.
func (h *Handler) later(ctx context.Context, job store.Job, res Result, reason string, delay time.Duration) (Result, error) {
	p, err := ParsePayload(job.Payload)
	if err != nil {
		return Result{}, err
	}
	res.Outcome = OutcomeSkipped
	if p.Deferrals >= MaxDeferrals {
		res.Reason = fmt.Sprintf("%s; not tried again: skipped %d times in a row (apply it again once it has settled)", reason, p.Deferrals+1)
		return res, nil
	}
	if p.PlanID == 0 {
		p = Payload{Policy: p.Policy, Path: res.Path, DryRun: p.DryRun, Deferrals: p.Deferrals}
	}
	p.Deferrals++
	payload, err := json.Marshal(p)
	if err != nil {
		return Result{}, err
	}
	at := h.now().Add(delay)
	retry, err := h.st.CreateJob(ctx, store.NewJob{Kind: ownKind(job), Payload: payload, Priority: job.Priority,
		MaxAttempts: job.MaxAttempts, RunAfter: at, Requires: job.Requires})
	if err != nil {
		return Result{}, fmt.Errorf("skip %s for now: %w", res.Path, err)
	}
	res.RetryJobID = retry.ID
	res.Reason = fmt.Sprintf("%s; tried again after %s by job %s", reason, at.UTC().Format(time.RFC3339), retry.ID)
	return res, nil
}
