package library

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/sirupsen/logrus"
)

// runner runs one library: its watcher, hold queue and rescans. Its
// goroutine (run) owns them; status is published under mu.
type runner struct {
	m      *Manager
	spec   Spec
	log    *logrus.Entry
	cancel context.CancelFunc
	done   chan struct{}
	// reqs carries files to hold (or forget) from other goroutines.
	reqs chan trackReq

	// Owned by run.
	fw       *fsnotify.Watcher
	dirs     map[string]bool
	hold     *holdQueue
	missing  []string
	warned   bool // the fallback was logged
	fallback bool

	mu sync.Mutex
	st Status
}

// trackReq asks the runner to hold path (a file a scan found changed or
// young) or to forget it (a file queued from elsewhere).
type trackReq struct {
	path   string
	forget bool
	// rewatch asks a library that fell back to rescans to try watching
	// again (a rescan was asked for).
	rewatch bool
}

func newRunner(m *Manager, s Spec) *runner {
	return &runner{
		m: m, spec: s, log: m.opts.Log.WithField("library", s.Path),
		done: make(chan struct{}), reqs: make(chan trackReq, 256),
		dirs: map[string]bool{}, hold: newHoldQueue(s.Hold), st: baseStatus(s),
	}
}

func (r *runner) status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.st
}

func (r *runner) update(f func(st *Status)) {
	r.mu.Lock()
	f(&r.st)
	r.mu.Unlock()
}

func (r *runner) setLastScan(t time.Time) {
	r.update(func(st *Status) { t := t; st.LastScan = &t })
}

// send hands req to the runner; dropped when it stopped.
func (r *runner) send(ctx context.Context, req trackReq) {
	select {
	case r.reqs <- req:
	case <-r.done:
	case <-ctx.Done():
	}
}

// errWatchLimit marks a watch that could not be added for a limit of the
// kernel (or of the test knob).
var errWatchLimit = errors.New("inotify watch limit reached")

func (r *runner) run(ctx context.Context) {
	defer close(r.done)
	defer r.closeWatcher()
	now := r.m.opts.Now
	if t, ok, err := r.m.opts.Store.LastScan(ctx, r.spec.Path); err != nil {
		r.log.Warnf("last scan of the library: %v", err)
	} else if ok {
		r.setLastScan(t)
	}
	if r.spec.Watch {
		if err := r.startWatch(); err != nil {
			r.fallBack(ctx, err, false)
		} else {
			r.log.WithField("watched_dirs", len(r.dirs)).Info("watching the library")
		}
	}
	ready := r.m.opts.Ready
	if ready == nil {
		c := make(chan struct{})
		close(c)
		ready = c
	}
	var (
		rescan   <-chan time.Time
		rescanT  *time.Timer
		holdT    = time.NewTimer(time.Hour)
		holdNext time.Time
	)
	holdT.Stop()
	defer holdT.Stop()
	schedule := func() {
		if rescanT != nil {
			rescanT.Stop()
		}
		rescan = nil
		iv := r.rescanInterval()
		if iv <= 0 {
			r.update(func(st *Status) { st.NextRescan = nil })
			return
		}
		next := now().Add(iv)
		rescanT = time.NewTimer(iv)
		rescan = rescanT.C
		r.update(func(st *Status) { st.NextRescan = &next })
	}
	defer func() {
		if rescanT != nil {
			rescanT.Stop()
		}
	}()
	for {
		wasFallback := r.fallback
		var events <-chan fsnotify.Event
		var errs <-chan error
		if r.fw != nil {
			events, errs = r.fw.Events, r.fw.Errors
		}
		select {
		case <-ctx.Done():
			return
		case <-ready:
			ready = nil
			r.rescan(ctx, "start-up")
			schedule()
		case <-rescan:
			r.rewatch()
			r.rescan(ctx, "periodic")
			schedule()
		case ev, ok := <-events:
			if ok {
				r.event(ctx, ev)
				r.drainEvents(ctx, events)
			}
		case err, ok := <-errs:
			if ok {
				r.watchError(ctx, err)
			}
		case req := <-r.reqs:
			r.request(req)
		case <-holdT.C:
			holdNext = time.Time{}
			r.due(ctx)
		}
		if r.fallback && !wasFallback && ready == nil {
			schedule() // rescans now come at least every FallbackInterval
		}
		r.flushMissing(ctx)
		if at, ok := r.hold.next(); ok && !at.Equal(holdNext) {
			holdT.Stop()
			holdNext = at
			holdT.Reset(max(at.Sub(now()), 0))
		} else if !ok && !holdNext.IsZero() {
			holdT.Stop()
			holdNext = time.Time{}
		}
		n := r.hold.len()
		r.update(func(st *Status) { st.Pending = n })
	}
}

