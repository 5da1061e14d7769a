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

// maxReported bounds the unreadable paths listed in a Result.
const maxReported = 100

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
	// Reprobed counts the unchanged files probed again because no probe
	// of them had worked yet (they are also in Probed or ProbeErrors).
	Reprobed int `json:"reprobed"`
	// Skipped counts the directories and files that could not be read.
	Skipped int `json:"unreadable"`
	// Unreadable lists them (the first 100, paths escaped as
	// store.EscapePath does).
	Unreadable []string `json:"unreadable_paths,omitempty"`
	// Kept counts the recorded files under unreadable paths that the scan
	// could not see and left as they were (not marked missing).
	Kept    int  `json:"kept_unreadable"`
	FFProbe bool `json:"ffprobe"`
}

// Scanner is the scan job handler.
type Scanner struct {
	lib     Library
	prober  Prober
	log     *logrus.Entry
	now     func() time.Time
	readDir func(name string) ([]fs.DirEntry, error)
}

// New returns a scanner; prober may be nil (no ffprobe on this machine).
// An *FFProbe with an empty Path is looked up on PATH at the start of each
// scan.
func New(lib Library, prober Prober, log *logrus.Entry) *Scanner {
	return &Scanner{lib: lib, prober: prober, log: log, now: time.Now, readDir: os.ReadDir}
}

// Validate checks a payload at submission time (see ValidatePayload).
func (s *Scanner) Validate(payload json.RawMessage) error {
	_, err := ValidatePayload(payload)
	return err
}

// Run implements jobs.Handler. It is idempotent: unchanged files (same size
// and mtime) are not rewritten, and not probed again once a probe of them
// worked; files no longer on disk are marked missing once a scan of their
// root completes (a non-recursive scan: the files directly in the root).
// A file under a directory the scan could not read (permissions, I/O
// error) is never marked missing: it keeps its recorded state, and the
// result lists the unreadable paths. Every file a scan sees gets the scan's
// start time as last_scanned_at. When ctx ends, the walk stops promptly;
// what was recorded stays, nothing is marked missing.
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
	prober := s.prober
	if f, ok := prober.(*FFProbe); ok {
		prober = nil
		if f != nil {
			prober = f.lookup()
		}
	}
	if prober == nil {
		log.Info("ffprobe is not installed; recording files without stream details")
	}
	top, err := s.readDir(p.Path)
	if err != nil {
		return nil, fmt.Errorf("read scan root %q: %w", p.Path, err)
	}
	r := &run{
		Scanner: s, prober: prober, log: log, started: s.now(), recursive: p.recursive(),
		res: Result{Root: p.Path, FFProbe: prober != nil},
	}

	wctx, stopWalk := context.WithCancel(ctx)
	defer stopWalk()
	w := &walker{log: log, recursive: r.recursive, readDir: s.readDir, out: make(chan walked, walkAhead)}
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
	// The walker is done once out is closed: walkErr and w.unreadable are
	// set.
	r.unreadable = w.unreadable
	r.res.Skipped = len(w.unreadable)
	for _, u := range w.unreadable[:min(len(w.unreadable), maxReported)] {
		esc, _ := store.EscapePath(u)
		r.res.Unreadable = append(r.res.Unreadable, esc)
	}
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
	msg := fmt.Sprintf("%d video files seen, %d new, %d changed, %d missing", res.Seen, res.New, res.Changed, res.Missing)
	if res.Skipped > 0 {
		msg += fmt.Sprintf("; %d paths unreadable, %d files under them kept as recorded", res.Skipped, res.Kept)
	}
	progress.Report(100, msg)
	log.WithFields(logrus.Fields{"files_seen": res.Seen, "new": res.New, "changed": res.Changed, "missing": res.Missing,
		"unreadable": res.Skipped, "kept_unreadable": res.Kept}).Info("scan finished")
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
	readDir   func(name string) ([]fs.DirEntry, error)
	out       chan walked
	// unreadable are the directories that could not be listed (entirely)
	// and the video files that could not be examined.
	unreadable []string
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

