package applyjob

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/sirupsen/logrus"

	"github.com/vpo-project/vpo/libs/jobs"
	"github.com/vpo-project/vpo/libs/policy"
	"github.com/vpo-project/vpo/libs/store"
)

// DryRunBatch is how many files a directory dry run plans between two
// reads of stored probes, two writes of plans and two checks for
// cancellation.
const DryRunBatch = 500

// dryRun plans the files of a directory dry run in the job itself when it
// can do so without a tool: each file whose stored probe still stands for
// it (same size and modification time, see storedSource) is planned from
// that probe, DryRunBatch files at a time (one read of their rows, one
// transaction for their plans, a progress report and a cancellation check
// per batch). The files that need a probe (new, changed, never probed) or
// whose plan fails are handed to child jobs as a directory job does (they
// probe in parallel, retry, and report their errors one by one); the
// job's own counts are added to its children's when the last one ends
// (jobs.Children.Counted). Without such files the job completes at once
// with its counts.
func (h *Handler) dryRun(ctx context.Context, job store.Job, pol *policy.Policy, p Payload, files []string,
	progress jobs.Progress, log *logrus.Entry) (json.RawMessage, error) {
	var (
		counts Counts
		probe  []string
		opts   = pol.MediaOptions()
	)
	for start := 0; start < len(files); start += DryRunBatch {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		batch := files[start:min(start+DryRunBatch, len(files))]
		rows, err := h.st.FilesByPath(ctx, batch)
		if err != nil {
			return nil, fmt.Errorf("dry run of %s: %w", p.Path, err)
		}
		plans := make([]store.Plan, 0, len(batch))
		outcomes := make([]string, 0, len(batch))
		for _, path := range batch {
			row, ok := rows[path]
			if !ok {
				probe = append(probe, path)
				continue
			}
			fi, err := os.Stat(path)
			if err != nil {
				probe = append(probe, path) // its child reports what became of it
				continue
			}
			src, ok := storedSource(row, fi, opts)
			if !ok {
				probe = append(probe, path)
				continue
			}
			plan, err := pol.Plan(src)
			if err != nil {
				probe = append(probe, path) // its child fails, naming the reason
				continue
			}
			planJSON, err := json.Marshal(plan)
			if err != nil {
				return nil, fmt.Errorf("plan %s: %w", path, err)
			}
			plans = append(plans, store.Plan{JobID: job.ID, Policy: pol.Name, Path: path, Status: store.PlanPlanned,
				DryRun: true, Plan: planJSON, FileSize: fi.Size(), FileMTime: fi.ModTime().UTC()})
			outcome := OutcomePlanned
			if plan.Empty() {
				outcome = OutcomeUnchanged
			}
			outcomes = append(outcomes, outcome)
		}
		if err := h.st.CreatePlans(ctx, plans, h.now()); err != nil {
			return nil, fmt.Errorf("dry run of %s: %w", p.Path, err)
		}
		for _, o := range outcomes {
			counts.Files++
			if o == OutcomePlanned {
				counts.Planned++
			} else {
				counts.Unchanged++
			}
		}
		done := start + len(batch)
		progress.Report(100*float64(done)/float64(len(files)),
			fmt.Sprintf("dry run: %d of %d files looked at, %d planned from stored probes, %d need a probe", done, len(files),
				counts.Files, len(probe)))
	}
	fields := logrus.Fields{"files": len(files), "planned_inline": counts.Files, "children": len(probe)}
	if len(probe) == 0 {
		log.WithFields(fields).Info("dry run planned every file from its stored probe")
		return json.Marshal(counts)
	}
	kids, err := childJobs(job, p, probe)
	if err != nil {
		return nil, err
	}
	counted, err := json.Marshal(counts)
	if err != nil {
		return nil, err
	}
	log.WithFields(fields).Info("dry run: files without a usable stored probe go to child jobs")
	return nil, &jobs.Children{Jobs: kids, Counted: counted}
}
