package scan

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/vpo-project/vpo/libs/jobs"
	"github.com/vpo-project/vpo/libs/store"
)

// Kind is the job kind name.
const Kind = "scan"

// Library is the part of the store a scan writes to.
type Library interface {
	GetFile(ctx context.Context, path string) (store.File, error)
	UpsertFile(ctx context.Context, f store.File) error
	MarkMissing(ctx context.Context, root string, scannedBefore time.Time) (int, error)
}

// Result is the summary stored with a completed scan job.
type Result struct {
	Root        string `json:"root"`
	Seen        int    `json:"files_seen"`
	New         int    `json:"new"`
	Changed     int    `json:"changed"`
	Unchanged   int    `json:"unchanged"`
	Missing     int    `json:"missing"`
	Probed      int    `json:"probed"`
	ProbeErrors int    `json:"probe_errors"`
	Skipped     int    `json:"unreadable"`
	FFProbe     bool   `json:"ffprobe"`
}

// Scanner is the scan job handler.
type Scanner struct {
	lib    Library
	prober Prober
	log    *logrus.Entry
	now    func() time.Time
}

// New returns a scanner; prober may be nil (no ffprobe on this machine).
func New(lib Library, prober Prober, log *logrus.Entry) *Scanner {
	return &Scanner{lib: lib, prober: prober, log: log, now: time.Now}
}

// Validate checks a payload at submission time.
func (s *Scanner) Validate(payload json.RawMessage) error {
	_, err := ParsePayload(payload)
	return err
}

// Run implements jobs.Handler. It is idempotent: unchanged files (same size
// and mtime) are not probed again, and files no longer on disk are marked
// missing once a scan of their root completes. When ctx ends, the walk stops
// promptly; what was recorded stays.
func (s *Scanner) Run(ctx context.Context, job store.Job, progress jobs.Progress) (json.RawMessage, error) {
	p, err := ParsePayload(job.Payload)
	if err != nil {
		return nil, err
	}
	if err := checkRoot(p.Path); err != nil {
		return nil, err
	}
	log := s.log.WithFields(logrus.Fields{"job_id": job.ID, "file_path": p.Path})
	if s.prober == nil {
		log.Info("ffprobe is not installed; recording files without stream details")
	}
	started := s.now()
	res := Result{Root: p.Path, FFProbe: s.prober != nil}

	top, err := os.ReadDir(p.Path)
	if err != nil {
		return nil, fmt.Errorf("read scan root %q: %w", p.Path, err)
	}
	for i, e := range top {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		full := filepath.Join(p.Path, e.Name())
		if e.IsDir() {
			if p.recursive() {
				if err := s.walk(ctx, log, full, &res); err != nil {
					return nil, err
				}
			}
		} else if err := s.visit(ctx, log, full, e, &res); err != nil {
			return nil, err
		}
		progress.Report(float64(i+1)*100/float64(len(top)+1), fmt.Sprintf("%d video files seen", res.Seen))
	}
	if p.recursive() {
		n, err := s.lib.MarkMissing(ctx, p.Path, started)
		if err != nil {
			return nil, err
		}
		res.Missing = n
	}
	progress.Report(100, fmt.Sprintf("%d video files seen, %d new, %d changed, %d missing", res.Seen, res.New, res.Changed, res.Missing))
	log.WithFields(logrus.Fields{"files_seen": res.Seen, "new": res.New, "changed": res.Changed, "missing": res.Missing}).Info("scan finished")
	return json.Marshal(res)
}

func (s *Scanner) walk(ctx context.Context, log *logrus.Entry, dir string, res *Result) error {
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		if err != nil {
			// An unreadable directory is reported, not fatal.
			log.WithField("file_path", path).Warnf("scan: %v", err)
			res.Skipped++
			if d != nil && d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		return s.visit(ctx, log, path, d, res)
	})
}

// visit records one directory entry if it is a video file.
func (s *Scanner) visit(ctx context.Context, log *logrus.Entry, path string, d fs.DirEntry, res *Result) error {
	if !d.Type().IsRegular() {
		return nil
	}
	container, ok := Container(d.Name())
	if !ok {
		return nil
	}
	info, err := d.Info()
	if err != nil {
		log.WithField("file_path", path).Warnf("scan: %v", err)
		res.Skipped++
		return nil
	}
	res.Seen++
	now := s.now()
	f := store.File{
		Path: path, Size: info.Size(), ModTime: info.ModTime().UTC(),
		Container: container, LastScannedAt: now,
	}
	old, err := s.lib.GetFile(ctx, path)
	switch {
	case err == nil && old.Size == f.Size && old.ModTime.Equal(f.ModTime):
		res.Unchanged++
		f.Probe, f.Codec, f.DurationSeconds, f.Tracks = old.Probe, old.Codec, old.DurationSeconds, old.Tracks
		return s.lib.UpsertFile(ctx, f)
	case err == nil:
		res.Changed++
	case errors.Is(err, store.ErrNotFound):
		res.New++
	default:
		return err
	}
	if s.prober != nil {
		info, err := s.prober.Probe(ctx, path)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			res.ProbeErrors++
			log.WithField("file_path", path).Warnf("probe: %v", err)
		} else {
			res.Probed++
			f.Probe, f.Codec, f.DurationSeconds, f.Tracks = info.Raw, info.Codec, info.DurationSeconds, info.Tracks
		}
	}
	return s.lib.UpsertFile(ctx, f)
}
