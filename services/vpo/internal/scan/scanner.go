package scan

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/vpo-project/vpo/libs/jobs"
	"github.com/vpo-project/vpo/libs/store"
)

// Kind is the job kind name.
const Kind = "scan"

// Library is the part of the store a scan reads and writes. A scan reads
// the recorded state of its root once, page by page while it walks (of its
// one file: FilesByPath), then writes only what changed, in batches; a
// rescan of an unchanged tree writes nothing.
type Library interface {
	EachFileStatePage(ctx context.Context, root string, fn func(store.FileStatePage) error) error
	FilesByPath(ctx context.Context, paths []string) (map[string]store.File, error)
	UpsertFiles(ctx context.Context, files []store.File) error
	TouchFiles(ctx context.Context, paths []string, scannedAt time.Time) (int, error)
	MarkMissingPaths(ctx context.Context, paths []string, scannedBefore time.Time) (int, error)
}

// DigestLibrary is a Library that also keeps the digests of the
// directories a recursive scan recorded (see store.DirDigest). With one, a
// rescan reads no recorded state when every directory's digest still
// matches: nothing under the root changed.
type DigestLibrary interface {
	Library
	DirDigests(ctx context.Context, root string) (map[string]store.DirDigest, int, error)
	PutDirDigests(ctx context.Context, dirs map[string]store.DirDigest) error
}

// Batching of writes: pending rows are written when there are batchSize of
// them, when the oldest waited batchAge, and right after each ffprobe call
// (a probe costs far more than a small transaction, and a scan cancelled
// during a slow probe then keeps every file probed before it). batchSize
// is a multiple of the rows the store writes a statement, so that a full
// batch prepares one statement, not two.
const (
	batchSize = 2048
	batchAge  = time.Second
	// flushTimeout bounds the write of the pending batch after the scan was
	// cancelled.
	flushTimeout = 5 * time.Second
)

// maxReported bounds the unreadable paths listed in a Result.
const maxReported = 100

// Result is the summary stored with a completed scan job.
type Result struct {
	Root string `json:"root"`
	// Recursive tells whether the scan covered the subdirectories of Root
	// (false for a scan of one directory alone or of one file).
	Recursive bool `json:"recursive"`
	Seen      int  `json:"files_seen"`
	New       int  `json:"new"`
	Changed   int  `json:"changed"`
	Unchanged int  `json:"unchanged"`
	Missing   int  `json:"missing"`
	// Bytes is the size of the new and changed files together (the
	// content the scan recorded anew).
	Bytes       int64 `json:"new_changed_bytes"`
	Probed      int   `json:"probed"`
	ProbeErrors int   `json:"probe_errors"`
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
	// Seconds is how long the scan took (waiting for another scan of the
	// same path excluded).
	Seconds float64 `json:"duration_seconds"`
}

// Scanner is the scan job handler.
type Scanner struct {
	lib     Library
	prober  Prober
	log     *logrus.Entry
	now     func() time.Time
	readDir func(name string) ([]fs.DirEntry, error)
	lstat   func(name string) (fs.FileInfo, error)
	// statAt: readDir is os.ReadDir (see walker.statAt).
	statAt bool

	mu       sync.Mutex
	finished []FinishedFunc
	// roots runs one scan of a path at a time.
	roots rootLocks
}

// FinishedFunc is called after a scan of root completed with res (see
// OnFinished).
type FinishedFunc func(ctx context.Context, root string, res Result)

// OnFinished adds fn to the functions called after every completed scan
// (not one that failed or was cancelled), in the order added. They run in
// the job's goroutine with the job's context, after everything the scan
// found is written and before the job is completed; root is the scanned
// path (a directory or one file), cleaned.
func (s *Scanner) OnFinished(fn FinishedFunc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.finished = append(s.finished, fn)
}

func (s *Scanner) notifyFinished(ctx context.Context, res Result) {
	s.mu.Lock()
	fns := slices.Clone(s.finished)
	s.mu.Unlock()
	for _, fn := range fns {
		fn(ctx, res.Root, res)
	}
}

// New returns a scanner; prober may be nil (no ffprobe on this machine).
// An *FFProbe with an empty Path is looked up on PATH at the start of each
// scan.
func New(lib Library, prober Prober, log *logrus.Entry) *Scanner {
	return &Scanner{lib: lib, prober: prober, log: log, now: time.Now, readDir: os.ReadDir, lstat: os.Lstat, statAt: true}
}

