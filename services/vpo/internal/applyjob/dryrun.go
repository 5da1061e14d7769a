package applyjob

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/vpo-project/vpo/libs/jobs"
	"github.com/vpo-project/vpo/libs/media"
	"github.com/vpo-project/vpo/libs/policy"
	"github.com/vpo-project/vpo/libs/store"
)

// DryRunBatch is how many files a directory dry run plans between two
// reads of stored probes, two writes of plans and two checks for
// cancellation.
const DryRunBatch = 500

// dryRunFile is what a dry run made of one file of a batch.
type dryRunFile struct {
	plan    store.Plan
	outcome string // OutcomePlanned or OutcomeUnchanged; "" when the file needs a child job
}

// dryRun plans the files of a directory dry run in the job itself when it
// can do so without a tool: each file whose stored probe still stands for
// it (same size and modification time, see storedSource) is planned from
// that probe, DryRunBatch files at a time (one read of their rows, one
// transaction for their plans, a progress report and a cancellation check
// per batch; the files of a batch are planned on every CPU while the
// previous batch's plans are written). The files
// that need a probe (new, changed, never probed) or whose plan fails are
// handed to child jobs as a directory job does (they probe in parallel,
// retry, and report their errors one by one); the job's own counts are
// added to its children's when the last one ends (jobs.Children.Counted).
// Without such files the job completes at once with its counts.
func (h *Handler) dryRun(ctx context.Context, job store.Job, pol *policy.Policy, p Payload, files []string,
	progress jobs.Progress, log *logrus.Entry) (json.RawMessage, error) {
	reader, err := media.NewReader(pol.MediaOptions())
	if err != nil {
		return nil, jobs.Final(fmt.Errorf("policy %q: %w", pol.Name, err))
	}
	var (
		counts Counts
		probe  []string
		out    = make([]dryRunFile, DryRunBatch)
		// written receives the outcome of the write of the previous
		// batch's plans, which runs while this batch is planned.
		written chan error
	)
	wait := func() error {
		if written == nil {
			return nil
		}
		err := <-written
		written = nil
		return err
	}
	defer func() { _ = wait() }()
	for start := 0; start < len(files); start += DryRunBatch {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		batch := files[start:min(start+DryRunBatch, len(files))]
		rows, err := h.st.FilesByPath(ctx, batch)
		if err != nil {
			return nil, fmt.Errorf("dry run of %s: %w", p.Path, err)
		}
		if err := parallel(len(batch), func(i int) error {
			var perr error
			out[i], perr = planStored(job, pol, reader, batch[i], rows)
			return perr
		}); err != nil {
			return nil, err
		}
		plans := make([]store.Plan, 0, len(batch))
		for i, path := range batch {
			switch out[i].outcome {
			case "":
				probe = append(probe, path)
				continue
			case OutcomePlanned:
				counts.Planned++
			default:
				counts.Unchanged++
			}
			counts.Files++
			plans = append(plans, out[i].plan)
		}
		if err := wait(); err != nil {
			return nil, fmt.Errorf("dry run of %s: %w", p.Path, err)
		}
		written = make(chan error, 1)
		go func(plans []store.Plan, now time.Time) { written <- h.st.CreatePlans(ctx, plans, now) }(plans, h.now())
		done := start + len(batch)
		progress.Report(100*float64(done)/float64(len(files)),
			fmt.Sprintf("dry run: %d of %d files looked at, %d planned from stored probes, %d need a probe", done, len(files),
				counts.Files, len(probe)))
	}
	if err := wait(); err != nil {
		return nil, fmt.Errorf("dry run of %s: %w", p.Path, err)
	}
	fields := logrus.Fields{"files": len(files), "planned_inline": counts.Files, "children": len(probe)}
	if len(probe) == 0 {
		log.WithFields(fields).Info("dry run planned every file from its stored probe")
		return json.Marshal(counts)
	}
	kids, err := childJobs(job, ownKind(job), p, probe, nil)
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

// planStored plans the file at path from its stored row in rows, or
// returns an empty outcome when it needs a child job: no row, a row that
// no longer matches the file, a file gone, or a plan that fails (the
// child fails naming the reason).
func planStored(job store.Job, pol *policy.Policy, reader *media.Reader, path string, rows map[string]store.File) (dryRunFile, error) {
	row, ok := rows[path]
	if !ok {
		return dryRunFile{}, nil
	}
	fi, err := os.Stat(path)
	if err != nil {
		return dryRunFile{}, nil
	}
	src, ok := storedSource(row, fi, reader)
	if !ok {
		return dryRunFile{}, nil
	}
	plan, err := pol.Plan(src)
	if err != nil {
		return dryRunFile{}, nil
	}
	planJSON, err := json.Marshal(plan)
	if err != nil {
		return dryRunFile{}, fmt.Errorf("plan %s: %w", path, err)
	}
	res := dryRunFile{outcome: OutcomePlanned, plan: store.Plan{JobID: job.ID, Policy: pol.Name, Path: path,
		Status: store.PlanPlanned, DryRun: true, Plan: planJSON, FileSize: fi.Size(), FileMTime: fi.ModTime().UTC()}}
	if plan.Empty() {
		res.outcome = OutcomeUnchanged
	}
	return res, nil
}

// parallel calls fn(i) for i in [0, n) on up to GOMAXPROCS goroutines and
// returns the first error.
func parallel(n int, fn func(i int) error) error {
	workers := min(runtime.GOMAXPROCS(0), n)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				if err := fn(i); err != nil {
					errs[w] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