// walk sends on the video files under dir, depth first in lexical order.
// A directory that cannot be read is reported, not fatal; the entries read
// before the error are still walked.
func (w *walker) walk(ctx context.Context, dir string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	entries, err := w.readDir(dir)
	if err != nil {
		w.cannotRead(dir, err)
	}
	for _, e := range entries {
		full := filepath.Join(dir, e.Name())
		if e.IsDir() {
			err = w.walk(ctx, full)
		} else {
			err = w.visit(ctx, full, e)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (w *walker) cannotRead(path string, err error) {
	w.log.WithField("file_path", path).Warnf("scan: cannot read, files under it keep their recorded state: %v", err)
	w.unreadable = append(w.unreadable, path)
}

// visit sends a directory entry on if it is a video file.
func (w *walker) visit(ctx context.Context, path string, d fs.DirEntry) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !d.Type().IsRegular() {
		return nil
	}
	container, ok := Container(d.Name())
	if !ok {
		return nil
	}
	info, err := d.Info()
	if errors.Is(err, fs.ErrNotExist) {
		return nil // removed since the directory was read: it is gone
	}
	if err != nil {
		w.cannotRead(path, err)
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
	prober    Prober // nil: no ffprobe for this scan
	log       *logrus.Entry
	started   time.Time // last_scanned_at of every file seen
	recursive bool
	res       Result

	// states holds the recorded files under the root; a file seen by the
	// walk is deleted from it, so that after a complete walk it holds the
	// files not seen.
	states map[string]store.FileState
	// touched are the unchanged files seen, whose last_scanned_at is set
	// at the end (a complete recursive scan that could read everything sets
	// it with one statement over the whole root instead).
	touched []string
	// unreadable are the paths the walk could not read.
	unreadable []string

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
	percent := 0.0
	for e := range files {
		if err := ctx.Err(); err != nil {
			return err
		}
		if e.path == "" {
			percent = float64(e.done) * 100 / float64(topLen+1)
			progress.Report(percent, fmt.Sprintf("%d video files seen", r.res.Seen))
			continue
		}
		if err := r.record(ctx, e); err != nil {
			return err
		}
		// Each file is news too: a large top-level directory (or a slow
		// ffprobe) must not look stalled. The pool writes reports at most
		// once per second.
		progress.Report(percent, fmt.Sprintf("%d video files seen", r.res.Seen))
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
		if !old.Probed && r.prober != nil {
			// Never probed (no ffprobe then) or the probe failed: try again.
			r.res.Reprobed++
			break
		}
		if old.Missing {
			return r.add(ctx, nil, e.path)
		}
		r.touched = append(r.touched, e.path)
		return nil
	case known:
		r.res.Changed++
	default:
		r.res.New++
	}
	if r.prober == nil {
		return r.add(ctx, &f, "")
	}
	// The probe is dated by its start: a row an apply stores while this
	// probe runs (it may read the content from before the apply) is newer
	// and is kept by the store (see store.UpsertFile).
	f.ProbedAt = r.now().UTC()
	si, err := r.prober.Probe(ctx, e.path)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		r.res.ProbeErrors++
		f.ProbeError = err.Error()
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
// files seen. After a complete walk (complete), the files the scan should
// have seen and did not are marked missing first: every one under the root
// for a recursive scan, those directly in the root for a non-recursive one,
// never one under a path the walk could not read. A complete recursive
// scan that read everything then touches every other file under the root
// in one statement.
func (r *run) finish(ctx context.Context, complete bool) error {
	if err := r.flush(ctx); err != nil {
		return err
	}
	if !complete {
		_, err := r.lib.TouchFiles(ctx, r.touched, r.started)
		return err
	}
	n, err := r.lib.MarkMissingPaths(ctx, r.unseen(), r.started)
	if err != nil {
		return err
	}
	r.res.Missing = n
	if r.recursive && len(r.unreadable) == 0 {
		_, err = r.lib.TouchScanned(ctx, r.res.Root, r.started)
		return err
	}
	_, err = r.lib.TouchFiles(ctx, r.touched, r.started)
	return err
}

// unseen returns the recorded files, not yet missing, that a complete walk
// should have seen and did not, and counts in res.Kept those it leaves
// alone because they are under an unreadable path.
func (r *run) unseen() []string {
	blind := make(map[string]bool, len(r.unreadable))
	for _, u := range r.unreadable {
		blind[u] = true
	}
	root := r.res.Root
	var out []string
	for path, st := range r.states {
		if st.Missing || (!r.recursive && filepath.Dir(path) != root) {
			continue
		}
		if r.under(path, blind) {
			r.res.Kept++
			continue
		}
		out = append(out, path)
	}
	return out
}

// under tells whether path or one of its parents below the root is in
// blind.
func (r *run) under(path string, blind map[string]bool) bool {
	if len(blind) == 0 {
		return false
	}
	for p := path; len(p) > len(r.res.Root); p = filepath.Dir(p) {
		if blind[p] {
			return true
		}
	}
	return false
}
