package app

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/alecthomas/kingpin/v2"

	"github.com/vpo-project/vpo/libs/store"
)

// applyPollInterval is how often `vpo policy apply --wait` asks for the
// job's state.
const applyPollInterval = 500 * time.Millisecond

func addPolicyApply(pc *kingpin.CmdClause, env Env, cmds map[string]commandFunc) {
	cmd := pc.Command("apply", "Submit an apply job to the daemon: apply policy NAME to the video file or directory PATH. "+
		"Prints the job id; with --wait, follows the job and exits 1 if any file failed or the job failed or was cancelled. "+
		"A file whose plan re-encodes is handed to a transcode child job, which --wait names and follows.")
	cf := addClientFlags(cmd)
	name := cmd.Arg("policy", "Policy NAME (in the daemon's [policies] dir).").Required().String()
	path := cmd.Arg("path", "A video file, or a directory of them (made absolute here).").Required().String()
	dryRun := cmd.Flag("dry-run", "Compute and store the plans, change nothing.").Bool()
	recursive := cmd.Flag("recursive", "Apply to the files in subdirectories too (--no-recursive: only those directly in PATH).").
		Default("true").Bool()
	wait := cmd.Flag("wait", "Follow the job until it ends, printing its counts as they change.").Bool()
	cmds[cmd.FullCommand()] = func(ctx context.Context) error {
		c, err := cf.client(env)
		if err != nil {
			return err
		}
		abs, err := filepath.Abs(*path)
		if err != nil {
			return withCode(ExitUsage, fmt.Errorf("path %q: %w", *path, err))
		}
		body := map[string]any{"kind": "apply", "payload": newApplyPayload(*name, abs, *recursive, *dryRun)}
		var job store.Job
		if err := c.do(ctx, "POST", "/api/jobs", body, &job); err != nil {
			return err
		}
		if cf.json && !*wait {
			return printJobs(env.Stdout, true, job)
		}
		if !cf.json {
			shown, _ := store.EscapePath(abs)
			fmt.Fprintf(env.Stdout, "apply job %s queued (policy %s, %s%s)\n", job.ID, *name, shown, dryRunNote(*dryRun))
		}
		if !*wait {
			return nil
		}
		w := &applyWaiter{c: c, out: env.Stdout, interval: applyPollInterval, json: cf.json}
		return w.wait(ctx, job.ID)
	}
}

func dryRunNote(dry bool) string {
	if dry {
		return ", dry run"
	}
	return ""
}

// applyPayload is the payload of an apply job. A path that is not valid
// UTF-8 goes as "path_b64" (its bytes in standard base64): JSON would
// replace those bytes.
type applyPayload struct {
	Policy    string `json:"policy"`
	Path      string `json:"path,omitempty"`
	PathB64   string `json:"path_b64,omitempty"`
	Recursive bool   `json:"recursive"`
	DryRun    bool   `json:"dry_run"`
}

// newApplyPayload returns the payload applying policy to path.
func newApplyPayload(policy, path string, recursive, dryRun bool) applyPayload {
	p := applyPayload{Policy: policy, Path: path, Recursive: recursive, DryRun: dryRun}
	if !utf8.ValidString(path) {
		p.Path, p.PathB64 = "", base64.StdEncoding.EncodeToString([]byte(path))
	}
	return p
}

// shownPath is the path of p as the API shows it (escaped when it is not
// UTF-8 or holds a backslash).
func (p applyPayload) shownPath() string {
	if p.PathB64 == "" {
		return p.Path
	}
	b, err := base64.StdEncoding.DecodeString(p.PathB64)
	if err != nil {
		return p.PathB64
	}
	s, _ := store.EscapePath(string(b))
	return s
}

// applyCounts is the result of an apply job for a directory (and what the
// CLI reads of any apply job's result).
type applyCounts struct {
	Files           int `json:"files"`
	Unchanged       int `json:"unchanged"`
	Applied         int `json:"applied"`
	Planned         int `json:"planned"`
	PendingApproval int `json:"pending_approval"`
	Skipped         int `json:"skipped"`
	Failed          int `json:"failed"`
}

func (a applyCounts) String() string {
	parts := []string{plural(a.Files, "file")}
	for _, p := range []struct {
		n    int
		name string
	}{
		{a.Applied, "applied"}, {a.Unchanged, "unchanged"}, {a.Planned, "planned"},
		{a.PendingApproval, "pending approval"}, {a.Skipped, "skipped"}, {a.Failed, "failed"},
	} {
		if p.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", p.n, p.name))
		}
	}
	return strings.Join(parts, ", ")
}

// applyWaiter follows one apply job.
type applyWaiter struct {
	c        *apiClient
	out      io.Writer
	interval time.Duration
	json     bool
	// announced is set once the transcode children of the job were
	// looked up; follow is the one transcode job whose progress is shown
	// (a file whose plan re-encodes), "" when none.
	announced bool
	follow    string
}