// drainEvents handles the events already waiting, so that a burst is
// handled before the bookkeeping of the loop.
func (r *runner) drainEvents(ctx context.Context, events <-chan fsnotify.Event) {
	for range 1024 {
		if r.fw == nil {
			return
		}
		select {
		case ev, ok := <-events:
			if !ok {
				return
			}
			r.event(ctx, ev)
		default:
			return
		}
	}
}

// rescanInterval is the time between periodic rescans: the configured
// one, at most FallbackInterval while the watch failed.
func (r *runner) rescanInterval() time.Duration {
	iv := r.spec.RescanInterval
	if r.fallback && (iv <= 0 || iv > r.m.opts.FallbackInterval) {
		iv = r.m.opts.FallbackInterval
	}
	return iv
}

func (r *runner) rescan(ctx context.Context, why string) {
	id, err := r.m.queueRescan(ctx, r.spec)
	if err != nil {
		if ctx.Err() == nil {
			r.log.Errorf("queue the %s rescan: %v", why, err)
		}
		return
	}
	r.log.WithField("job_id", id).Infof("%s rescan queued", why)
}

// startWatch creates the watcher and watches every directory of the
// library.
func (r *runner) startWatch() error {
	fw, err := fsnotify.NewBufferedWatcher(4096)
	if err != nil {
		if errors.Is(err, syscall.EMFILE) {
			return fmt.Errorf("cannot create an inotify instance (fs.inotify.max_user_instances reached): %w", errWatchLimit)
		}
		return fmt.Errorf("cannot create an inotify instance: %w", err)
	}
	r.fw = fw
	_, err = r.addTree(r.spec.Path, false)
	return err
}

// closeWatcher closes the watcher and releases its watches.
func (r *runner) closeWatcher() {
	if r.fw == nil {
		return
	}
	_ = r.fw.Close()
	r.fw = nil
	r.m.watches.Add(-int64(len(r.dirs)))
	r.dirs = map[string]bool{}
	r.update(func(st *Status) { st.Watching, st.WatchedDirs = false, 0 })
}

