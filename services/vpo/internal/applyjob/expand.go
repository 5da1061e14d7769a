package applyjob

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/sirupsen/logrus"

	"github.com/vpo-project/vpo/libs/jobs"
	"github.com/vpo-project/vpo/libs/policy"
	"github.com/vpo-project/vpo/libs/store"
	"github.com/vpo-project/vpo/services/vpo/internal/scan"
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
	kids, err := childJobs(job, p, files)
	if err != nil {
		return nil, err
	}
	log.WithField("files", len(kids)).Info("apply: one child job per video file")
	return nil, &jobs.Children{Jobs: kids}
}

// childJobs returns one child apply job per file.
func childJobs(job store.Job, p Payload, files []string) ([]store.NewJob, error) {
	kids := make([]store.NewJob, 0, len(files))
	for _, f := range files {
		payload, err := json.Marshal(Payload{Policy: p.Policy, Path: f, DryRun: p.DryRun})
		if err != nil {
			return nil, err
		}
		kids = append(kids, store.NewJob{Kind: Kind, Payload: payload, Priority: job.Priority, MaxAttempts: job.MaxAttempts})
	}
	return kids, nil
}

// videoFiles lists the video files under dir in lexical order.
func videoFiles(ctx context.Context, dir string, recursive bool) ([]string, error) {
	var out []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("list video files under %s: %w", dir, err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() {
			if path != dir && (!recursive || strings.HasPrefix(d.Name(), ".")) {
				return filepath.SkipDir
			}
			return nil
		}
		name := d.Name()
		if !d.Type().IsRegular() || strings.HasPrefix(name, ".") {
			return nil
		}
		if _, ok := scan.Container(name); !ok {
			return nil
		}
		if strings.HasSuffix(strings.TrimSuffix(name, filepath.Ext(name)), ".original") {
			return nil
		}
		out = append(out, path)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