// Validate checks a payload at submission time (see ValidatePayload).
func (s *Scanner) Validate(payload json.RawMessage) error {
	_, err := ValidatePayload(payload)
	return err
}

// Run implements jobs.Handler. The payload's path is a directory, whose
// video files are recorded, or one video file. A scan is idempotent:
// unchanged files (same size and mtime) are not rewritten, and not probed
// again once a probe of them worked, so a rescan of an unchanged tree
// writes nothing to the library. A row's last_scanned_at is the start of
// the last scan that recorded a change of it (new, changed, probed again,
// back after it was missing), not of the last scan that saw it.
//
// Files no longer on disk are marked missing once a scan of their root
// completes (a non-recursive scan: the files directly in the root; a scan
// of one file: that file), except a path where lstat finds a regular file
// again when it is marked (it was created after the walk passed it, or
// another scan has seen it). A file under a directory the scan could not
// read (permissions, I/O error) is never marked missing: it keeps its
// recorded state, and the result lists the unreadable paths. When ctx
// ends, the walk stops promptly; what was recorded stays, nothing is
// marked missing. After a completed scan the OnFinished functions run.
//
// The walk (directory reads and one lstat per video file) runs in its own
// goroutine, ahead of the comparison with the library, so that it overlaps
// with loading the recorded states and with the writes.
func (s *Scanner) Run(ctx context.Context, job store.Job, progress jobs.Progress) (json.RawMessage, error) {
	p, err := ParsePayload(job.Payload)
	if err != nil {
		return nil, err
	}
	isDir, err := checkPath(p.Path)
	if err != nil && !(errors.Is(err, fs.ErrNotExist) && isVideo(p.Path)) {
		// A video file that vanished since the scan was queued is
		// scanned (and marked missing when it was recorded).
		return nil, err
	}
	log := s.log.WithFields(logrus.Fields{"job_id": job.ID, "file_path": p.Path})
	unlock, err := s.roots.lock(ctx, p.Path, func() {
		progress.Report(0, "waiting for the scan of the same path that runs")
	})
	if err != nil {
		return nil, err
	}
	defer unlock()
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
	r := &run{
		Scanner: s, prober: prober, log: log, started: s.now(), recursive: p.recursive() && isDir,
		res: Result{Root: p.Path, Recursive: p.recursive() && isDir, FFProbe: prober != nil},
	}
	if isDir {
		err = func() error {
			defer relaxGC()() // also when the scan panics (the pool recovers)
			return r.scanDir(ctx, p.Path, progress)
		}()
	} else {
		err = r.scanFile(ctx, p.Path)
	}
	if err != nil {
		return nil, err
	}
	res := r.res
	res.Seconds = s.now().Sub(r.started).Seconds()
	msg := fmt.Sprintf("%d video files seen, %d new, %d changed, %d missing", res.Seen, res.New, res.Changed, res.Missing)
	if res.Skipped > 0 {
		msg += fmt.Sprintf("; %d paths unreadable, %d files under them kept as recorded", res.Skipped, res.Kept)
	}
	s.notifyFinished(ctx, res)
	progress.Report(100, msg)
	log.WithFields(logrus.Fields{"files_seen": res.Seen, "new": res.New, "changed": res.Changed, "missing": res.Missing,
		"unreadable": res.Skipped, "kept_unreadable": res.Kept}).Info("scan finished")
	return json.Marshal(res)
}