// addTree watches dir and every directory under it. With files, it
// returns the video files found in them (files written before the watch
// was added, which no event will announce). A directory that cannot be
// read is logged and left out; a limit reached is an error wrapping
// errWatchLimit.
func (r *runner) addTree(dir string, files bool) ([]string, error) {
	var found []string
	// From "dir/": a library whose root is a symbolic link to a directory
	// is walked (and watched) through it.
	err := filepath.WalkDir(dir+string(filepath.Separator), func(path string, d fs.DirEntry, err error) error {
		path = filepath.Clean(path)
		if err != nil {
			if path == dir && isNotExist(err) {
				return fs.SkipAll
			}
			r.log.WithField("file_path", path).Warnf("not watched: %v", err)
			if d != nil && d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if !d.IsDir() {
			if files && d.Type().IsRegular() && wanted(path, false) {
				found = append(found, path)
			}
			return nil
		}
		if r.dirs[path] {
			return nil
		}
		if lim := r.m.opts.WatchLimit; lim > 0 && r.m.watches.Load() >= int64(lim) {
			return fmt.Errorf("watch %s: test watch limit of %d directories (VPO_TEST_WATCH_LIMIT): %w", path, lim, errWatchLimit)
		}
		if err := r.fw.Add(path); err != nil {
			switch {
			case errors.Is(err, syscall.ENOSPC):
				return fmt.Errorf("watch %s: fs.inotify.max_user_watches reached (raise it: sysctl -w fs.inotify.max_user_watches=N, and a file in /etc/sysctl.d/): %w", path, errWatchLimit)
			case isNotExist(err):
				return fs.SkipDir
			default:
				r.log.WithField("file_path", path).Warnf("not watched: %v", err)
				return fs.SkipDir
			}
		}
		r.dirs[path] = true
		r.m.watches.Add(1)
		return nil
	})
	n := len(r.dirs)
	r.update(func(st *Status) { st.Watching, st.WatchedDirs = r.fw != nil, n })
	return found, err
}

// dropTree forgets the watches of dir and the directories under it (gone,
// or renamed: a renamed directory's watch would report the old names).
func (r *runner) dropTree(dir string) {
	for d := range r.dirs {
		if d == dir || hasPrefixDir(d, dir) {
			if r.fw != nil {
				_ = r.fw.Remove(d)
			}
			delete(r.dirs, d)
			r.m.watches.Add(-1)
		}
	}
	n := len(r.dirs)
	r.update(func(st *Status) { st.WatchedDirs = n })
}

// fallBack stops watching after err: logged once, shown in the status,
// and (rescan) an immediate rescan; from now on the library is rescanned
// at least every FallbackInterval.
func (r *runner) fallBack(ctx context.Context, err error, rescan bool) {
	r.closeWatcher()
	r.fallback = true
	reason := err.Error()
	r.update(func(st *Status) { st.Watching, st.FallbackReason = false, reason })
	if !r.warned {
		r.warned = true
		r.log.Warnf("not watching the library any more, rescanning it every %s instead: %v", r.rescanInterval(), err)
	}
	if rescan {
		r.rescan(ctx, "fallback")
	}
}

// rewatch tries to watch a library that fell back to rescans again (its
// directory is back, watches were freed, the overflow is over). On
// success the fallback ends (logged once); otherwise nothing changes. The
// rescan that goes with it catches what happened meanwhile.
func (r *runner) rewatch() {
	if !r.fallback || !r.spec.Watch {
		return
	}
	if fi, err := os.Stat(r.spec.Path); err != nil || !fi.IsDir() {
		return // still gone: nothing to watch yet
	}
	if err := r.startWatch(); err != nil {
		r.closeWatcher()
		r.update(func(st *Status) { st.Watching = false })
		return
	}
	r.fallback, r.warned = false, false
	n := len(r.dirs)
	r.update(func(st *Status) { st.Watching, st.WatchedDirs, st.FallbackReason = true, n, "" })
	r.log.WithField("watched_dirs", n).Info("watching the library again")
}

// watchError handles an error of the watcher: an overflowing event queue
// (events were lost) makes the library fall back to rescans.
func (r *runner) watchError(ctx context.Context, err error) {
	if errors.Is(err, fsnotify.ErrEventOverflow) {
		r.fallBack(ctx, fmt.Errorf("the inotify event queue overflowed (events were lost): %w", err), true)
		return
	}
	r.log.Warnf("watcher: %v", err)
}

// event handles one file-system event.
func (r *runner) event(ctx context.Context, ev fsnotify.Event) {
	path := ev.Name
	now := r.m.opts.Now()
	switch {
	case ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename):
		r.gone(ctx, path)
	case ev.Has(fsnotify.Create):
		fi, err := os.Lstat(path)
		if err != nil {
			return
		}
		if fi.IsDir() {
			files, err := r.addTree(path, true)
			for _, f := range files {
				if fi, err := os.Lstat(f); err == nil {
					r.seen(f, fi, true, now)
				}
			}
			if err != nil && errors.Is(err, errWatchLimit) {
				r.fallBack(ctx, err, true)
			}
			return
		}
		r.seen(path, fi, true, now)
	case ev.Has(fsnotify.Write):
		if fi, err := os.Lstat(path); err == nil {
			r.seen(path, fi, true, now)
		}
	case ev.Has(fsnotify.Chmod):
		if fi, err := os.Lstat(path); err == nil {
			r.seen(path, fi, false, now)
		}
	}
}

// seen holds a regular video file that an event (changed: a write)
// announced.
func (r *runner) seen(path string, fi fs.FileInfo, changed bool, now time.Time) {
	if fi.Mode().IsRegular() && wanted(path, r.spec.Policy != "") {
		r.hold.touch(path, fi.Size(), fi.ModTime(), changed, now)
	}
}