// wait polls the job until it is terminal, printing a line whenever its
// status, counts or message change. It returns nil when the job completed
// with no failed file, else an ExitFailure error.
func (w *applyWaiter) wait(ctx context.Context, id string) error {
	last := ""
	for {
		var job store.Job
		if err := w.c.do(ctx, "GET", "/api/jobs/"+urlQuery(id), nil, &job); err != nil {
			return err
		}
		counts, hasCounts := jobCounts(job)
		line := job.Status
		if hasCounts {
			line += ": " + counts.String()
		} else if o := jobOutcome(job); o != "" {
			line += ": " + o
		}
		if job.AwaitingChildren && !w.announced && !w.json {
			w.announced = true
			w.follow = w.announceTranscodes(ctx, job.ID)
		}
		if child := w.followed(ctx); child != "" && !job.Terminal() {
			line += " (" + child + ")"
		} else if job.ProgressMessage != "" && !job.Terminal() {
			line += " (" + job.ProgressMessage + ")"
		}
		if line != last && !w.json {
			fmt.Fprintln(w.out, line)
			last = line
		}
		if job.Terminal() {
			return w.finish(ctx, job, counts)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(w.interval):
		}
	}
}

func (w *applyWaiter) finish(ctx context.Context, job store.Job, counts applyCounts) error {
	var failed []string
	if counts.Failed > 0 {
		failed = w.failedChildren(ctx, job.ID)
	}
	if w.json {
		if err := printJobs(w.out, true, job); err != nil {
			return err
		}
	} else {
		for _, f := range failed {
			fmt.Fprintf(w.out, "failed: %s\n", f)
		}
	}
	switch {
	case job.Status != store.StatusCompleted:
		msg := job.Error
		if msg == "" {
			msg = "no error message"
		}
		return withCode(ExitFailure, fmt.Errorf("apply job %s %s: %s", job.ID, job.Status, msg))
	case counts.Failed > 0:
		return withCode(ExitFailure, fmt.Errorf("apply job %s: %s failed", job.ID, plural(counts.Failed, "file")))
	}
	return nil
}

// announceTranscodes prints the transcode jobs the apply job handed files
// to (an apply job executes no re-encode itself): the job and its file
// when there is one, whose id it returns to follow; a pointer to `vpo jobs
// list` when there are more.
func (w *applyWaiter) announceTranscodes(ctx context.Context, id string) string {
	var out struct {
		Jobs []store.Job `json:"jobs"`
	}
	q := "/api/jobs?parent=" + urlQuery(id) + "&kind=transcode&limit=2"
	if err := w.c.do(ctx, "GET", q, nil, &out); err != nil || len(out.Jobs) == 0 {
		return ""
	}
	if len(out.Jobs) > 1 {
		fmt.Fprintln(w.out, "files that re-encode go to transcode child jobs (vpo jobs list --kind transcode)")
		return ""
	}
	var p applyPayload
	_ = json.Unmarshal(out.Jobs[0].Payload, &p)
	fmt.Fprintf(w.out, "re-encoding in transcode job %s (%s)\n", out.Jobs[0].ID, p.shownPath())
	return out.Jobs[0].ID
}

// followed describes the progress of the followed transcode job ("" when
// none, or when it cannot be read).
func (w *applyWaiter) followed(ctx context.Context) string {
	if w.follow == "" {
		return ""
	}
	var child store.Job
	if err := w.c.do(ctx, "GET", "/api/jobs/"+urlQuery(w.follow), nil, &child); err != nil {
		return ""
	}
	// The percent only: the encoder's message changes every second.
	s := "transcode " + child.Status
	if child.Status == store.StatusRunning {
		s += fmt.Sprintf(" %.0f%%", child.ProgressPercent)
	}
	return s
}

// failedChildren names the failed child jobs of a directory job (path:
// error), at most 100; an error asking for them is one line saying so.
func (w *applyWaiter) failedChildren(ctx context.Context, id string) []string {
	var out struct {
		Jobs []store.Job `json:"jobs"`
	}
	q := "/api/jobs?parent=" + urlQuery(id) + "&status=" + store.StatusFailed + "&limit=100"
	if err := w.c.do(ctx, "GET", q, nil, &out); err != nil {
		return []string{fmt.Sprintf("(cannot list the failed files: %v)", err)}
	}
	lines := make([]string, 0, len(out.Jobs))
	for _, j := range out.Jobs {
		var p applyPayload
		_ = json.Unmarshal(j.Payload, &p)
		shown := p.shownPath()
		if shown == "" {
			shown = "job " + j.ID
		}
		lines = append(lines, shown+": "+j.Error)
	}
	return lines
}

// jobCounts reads the counts of an apply job's result, if it has them.
func jobCounts(job store.Job) (applyCounts, bool) {
	if len(job.Result) == 0 {
		return applyCounts{}, false
	}
	var probe map[string]json.RawMessage
	if json.Unmarshal(job.Result, &probe) != nil {
		return applyCounts{}, false
	}
	if _, ok := probe["files"]; !ok {
		return applyCounts{}, false
	}
	var c applyCounts
	if json.Unmarshal(job.Result, &c) != nil {
		return applyCounts{}, false
	}
	return c, true
}

// jobOutcome describes the result of an apply job for one file: its
// outcome, the executor and the reason ("applied (mkvmerge)", "skipped:
// still changing"); "" when it has none.
func jobOutcome(job store.Job) string {
	var r struct {
		Outcome  string `json:"outcome"`
		Executor string `json:"executor"`
		NewPath  string `json:"new_path"`
		Reason   string `json:"reason"`
	}
	if len(job.Result) == 0 || json.Unmarshal(job.Result, &r) != nil || r.Outcome == "" {
		return ""
	}
	s := strings.ReplaceAll(r.Outcome, "_", " ")
	if r.Executor != "" && r.Executor != "none" {
		s += " (" + r.Executor + ")"
	}
	if r.NewPath != "" {
		s += ", now " + r.NewPath
	}
	if r.Reason != "" {
		s += ": " + r.Reason
	}
	return s
}
