package applyjob

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/sirupsen/logrus"

	"github.com/vpo-project/vpo/libs/jobs"
	"github.com/vpo-project/vpo/libs/policy"
	"github.com/vpo-project/vpo/libs/store"
)

// expand hands each video file under the directory of p to a child job
// (files the scan would see: by extension; hidden files, among them the
// executor's temporary files, and kept originals NAME.original.EXT are left
// out). A directory without video files completes at once with zero
// counts. A dry run plans the files it can plan without a probe itself
// (see dryRun).
func (h *Handler) expand(ctx context.Context, job store.Job, pol *policy.Policy, p Payload, progress jobs.Progress, log *logrus.Entry) (json.RawMessage, error) {
	files, err := videoFiles(ctx, p.Path, p.recursive())
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		progress.Report(100, "no video files")
		return json.Marshal(Counts{})
	}
	if p.DryRun {
		return h.dryRun(ctx, job, pol, p, files, progress, log)
	}
	kind := ownKind(job)
	var requires []string
	if h.transcodes(pol) {
		// Transcode children encode: they require the policy's tags.
		kind, requires = TranscodeKind, pol.Requires()
	}
	kids, err := childJobs(job, kind, p, files, requires)
	if err != nil {
		return nil, err
	}
	log.WithFields(logrus.Fields{"files": len(kids), "child_kind": kind}).Info("apply: one child job per video file")
	return nil, &jobs.Children{Jobs: kids}
}

// childJobs returns one child job of kind per file. A directory job of a
// policy with a transcode block makes transcode children (most of its
// files re-encode, and a transcode job of a file that does not just
// applies its plan); a dry run's children only plan, and keep the
// directory job's kind.
func childJobs(job store.Job, kind string, p Payload, files []string, requires []string) ([]store.NewJob, error) {
	kids := make([]store.NewJob, 0, len(files))
	for _, f := range files {
		payload, err := json.Marshal(Payload{Policy: p.Policy, Path: f, DryRun: p.DryRun})
		if err != nil {
			return nil, err
		}
		kids = append(kids, store.NewJob{Kind: kind, Payload: payload, Priority: job.Priority, MaxAttempts: job.MaxAttempts,
			Requires: requires})
	}
	return kids, nil
}

// videoFiles lists the video files under dir (see VideoFiles); a
// directory below it that cannot be read fails the listing.
func videoFiles(ctx context.Context, dir string, recursive bool) ([]string, error) {
	files, err := VideoFiles(ctx, dir, recursive, func(path string, err error) error { return err })
	if err != nil {
		return nil, fmt.Errorf("list video files under %s: %w", dir, err)
	}
	return files, nil
}