// scanDir records the video files under the directory root.
func (r *run) scanDir(ctx context.Context, root string, progress jobs.Progress) error {
	top, err := r.readDir(root)
	if err != nil {
		return fmt.Errorf("read scan root %q: %w", root, err)
	}
	wctx, stopWalk := context.WithCancel(ctx)
	defer stopWalk()
	w := &walker{log: r.log, recursive: r.recursive, readDir: r.readDir, statAt: r.statAt,
		out: make(chan []walked, 16)}
	r.walk = w
	if dl, ok := r.lib.(DigestLibrary); ok && r.recursive && r.statAt {
		// Without digests (an error reading them) the scan compares
		// every file, as a scan of a library without them does.
		stored, rows, err := dl.DirDigests(ctx, root)
		if err != nil {
			r.log.Warnf("scan: comparing every file: %v", err)
		} else {
			r.digests, r.digestRows = dl, rows
			w.digests, w.needProbed, w.dirs = stored, r.prober != nil, map[string]dirSeen{}
		}
	}
	var walkErr error
	go func() {
		walkErr = w.walkRoot(wctx, root, top)
		if walkErr == nil {
			walkErr = w.push(wctx)
		}
		close(w.out)
	}()
	err = r.consume(ctx, root, w.out, len(top), progress)
	if err != nil {
		stopWalk()
		for range w.out {
		}
	}
	// The walker is done once out is closed: walkErr, w.unreadable and
	// w.dirs are set.
	r.unreadable = w.unreadable
	r.res.Seen += w.matchedFiles
	r.res.Unchanged += w.matchedFiles
	if err == nil {
		err = walkErr
	}
	r.reportUnreadable()
	if err != nil {
		if ctx.Err() == nil {
			return err
		}
		// Cancelled: keep what was already recorded, mark nothing missing.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), flushTimeout)
		defer cancel()
		if ferr := r.finish(fctx, false); ferr != nil {
			r.log.Warnf("scan cancelled; recording the files seen so far: %v", ferr)
		}
		return ctx.Err()
	}
	return r.finish(ctx, true)
}

// scanFile records the one video file at path: new, changed, unchanged,
// back after it was missing, or gone (then marked missing when recorded).
func (r *run) scanFile(ctx context.Context, path string) error {
	rows, err := r.lib.FilesByPath(ctx, []string{path})
	if err != nil {
		return err
	}
	page := store.FileStatePage{States: make(map[string]store.FileState, 1), Last: path}
	for p, f := range rows {
		page.States[p] = store.FileState{Size: f.Size, ModTime: f.ModTime, Missing: f.Missing, Probed: f.Probed()}
	}
	r.states.add(page)
	r.states.done = true
	fi, err := r.lstat(path)
	switch {
	case err == nil && fi.Mode().IsRegular():
		container, _ := Container(path)
		if err := r.record(ctx, walked{path: path, container: container, size: fi.Size(), mtime: fi.ModTime().UTC()}); err != nil {
			return err
		}
	case err == nil, errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
		// Gone, or no longer a regular file: missing when recorded.
	default:
		r.log.Warnf("scan: cannot examine the file, it keeps its recorded state: %v", err)
		r.unreadable = []string{path}
		if st, ok := r.states.take(path); ok && !st.Missing {
			r.res.Kept++
		}
	}
	r.reportUnreadable()
	return r.finish(ctx, true)
}

// reportUnreadable puts the unreadable paths into the result.
func (r *run) reportUnreadable() {
	r.res.Skipped = len(r.unreadable)
	for _, u := range r.unreadable[:min(len(r.unreadable), maxReported)] {
		esc, _ := store.EscapePath(u)
		r.res.Unreadable = append(r.res.Unreadable, esc)
	}
}

// walkAhead is how many video files the walk may find before the scan
// compared them with the library (that is, before the recorded states up
// to them are read): enough for the walk to go on while the states of a
// library of 100,000 files are read (some 7 MB of paths held at most). The
// walk hands them on in batches of walkBatch (a channel operation per file
// would cost more than comparing the file).
const (
	walkAhead = 65536
	walkBatch = 256
)

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
	// statAt: readDir is os.ReadDir, and the walk may list directories
	// itself and lstat their files relative to the directory (fstatat),
	// which spares the kernel a lookup of every full path.
	statAt bool
	out    chan []walked
	batch  []walked // not yet handed on
	// unreadable are the directories that could not be listed (entirely)
	// and the video files that could not be examined.
	unreadable []string

	// digests are the recorded directory digests under the root, nil when
	// the scan does not use them. A directory whose video files have the
	// recorded digest (and, with needProbed, were all probed) is matched:
	// its files are not handed on, only counted in matchedFiles.
	digests      map[string]store.DirDigest
	needProbed   bool
	dirs         map[string]dirSeen // the directories digested
	matchedFiles int
}

// dirSeen is the digest of the video files directly in a directory as the
// walk saw them, their number, and whether it matched the recorded one.
type dirSeen struct {
	digest  []byte
	files   int
	matched bool
}

