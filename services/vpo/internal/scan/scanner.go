package scan

import (
	"context"
	"encoding/json"
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

// Library is the part of the store a scan reads and writes. A scan loads
// the recorded state of its root once, then writes only what changed, in
// batches.
type Library interface {
	FileStates(ctx context.Context, root string) (map[string]store.FileState, error)
	UpsertFiles(ctx context.Context, files []store.File) error
	TouchFiles(ctx context.Context, paths []string, scannedAt time.Time) (int, error)
	MarkMissingPaths(ctx context.Context, paths []string, scannedBefore time.Time) (int, error)
	TouchScanned(ctx context.Context, root string, scannedAt time.Time) (int, error)
}

// Batching of writes: pending rows are written when there are batchSize of
// them, when the oldest waited batchAge, and right after each ffprobe call
// (a probe costs far more than a small transaction, and a scan cancelled
// during a slow probe then keeps every file probed before it).
const (
	batchSize = 500
	batchAge  = time.Second
	// flushTimeout bounds the write of the pending batch after the scan was
	// cancelled.
	flushTimeout = 5 * time.Second
)

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

// Validate checks a payload at submission time (see ValidatePayload).
func (s *Scanner) Validate(payload json.RawMessage) error {
	_, err := ValidatePayload(payload)
	return err
}

// Run implements jobs.Handler. It is idempotent: unchanged files (same size
// and mtime) are neither probed nor rewritten, and files no longer on disk
// are marked missing once a recursive scan of their root completes. Every
// file a scan sees gets the scan's start time as last_scanned_at. When ctx
// ends, the walk stops promptly; what was recorded stays, nothing is marked
// missing.
//
// The walk (directory reads and one lstat per video file) runs in its own
// goroutine, ahead of the comparison with the library, so that it overlaps
// with loading the recorded states and with the writes.
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
	top, err := os.ReadDir(p.Path)
	if err != nil {
		return nil, fmt.Errorf("read scan root %q: %w", p.Path, err)
	}
	r := &run{
		Scanner: s, log: log, started: s.now(), recursive: p.recursive(),
		res: Result{Root: p.Path, FFProbe: s.prober != nil},
	}

	wctx, stopWalk := context.WithCancel(ctx)
	defer stopWalk()
	w := &walker{log: log, recursive: r.recursive, out: make(chan walked, walkAhead)}
	var walkErr error
	go func() {
		walkErr = w.walkRoot(wctx, p.Path, top)
		close(w.out)
	}()
	err = r.consume(ctx, p.Path, w.out, len(top), progress)
	if err != nil {
		stopWalk()
		for range w.out {
		}
	}
	// The walker is done once out is closed: walkErr and w.skipped are set.
	r.res.Skipped = w.skipped
	if err == nil {
		err = walkErr
	}
	if err != nil {
		if ctx.Err() == nil {
			return nil, err
		}
		// Cancelled: keep what was already recorded, mark nothing missing.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), flushTimeout)
		defer cancel()
		if ferr := r.finish(fctx, false); ferr != nil {
			log.Warnf("scan cancelled; recording the files seen so far: %v", ferr)
		}
		return nil, ctx.Err()
	}
	if err := r.finish(ctx, true); err != nil {
		return nil, err
	}
	res := r.res
	progress.Report(100, fmt.Sprintf("%d video files seen, %d new, %d changed, %d missing", res.Seen, res.New, res.Changed, res.Missing))
	log.WithFields(logrus.Fields{"files_seen": res.Seen, "new": res.New, "changed": res.Changed, "missing": res.Missing}).Info("scan finished")
	return json.Marshal(res)
}

// walkAhead is how many video files the walk may find before the scan
// compared them with the library.
const walkAhead = 1024

// walked is a video file found by the walk, or (path "") the mark that the
// walk finished the top-level entry number done of the root.
type walked struct {
	path, container string
	size            int64
	mtime           time.Time
	done            int
}

// walker lists the video files under a root, in lexical order, on out.
type walker struct {
	log       *logrus.Entry
	recursive bool
	out       chan walked
	skipped   int // unreadable entries
}

func (w *walker) walkRoot(ctx context.Context, root string, top []fs.DirEntry) error {
	for i, e := range top {
		if err := ctx.Err(); err != nil {
			return err
		}
		full := filepath.Join(root, e.Name())
		if e.IsDir() {
			if w.recursive {
				if err := w.walk(ctx, full); err != nil {
					return err
				}
			}
		} else if err := w.visit(ctx, full, e); err != nil {
			return err
		}
		if err := w.send(ctx, walked{done: i + 1}); err != nil {
			return err
		}
	}
	return nil
}

func (w *walker) walk(ctx context.Context, dir string) error {
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		if err != nil {
			// An unreadable directory is reported, not fatal.
			w.log.WithField("file_path", path).Warnf("scan: %v", err)
			w.skipped++
			if d != nil && d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		return w.visit(ctx, path, d)
	})
}