// gone handles the removal (or renaming away) of path: a watched
// directory's watches are dropped and the recorded files under it marked
// missing; a file is forgotten and marked missing.
func (r *runner) gone(ctx context.Context, path string) {
	if _, err := os.Lstat(path); err == nil {
		// Replaced at once (renamed over): a change, not a removal.
		if fi, err := os.Lstat(path); err == nil && !fi.IsDir() {
			r.seen(path, fi, true, r.m.opts.Now())
		}
		return
	}
	if path == r.spec.Path {
		// The root itself went away (removed, renamed, unmounted): keep
		// every record as it is, rather than take the library for empty.
		r.fallBack(ctx, errors.New("the library's directory was removed or renamed; its files keep their recorded state"), false)
		return
	}
	if r.dirs[path] {
		r.dropTree(path)
		for p := range r.hold.entries {
			if hasPrefixDir(p, path) {
				r.hold.forget(p)
			}
		}
		states, err := r.m.opts.Store.FileStates(ctx, path)
		if err != nil {
			r.log.WithField("file_path", path).Errorf("files under a removed directory: %v", err)
			return
		}
		for p, st := range states {
			if !st.Missing {
				r.missing = append(r.missing, p)
			}
		}
		return
	}
	r.hold.forget(path)
	if wanted(path, false) {
		r.missing = append(r.missing, path)
	}
}

// flushMissing marks the files noted gone missing (those still gone).
func (r *runner) flushMissing(ctx context.Context) {
	if len(r.missing) == 0 {
		return
	}
	paths := r.missing[:0]
	for _, p := range r.missing {
		if _, err := os.Lstat(p); isNotExist(err) {
			paths = append(paths, p)
		}
	}
	r.missing = nil
	if len(paths) == 0 {
		return
	}
	n, err := r.m.opts.Store.MarkMissingPaths(ctx, paths, r.m.opts.Now())
	if err != nil {
		if ctx.Err() == nil {
			r.log.Errorf("mark %d removed files missing: %v", len(paths), err)
		}
		return
	}
	if n > 0 {
		r.log.WithField("files", n).Info("removed files marked missing")
	}
}

// request handles a trackReq.
func (r *runner) request(req trackReq) {
	if req.rewatch {
		r.rewatch()
		return
	}
	if req.forget {
		r.hold.forget(req.path)
		return
	}
	if fi, err := os.Lstat(req.path); err == nil && fi.Mode().IsRegular() {
		r.hold.touch(req.path, fi.Size(), fi.ModTime(), true, r.m.opts.Now())
	}
}

// due looks again at the files whose hold ended: one unchanged since is
// acted on, a changed one is held again.
func (r *runner) due(ctx context.Context) {
	now := r.m.opts.Now()
	record := map[string]string{} // directory → a stable file in it
	for path, h := range r.hold.popDue(now) {
		fi, err := os.Lstat(path)
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		if fi.Size() != h.size || !fi.ModTime().Equal(h.mtime) {
			r.hold.touch(path, fi.Size(), fi.ModTime(), true, now)
			continue
		}
		queued, err := r.act(ctx, path, fi)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			r.log.WithField("file_path", path).Errorf("queue the stable file: %v", err)
			continue
		}
		if queued {
			record[filepath.Dir(path)] = path
		}
	}
	// The files are recorded by one scan of each directory (an apply may
	// wait for a processing window or a paused queue; scans always run).
	for _, path := range record {
		id, err := r.m.queueFileScan(ctx, path)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			r.log.WithField("file_path", path).Errorf("queue the scan that records the stable file: %v", err)
			continue
		}
		r.log.WithFields(logrus.Fields{"file_path": filepath.Dir(path), "job_id": id}).Debug("scan of new or changed files queued")
	}
}

// act queues the apply of the library's policy to a stable file unless it
// was applied to this very content; queued tells whether the file is new
// or changed (a scan is to record it).
func (r *runner) act(ctx context.Context, path string, fi fs.FileInfo) (queued bool, err error) {
	if r.spec.Policy == "" {
		return true, nil
	}
	log := r.log.WithField("file_path", path)
	size, mtime, ok, err := r.m.opts.Store.AppliedState(ctx, path, r.spec.Policy)
	if err != nil {
		return false, err
	}
	if ok && size == fi.Size() && mtime.Equal(fi.ModTime()) {
		log.Debug("stable file: the policy was applied to it as it is; nothing to queue")
		return false, nil
	}
	id, created, err := r.m.queueApply(ctx, r.spec.Policy, path)
	if err != nil {
		return false, err
	}
	if created {
		log.WithField("job_id", id).Info("stable file: apply queued")
	}
	return true, nil
}