// digestDir digests the video files among entries of dir (those with
// stats[i].done), records the digest in w.dirs and tells whether it is
// the recorded one. A file that cannot be examined leaves dir without a
// digest (and unmatched).
func (w *walker) digestDir(dir string, entries []fs.DirEntry, stats []lstatAt) bool {
	if w.digests == nil {
		return false
	}
	h := sha256.New()
	var buf [24]byte
	n := 0
	for i, e := range entries {
		st := &stats[i]
		if !st.done {
			continue
		}
		if st.err != nil {
			if errors.Is(st.err, fs.ErrNotExist) {
				continue // gone: not handed on either
			}
			return false
		}
		h.Write([]byte(e.Name()))
		binary.LittleEndian.PutUint64(buf[0:], uint64(st.size))
		binary.LittleEndian.PutUint64(buf[8:], uint64(st.sec))
		binary.LittleEndian.PutUint64(buf[16:], uint64(st.nsec))
		// The NUL ends the name (no name holds one).
		h.Write([]byte{0})
		h.Write(buf[:])
		n++
	}
	d := dirSeen{digest: h.Sum(nil), files: n}
	rec, ok := w.digests[dir]
	d.matched = ok && bytes.Equal(rec.Digest, d.digest) && rec.Live == n && (!w.needProbed || rec.Probed || n == 0)
	w.dirs[dir] = d
	if d.matched {
		w.matchedFiles += n
	}
	return d.matched
}

func (w *walker) walkRoot(ctx context.Context, root string, top []fs.DirEntry) error {
	var (
		stats   []lstatAt
		matched bool
	)
	if w.digests != nil {
		// The root's own files are digested as walkAt does those of a
		// directory (os.ReadDir listed them in order).
		stats = make([]lstatAt, len(top))
		for i, e := range top {
			if e.Type().IsRegular() && isVideo(e.Name()) {
				st := &stats[i]
				full := filepath.Join(root, e.Name())
				var out unix.Stat_t
				st.set(&out, ignoringEINTR(func() error { return unix.Lstat(full, &out) }))
			}
		}
		matched = w.digestDir(root, top, stats)
	}
	subtrees := w.walkSubtrees(ctx, root, top)
	if subtrees != nil {
		defer subtrees.stop()
	}
	for i, e := range top {
		if err := ctx.Err(); err != nil {
			return err
		}
		if e.IsDir() {
			if subtrees != nil {
				if err := w.merge(ctx, subtrees, i); err != nil {
					return err
				}
			} else if w.recursive {
				if err := w.walk(ctx, filepath.Join(root, e.Name())); err != nil {
					return err
				}
			}
		} else if matched {
			// Recorded as it is.
		} else if err := w.visit(ctx, filepath.Join(root, e.Name()), e, statOf(stats, i)); err != nil {
			return err
		}
		if err := w.send(ctx, walked{done: i + 1}); err != nil {
			return err
		}
		// Progress is reported at each top-level entry: hand them on.
		if err := w.push(ctx); err != nil {
			return err
		}
	}
	return nil
}

// subtreesAhead is how many top-level directories may be walked (or
// walked already, and not yet handed on) at a time: the listing and the
// lstat of each file are system calls, which the cores share.
var subtreesAhead = max(2, runtime.GOMAXPROCS(0))

// subtreeWalks are the walks of the top-level directories of a root by
// walkers of their own, subtreesAhead at a time, handed on in order by
// merge. Each walker's out holds at most walkAhead/subtreesAhead files,
// so that the walks ahead hold no more than one walk did.
type subtreeWalks struct {
	started []chan *walker // per entry of top, for directories
	errs    []error        // the walks' errors, set before their out is closed
	slots   chan struct{}
	stop    context.CancelFunc
}