// visit sends a directory entry on if it is a video file.
func (w *walker) visit(ctx context.Context, path string, d fs.DirEntry) error {
	if !d.Type().IsRegular() {
		return nil
	}
	container, ok := Container(d.Name())
	if !ok {
		return nil
	}
	info, err := d.Info()
	if err != nil {
		w.log.WithField("file_path", path).Warnf("scan: %v", err)
		w.skipped++
		return nil
	}
	return w.send(ctx, walked{path: path, container: container, size: info.Size(), mtime: info.ModTime().UTC()})
}

func (w *walker) send(ctx context.Context, e walked) error {
	select {
	case w.out <- e:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// run is the state of one scan.
type run struct {
	*Scanner
	log       *logrus.Entry
	started   time.Time // last_scanned_at of every file seen
	recursive bool
	res       Result

	// states holds the recorded files under the root; a file seen by the
	// walk is deleted from it, so that after a complete walk it holds the
	// files not seen.
	states map[string]store.FileState
	// touched are unchanged files seen by a non-recursive scan, whose
	// last_scanned_at is set at the end (a recursive scan sets it with one
	// statement over the whole root instead).
	touched []string

	// The pending batch: files to write, files seen again unchanged after
	// being missing, and when the oldest of them was added.
	pending  []store.File
	reappear []string
	since    time.Time
}

// consume loads the recorded states of root (while the walk starts), then
// records each file the walk finds and reports progress at each of the
// topLen top-level entries.
func (r *run) consume(ctx context.Context, root string, files <-chan walked, topLen int, progress jobs.Progress) error {
	states, err := r.lib.FileStates(ctx, root)
	if err != nil {
		return err
	}
	r.states = states
	for e := range files {
		if err := ctx.Err(); err != nil {
			return err
		}
		if e.path == "" {
			progress.Report(float64(e.done)*100/float64(topLen+1), fmt.Sprintf("%d video files seen", r.res.Seen))
			continue
		}
		if err := r.record(ctx, e); err != nil {
			return err
		}
	}
	return nil
}

// record compares one video file with the library and queues what changed.
func (r *run) record(ctx context.Context, e walked) error {
	r.res.Seen++
	if len(r.pending)+len(r.reappear) > 0 && time.Since(r.since) >= batchAge {
		if err := r.flush(ctx); err != nil {
			return err
		}
	}
	f := store.File{
		Path: e.path, Size: e.size, ModTime: e.mtime, Container: e.container, LastScannedAt: r.started,
	}
	old, known := r.states[e.path]
	delete(r.states, e.path)
	switch {
	case known && old.Size == f.Size && old.ModTime.Equal(f.ModTime):
		r.res.Unchanged++
		if old.Missing {
			return r.add(ctx, nil, e.path)
		}
		if !r.recursive {
			r.touched = append(r.touched, e.path)
		}
		return nil
	case known:
		r.res.Changed++
	default:
		r.res.New++
	}
	if r.prober == nil {
		return r.add(ctx, &f, "")
	}
	si, err := r.prober.Probe(ctx, e.path)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		r.res.ProbeErrors++
		r.log.WithField("file_path", e.path).Warnf("probe: %v", err)
	} else {
		r.res.Probed++
		f.Probe, f.Codec, f.DurationSeconds, f.Tracks = si.Raw, si.Codec, si.DurationSeconds, si.Tracks
	}
	if err := r.add(ctx, &f, ""); err != nil {
		return err
	}
	return r.flush(ctx)
}

// add appends a file to write (f) or a file seen again (reappeared) to the
// pending batch, and writes the batch when it is full.
func (r *run) add(ctx context.Context, f *store.File, reappeared string) error {
	if len(r.pending)+len(r.reappear) == 0 {
		r.since = time.Now()
	}
	if f != nil {
		r.pending = append(r.pending, *f)
	} else {
		r.reappear = append(r.reappear, reappeared)
	}
	if len(r.pending)+len(r.reappear) >= batchSize {
		return r.flush(ctx)
	}
	return nil
}

// flush writes the pending batch.
func (r *run) flush(ctx context.Context) error {
	if err := r.lib.UpsertFiles(ctx, r.pending); err != nil {
		return err
	}
	r.pending = r.pending[:0]
	if _, err := r.lib.TouchFiles(ctx, r.reappear, r.started); err != nil {
		return err
	}
	r.reappear = r.reappear[:0]
	return nil
}

// finish writes what is pending and the last_scanned_at of the unchanged
// files seen. After a complete walk of a recursive scan (complete), the
// files not seen are marked missing first, then every other file under the
// root is touched in one statement.
func (r *run) finish(ctx context.Context, complete bool) error {
	if err := r.flush(ctx); err != nil {
		return err
	}
	if _, err := r.lib.TouchFiles(ctx, r.touched, r.started); err != nil {
		return err
	}
	if !complete || !r.recursive {
		return nil
	}
	var unseen []string
	for path, st := range r.states {
		if !st.Missing {
			unseen = append(unseen, path)
		}
	}
	n, err := r.lib.MarkMissingPaths(ctx, unseen, r.started)
	if err != nil {
		return err
	}
	r.res.Missing = n
	_, err = r.lib.TouchScanned(ctx, r.res.Root, r.started)
	return err
}