// walkSubtrees starts walking the top-level directories of a recursive
// walk that lists directories itself, in parallel; nil otherwise.
func (w *walker) walkSubtrees(ctx context.Context, root string, top []fs.DirEntry) *subtreeWalks {
	if !w.recursive || !w.statAt {
		return nil
	}
	ctx, stop := context.WithCancel(ctx)
	sw := &subtreeWalks{started: make([]chan *walker, len(top)), errs: make([]error, len(top)),
		slots: make(chan struct{}, subtreesAhead), stop: stop}
	for i, e := range top {
		if e.IsDir() {
			sw.started[i] = make(chan *walker, 1)
		}
	}
	go func() {
		for i, e := range top {
			if !e.IsDir() {
				continue
			}
			select {
			case sw.slots <- struct{}{}:
			case <-ctx.Done():
				return
			}
			sub := &walker{log: w.log, recursive: true, readDir: w.readDir, statAt: true,
				digests: w.digests, needProbed: w.needProbed,
				out: make(chan []walked, max(1, walkAhead/walkBatch/subtreesAhead))}
			if w.dirs != nil {
				sub.dirs = map[string]dirSeen{}
			}
			sw.started[i] <- sub
			go func() {
				err := sub.walk(ctx, filepath.Join(root, e.Name()))
				if err == nil {
					err = sub.push(ctx)
				}
				sw.errs[i] = err
				close(sub.out)
			}()
		}
	}()
	return sw
}

// merge hands on what the walk of the top-level directory i found, as if
// w had walked it.
func (w *walker) merge(ctx context.Context, sw *subtreeWalks, i int) error {
	var sub *walker
	select {
	case sub = <-sw.started[i]:
	case <-ctx.Done():
		return ctx.Err()
	}
	for batch := range sub.out {
		// What w found before comes first; the batch itself is handed on
		// as it is (not copied file by file into w's).
		err := w.push(ctx)
		if err == nil {
			err = w.pushBatch(ctx, batch)
		}
		if err != nil {
			sw.stop()
			for range sub.out {
			}
			return err
		}
	}
	<-sw.slots
	// out is closed: the walk is done.
	if err := sw.errs[i]; err != nil {
		return err
	}
	w.unreadable = append(w.unreadable, sub.unreadable...)
	for dir, d := range sub.dirs {
		w.dirs[dir] = d
	}
	w.matchedFiles += sub.matchedFiles
	return nil
}

// walk sends on the video files under dir, depth first in lexical order.
// A directory that cannot be read is reported, not fatal; the entries read
// before the error are still walked.
func (w *walker) walk(ctx context.Context, dir string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if w.statAt {
		return w.walkAt(ctx, dir)
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
			err = w.visit(ctx, full, e, nil)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// walkAt is walk listing dir itself: it reads the entries as os.ReadDir
// does (sorted by name), lstats the video files among them relative to
// the open directory, and closes it before going down into the
// subdirectories.
func (w *walker) walkAt(ctx context.Context, dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		w.cannotRead(dir, err)
		return nil
	}
	entries, err := d.ReadDir(-1)
	if err != nil {
		w.cannotRead(dir, err)
	}
	slices.SortFunc(entries, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	fd := int(d.Fd())
	stats := make([]lstatAt, len(entries))
	for i, e := range entries {
		if e.Type().IsRegular() && isVideo(e.Name()) {
			st := &stats[i]
			var out unix.Stat_t
			st.set(&out, ignoringEINTR(func() error { return unix.Fstatat(fd, e.Name(), &out, unix.AT_SYMLINK_NOFOLLOW) }))
		}
	}
	_ = d.Close()
	matched := w.digestDir(dir, entries, stats)
	for i, e := range entries {
		if !e.IsDir() && matched {
			continue // recorded as it is
		}
		full := dir + "/" + e.Name() // dir is clean, not "/": no Clean needed
		if e.IsDir() {
			err = w.walk(ctx, full)
		} else {
			err = w.visit(ctx, full, e, &stats[i])
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// lstatAt is what the walk keeps of the lstat of a directory entry (done
// when made): a walk holds one for every entry of the directories it is
// in, so it keeps three numbers rather than the whole stat buffer.
type lstatAt struct {
	done            bool
	size, sec, nsec int64
	err             error
}

// set keeps of out, filled by a call to lstat that returned err, what
// the walk uses.
func (st *lstatAt) set(out *unix.Stat_t, err error) {
	st.done, st.err = true, err
	st.size, st.sec, st.nsec = out.Size, out.Mtim.Sec, out.Mtim.Nsec
}

// statOf returns &stats[i], nil when stats is nil.
func statOf(stats []lstatAt, i int) *lstatAt {
	if stats == nil {
		return nil
	}
	return &stats[i]
}

func ignoringEINTR(fn func() error) error {
	for {
		if err := fn(); !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}

func (w *walker) cannotRead(path string, err error) {
	w.log.WithField("file_path", path).Warnf("scan: cannot read, files under it keep their recorded state: %v", err)
	w.unreadable = append(w.unreadable, path)
}

// visit sends a directory entry on if it is a video file, with its lstat
// made by walkAt (at) or by d.Info.
func (w *walker) visit(ctx context.Context, path string, d fs.DirEntry, at *lstatAt) error {
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
	var (
		size  int64
		mtime time.Time
		err   error
	)
	if at != nil && at.done {
		size, mtime, err = at.size, time.Unix(at.sec, at.nsec), at.err
		if err != nil {
			err = &fs.PathError{Op: "lstat", Path: path, Err: err}
		}
	} else {
		var info fs.FileInfo
		if info, err = d.Info(); err == nil {
			size, mtime = info.Size(), info.ModTime()
		}
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil // removed since the directory was read: it is gone
	}
	if err != nil {
		w.cannotRead(path, err)
		return nil
	}
	return w.send(ctx, walked{path: path, container: container, size: size, mtime: mtime.UTC()})
}

// send adds e to the batch, and hands the batch on once it is full.
func (w *walker) send(ctx context.Context, e walked) error {
	w.batch = append(w.batch, e)
	if len(w.batch) < walkBatch {
		return nil
	}
	return w.push(ctx)
}

// push hands the batch on.
func (w *walker) push(ctx context.Context) error {
	if len(w.batch) == 0 {
		return nil
	}
	if err := w.pushBatch(ctx, w.batch); err != nil {
		return err
	}
	w.batch = make([]walked, 0, walkBatch)
	return nil
}

// pushBatch hands batch on; it is not to be used after.
func (w *walker) pushBatch(ctx context.Context, batch []walked) error {
	select {
	case w.out <- batch:
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
	started   time.Time // last_scanned_at of every row the scan writes
	recursive bool
	res       Result

	// states holds the recorded files under the root; a file seen by the
	// walk is taken from it, so that after a complete walk it holds the
	// files not seen.
	states recordedStates
	// unreadable are the paths the walk could not read.
	unreadable []string

	// walk is the walker of a directory scan.
	walk *walker
	// digests is set when the scan uses directory digests (walk.digests
	// holds those recorded, digestRows the number of rows under the root
	// then). Then the recorded states are read only when some file or
	// directory does not match (reading); rowsIn counts per directory the
	// rows recorded (read or written by this scan) and unprobed the
	// directories with a file that is not probed.
	digests    DigestLibrary
	digestRows int
	reading    bool
	rowsIn     map[string]int
	unprobed   map[string]bool
	// kept are the directories of the unseen files lstat found again.
	kept map[string]bool

	// The pending batch: files to write, files seen again unchanged after
	// being missing, and when the oldest of them was added.
	pending  []store.File
	reappear []string
	since    time.Time
}

// recordedStates are the pages of recorded states read so far, in path
// order; done once every page is read.
type recordedStates struct {
	pages []store.FileStatePage
	done  bool
}

func (rs *recordedStates) add(p store.FileStatePage) { rs.pages = append(rs.pages, p) }

// covers tells whether the state of path is known: recorded in a page read
// already, or not recorded at all.
func (rs *recordedStates) covers(path string) bool {
	return rs.done || (len(rs.pages) > 0 && rs.pages[len(rs.pages)-1].Last >= path)
}

// take removes and returns the recorded state of path (covered).
func (rs *recordedStates) take(path string) (store.FileState, bool) {
	i := sort.Search(len(rs.pages), func(i int) bool { return rs.pages[i].Last >= path })
	if i == len(rs.pages) {
		return store.FileState{}, false
	}
	st, ok := rs.pages[i].States[path]
	if ok {
		delete(rs.pages[i].States, path)
	}
	return st, ok
}

// statesAhead is how many pages of recorded states may be read before the
// scan compared files with them.
const statesAhead = 4

// consume reads the recorded states of root page by page while the walk
// goes on, records each file the walk finds as soon as the page that would
// hold it is read, and reports progress at each of the topLen top-level
// entries. It returns once the walk is done, every file found is recorded
// and every page is read.
func (r *run) consume(ctx context.Context, root string, batches <-chan []walked, topLen int, progress jobs.Progress) error {
	lctx, stopReading := context.WithCancel(ctx)
	pages := make(chan store.FileStatePage, statesAhead)
	var readErr error
	var reading chan store.FileStatePage // nil once every page is read, or before the reading starts
	startReading := func() {
		r.reading = true
		reading = pages
		if r.digests != nil {
			r.rowsIn, r.unprobed = map[string]int{}, map[string]bool{}
		}
		go func() {
			readErr = r.lib.EachFileStatePage(lctx, root, func(p store.FileStatePage) error {
				select {
				case pages <- p:
					return nil
				case <-lctx.Done():
					return lctx.Err()
				}
			})
			close(pages)
		}()
	}
	defer func() {
		stopReading()
		if r.reading {
			for range pages {
			}
		}
	}()
	if r.digests == nil {
		startReading()
	}
	percent := 0.0
	var queue []walked // found, not yet recorded: their page is not read yet
	for {
		n := 0
		for ; n < len(queue) && (queue[n].path == "" || r.states.covers(queue[n].path)); n++ {
			e := queue[n]
			if e.path == "" {
				percent = float64(e.done) * 100 / float64(topLen+1)
				continue
			}
			probes := r.res.Probed + r.res.ProbeErrors
			if err := r.record(ctx, e); err != nil {
				return err
			}
			if r.res.Probed+r.res.ProbeErrors != probes {
				// A slow ffprobe must not make a large directory look
				// stalled.
				progress.Report(percent, fmt.Sprintf("%d video files seen", r.res.Seen))
			}
		}
		queue = queue[n:]
		if n > 0 {
			// News (the pool writes reports at most once per second).
			progress.Report(percent, fmt.Sprintf("%d video files seen", r.res.Seen))
		}
		if batches == nil && reading == nil && len(queue) == 0 {
			if r.reading || !r.mustRead() {
				return nil
			}
			// Something recorded under the root is not in a matched
			// directory: compare as without digests.
			startReading()
			continue
		}
		in := batches
		if len(queue) >= walkAhead {
			in = nil // the walk waits for the pages
		}
		select {
		case batch, ok := <-in:
			if !ok {
				batches = nil
				continue
			}
			if !r.reading {
				// A file handed on is in a directory that does not
				// match: its record must be read.
				for _, e := range batch {
					if e.path != "" {
						startReading()
						break
					}
				}
			}
			if len(queue) == 0 {
				queue = batch // the walk does not touch it again
			} else {
				queue = append(queue, batch...)
			}
		case p, ok := <-reading:
			if !ok {
				reading = nil
				if readErr != nil {
					return readErr
				}
				r.states.done = true
				continue
			}
			if r.rowsIn != nil {
				for path := range p.States {
					r.rowsIn[dirOf(path)]++
				}
			}
			r.states.add(p)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// mustRead tells, once a walk that handed on no file is done, whether the
// recorded states must still be read: a path was unreadable, a recorded
// directory with files not missing was not matched (gone, or emptied), or
// some row under the root lies in a directory without a digest.
func (r *run) mustRead() bool {
	if len(r.unreadable) > 0 || len(r.walk.unreadable) > 0 {
		return true
	}
	sum := 0
	for dir, d := range r.walk.digests {
		sum += d.Rows
		if d.Live > 0 && !r.walk.dirs[dir].matched {
			return true
		}
	}
	return sum != r.digestRows
}

// dirOf is the directory of a recorded path.
func dirOf(path string) string {
	i := strings.LastIndexByte(path, '/')
	if i <= 0 {
		return "/"
	}
	return path[:i]
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
	old, known := r.states.take(e.path)
	kept := false // the record stays as it is
	if r.rowsIn != nil {
		dir := dirOf(e.path)
		if !known {
			r.rowsIn[dir]++
		}
		defer func() {
			if (kept && !old.Probed) || (!kept && !f.Probed()) {
				r.unprobed[dir] = true
			}
		}()
	}
	switch {
	case known && old.Size == f.Size && old.ModTime.Equal(f.ModTime):
		r.res.Unchanged++
		kept = true
		if !old.Probed && r.prober != nil {
			kept = false
			// Never probed (no ffprobe then) or the probe failed: try again.
			r.res.Reprobed++
			break
		}
		if old.Missing {
			return r.add(ctx, nil, e.path)
		}
		return nil // nothing to write
	case known:
		r.res.Changed++
		r.res.Bytes += f.Size
	default:
		r.res.New++
		r.res.Bytes += f.Size
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

// finish writes what is pending. After a complete walk (complete), the
// files the scan should have seen and did not are marked missing: every
// one under the root for a recursive scan, those directly in the root for
// a non-recursive one, the file itself for a scan of one file; never one
// under a path the walk could not read, nor one where lstat now finds a
// regular file (see gone).
func (r *run) finish(ctx context.Context, complete bool) error {
	if err := r.flush(ctx); err != nil {
		return err
	}
	if !complete {
		return nil
	}
	n, err := r.lib.MarkMissingPaths(ctx, r.gone(r.unseen()), r.started)
	r.res.Missing = n
	if err != nil {
		return err
	}
	return r.putDigests(ctx)
}

// putDigests records, after a complete scan that read the recorded states,
// the digests of the directories that did not match: those the walk
// digested, and those with rows that it did not find (with the digest of
// no file). It leaves out every directory the scan could not fully see:
// under an unreadable path, holding an unreadable file, or one where lstat
// found again a file the walk missed. Those are compared file by file next
// time.
func (r *run) putDigests(ctx context.Context) error {
	if r.digests == nil || !r.reading {
		return nil
	}
	blind := make(map[string]bool, len(r.unreadable))
	for _, u := range r.unreadable {
		blind[u] = true
		blind[dirOf(u)] = true
	}
	out := map[string]store.DirDigest{}
	add := func(dir string, digest []byte, files int) {
		rows := r.rowsIn[dir]
		if rows == 0 && files == 0 {
			return
		}
		if r.kept[dir] || blind[dir] || r.under(dir, blind) || files > rows {
			return
		}
		out[dir] = store.DirDigest{Digest: digest, Rows: rows, Live: files, Probed: !r.unprobed[dir]}
	}
	for dir, d := range r.walk.dirs {
		switch {
		case !d.matched:
			add(dir, d.digest, d.files)
		case !r.matchedAsRecorded(dir):
			out[dir] = store.DirDigest{} // compared file by file next time
		}
	}
	empty := sha256.New().Sum(nil)
	for dir := range r.rowsIn {
		if _, seen := r.walk.dirs[dir]; !seen && (dir == r.res.Root || strings.HasPrefix(dir, r.res.Root+"/")) {
			add(dir, empty, 0)
		}
	}
	if err := r.digests.PutDirDigests(ctx, out); err != nil {
		// The scan itself is recorded: the next one compares every file.
		r.log.Warnf("scan: %v", err)
	}
	return nil
}

// gone returns those of paths that are still not there: lstat finds
// nothing (or no regular file) at them. A path where a regular file is
// found again was created after the walk passed it, or is another scan's
// news; one lstat cannot examine keeps its state.
func (r *run) gone(paths []string) []string {
	out := paths[:0]
	for _, p := range paths {
		fi, err := r.lstat(p)
		switch {
		case err == nil && fi.Mode().IsRegular():
			r.keep(p)
			continue
		case err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR):
			r.log.WithField("file_path", p).Warnf("scan: cannot tell whether the file is gone, it keeps its recorded state: %v", err)
			r.keep(p)
			continue
		}
		out = append(out, p)
	}
	return out
}

// matchedAsRecorded tells whether dir matched its digest and holds as many
// rows as the digest counted (a row inserted without dropping the digest
// would not be there on disk).
func (r *run) matchedAsRecorded(dir string) bool {
	if r.walk == nil || !r.walk.dirs[dir].matched {
		return false
	}
	return r.rowsIn == nil || r.rowsIn[dir] == r.walk.digests[dir].Rows
}

// keep notes that the unseen path p keeps its record.
func (r *run) keep(p string) {
	if r.kept == nil {
		r.kept = map[string]bool{}
	}
	r.kept[dirOf(p)] = true
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
	for _, page := range r.states.pages {
		for path, st := range page.States {
			if st.Missing || (!r.recursive && filepath.Dir(path) != root && path != root) {
				continue
			}
			if r.matchedAsRecorded(dirOf(path)) {
				continue // its files are all there, as recorded
			}
			if r.under(path, blind) {
				r.res.Kept++
				continue
			}
			out = append(out, path)
		}
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
