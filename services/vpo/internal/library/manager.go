package library

import (
	"context"
	"errors"
	"fmt"
	"github.com/vpo-project/vpo/services/vpo/internal/scan"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/vpo-project/vpo/libs/store"
)

// Store is the part of the library database the manager reads and writes
// (*store.Store).
type Store interface {
	CreateUniqueJob(ctx context.Context, nj store.NewJob) (store.Job, bool, error)
	AppliedState(ctx context.Context, path, policy string) (size int64, mtime time.Time, ok bool, err error)
	FilesToApply(ctx context.Context, root, policy, after string, limit int) ([]store.FileRef, error)
	FileStates(ctx context.Context, root string) (map[string]store.FileState, error)
	MarkMissingPaths(ctx context.Context, paths []string, scannedBefore time.Time) (int, error)
	LastScan(ctx context.Context, root string) (time.Time, bool, error)
	CancelQueuedApplies(ctx context.Context, root, policy, msg string, now time.Time) (int, error)
	UniqueJobRunning(ctx context.Context, key string) (bool, error)
}

// ErrOutsideLibraries is returned by EnqueueImported for a path that no
// library contains.
var ErrOutsideLibraries = errors.New("the path is in no configured library")

// ErrNotQueued is returned by EnqueueImported for a file inside a library
// that vpo does not act on: not a regular file, not a video file, or a
// kept original.
var ErrNotQueued = errors.New("not a file vpo acts on")

// ErrUnknownLibrary is returned by Rescan for an id no library has.
var ErrUnknownLibrary = errors.New("no such library")

// DefaultFallbackInterval is the time between rescans of a library whose
// watch failed, when its rescan_interval is longer (or 0).
const DefaultFallbackInterval = 15 * time.Minute

// Priority is the priority of the jobs the manager queues (the API's
// default).
const Priority = 500

// Options configures New.
type Options struct {
	Store Store
	Log   *logrus.Entry
	// Submitted is called after a job was queued (wakes idle workers).
	Submitted func()
	// Ready, when not nil, delays the start-up rescans until it is closed
	// (the daemon is ready).
	Ready <-chan struct{}
	// FallbackInterval overrides DefaultFallbackInterval.
	FallbackInterval time.Duration
	// WatchLimit, when > 0, is a test knob: adding a directory watch
	// beyond this many (all libraries together) fails as the kernel's
	// fs.inotify.max_user_watches does (ENOSPC). The daemon sets it only
	// with jobs.test_kinds on, from VPO_TEST_WATCH_LIMIT.
	WatchLimit int
	// Now is time.Now; tests replace it.
	Now func() time.Time
}

// Manager runs the libraries: a lifecycle actor (Name, Run, Shutdown).
type Manager struct {
	opts    Options
	changed chan struct{}
	quit    chan struct{}
	stop    sync.Once
	done    chan struct{}
	// watches counts the directory watches in use (WatchLimit).
	watches atomic.Int64

	mu    sync.Mutex
	specs []Spec
	// dropped are the libraries (path and policy) Set took a policy from;
	// Run cancels their queued applies.
	dropped []Spec
	runners map[string]*runner
}

// New returns a manager of specs (see Set); Run starts it.
func New(opts Options, specs []Spec) *Manager {
	if opts.Submitted == nil {
		opts.Submitted = func() {}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.FallbackInterval <= 0 {
		opts.FallbackInterval = DefaultFallbackInterval
	}
	if opts.Log == nil {
		l := logrus.New()
		l.SetOutput(nopWriter{})
		opts.Log = logrus.NewEntry(l)
	}
	m := &Manager{
		opts: opts, changed: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{}),
		runners: map[string]*runner{},
	}
	m.Set(specs)
	return m
}

type nopWriter struct{}

func (nopWriter) Write(p []byte) (int, error) { return len(p), nil }

// Name implements lifecycle.Actor.
func (m *Manager) Name() string { return "libraries" }

// Set replaces the libraries (a reload): the watchers of removed
// libraries stop, those of added ones start, and a library whose settings
// changed restarts. Unchanged libraries keep running as they are.
func (m *Manager) Set(specs []Spec) {
	norm := make([]Spec, 0, len(specs))
	for _, s := range specs {
		norm = append(norm, s.normalize())
	}
	m.mu.Lock()
	for _, o := range m.specs {
		if o.Policy != "" && !slices.ContainsFunc(norm, func(n Spec) bool { return n.Path == o.Path && n.Policy == o.Policy }) {
			m.dropped = append(m.dropped, o)
		}
	}
	m.specs = norm
	m.mu.Unlock()
	select {
	case m.changed <- struct{}{}:
	default:
	}
}

// dropPending cancels the queued applies a library queued under a policy
// it no longer has (the library was removed, or given another policy or
// none; Set lists them): the configuration that wanted them is gone.
// Applies already running finish.
func (m *Manager) dropPending(ctx context.Context) {
	m.mu.Lock()
	dropped := m.dropped
	m.dropped = nil
	m.mu.Unlock()
	for _, o := range dropped {
		msg := fmt.Sprintf("not applied: library %s no longer has policy %q (configuration reloaded)", o.Path, o.Policy)
		dctx, cancel := context.WithTimeout(ctx, dropTimeout)
		n, err := m.opts.Store.CancelQueuedApplies(dctx, o.Path, o.Policy, msg, m.opts.Now())
		cancel()
		log := m.opts.Log.WithFields(logrus.Fields{"library": o.Path, "policy": o.Policy})
		switch {
		case err != nil:
			log.Errorf("cancel the queued applies of the policy the library no longer has: %v", err)
		case n > 0:
			log.WithField("cancelled", n).Warn("queued applies cancelled: the library no longer has this policy")
		}
	}
}

// dropTimeout bounds the cancellation of a library's queued applies.
const dropTimeout = 30 * time.Second

// Run runs the libraries until ctx ends or Shutdown is called.
func (m *Manager) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer close(m.done)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-m.quit:
			return nil
		case <-m.changed:
			m.dropPending(ctx)
			m.reconcile(ctx, &wg)
		}
	}
}

// Shutdown stops Run and waits for its watchers to stop (or ctx to end).
func (m *Manager) Shutdown(ctx context.Context) error {
	m.stop.Do(func() { close(m.quit) })
	select {
	case <-m.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// reconcile starts and stops runners to match the specs.
func (m *Manager) reconcile(ctx context.Context, wg *sync.WaitGroup) {
	m.mu.Lock()
	specs := m.specs
	var stale []*runner
	want := map[string]Spec{}
	for _, s := range specs {
		want[s.ID] = s
	}
	for id, r := range m.runners {
		if s, ok := want[id]; !ok || s != r.spec {
			stale = append(stale, r)
			delete(m.runners, id)
		}
	}
	m.mu.Unlock()
	for _, r := range stale {
		r.cancel()
		<-r.done
		r.log.Info("library watcher stopped")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range specs {
		if _, ok := m.runners[s.ID]; ok {
			continue
		}
		r := newRunner(m, s)
		rctx, rcancel := context.WithCancel(ctx)
		r.cancel = rcancel
		m.runners[s.ID] = r
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.run(rctx)
		}()
	}
}

// Status returns the state of every library, in configuration order.
func (m *Manager) Status() []Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Status, 0, len(m.specs))
	for _, s := range m.specs {
		if r, ok := m.runners[s.ID]; ok && r.spec == s {
			out = append(out, r.status())
			continue
		}
		out = append(out, baseStatus(s))
	}
	return out
}

func baseStatus(s Spec) Status {
	return Status{
		ID: s.ID, Path: s.Path, Policy: s.Policy, Watch: s.Watch,
		Hold: s.Hold.String(), RescanInterval: s.RescanInterval.String(),
	}
}

// Rescan queues a scan of the root of the library id (or returns the one
// already queued) and returns its job id.
func (m *Manager) Rescan(ctx context.Context, id string) (string, error) {
	s, ok := m.spec(func(s Spec) bool { return s.ID == id })
	if !ok {
		return "", fmt.Errorf("library %q: %w", id, ErrUnknownLibrary)
	}
	// A library that fell back to rescans tries to watch again.
	m.runnerOf(s.ID, func(r *runner) { r.send(ctx, trackReq{rewatch: true}) })
	return m.queueRescan(ctx, s)
}

// EnqueueImported queues the work for a file another application (Sonarr,
// Radarr) says it imported: an apply of the policy of the library that
// contains path, or a scan of it when that library has none. The file is
// taken as complete (no hold). source names the caller in the log. It
// returns ErrOutsideLibraries (wrapped) when no library contains path, and
// an error wrapping fs.ErrNotExist when the file is not there.
func (m *Manager) EnqueueImported(ctx context.Context, path, source string) (string, error) {
	if !filepath.IsAbs(path) {
		return "", fmt.Errorf("imported file %q: not an absolute path: %w", path, ErrOutsideLibraries)
	}
	path = filepath.Clean(path)
	s, ok := m.libraryOf(path)
	if !ok {
		return "", fmt.Errorf("imported file %q: %w", path, ErrOutsideLibraries)
	}
	fi, err := os.Lstat(path)
	if err != nil {
		return "", fmt.Errorf("imported file %q: %w", path, err)
	}
	if err := underRealRoot(s.Path, path); err != nil {
		return "", fmt.Errorf("imported file %q: %w", path, err)
	}
	// What the watcher would not act on is refused too.
	switch {
	case !fi.Mode().IsRegular():
		return "", fmt.Errorf("imported file %q is not a regular file (a directory, a symbolic link, …): %w", path, ErrNotQueued)
	case !wanted(path, false):
		return "", fmt.Errorf("imported file %q is not a video file vpo handles (%s): %w", path, scan.VideoExtensions, ErrNotQueued)
	case s.Policy != "" && !wanted(path, true):
		return "", fmt.Errorf("imported file %q is the original vpo kept of a file it rewrote: %w", path, ErrNotQueued)
	}
	var id string
	if s.Policy != "" {
		id, _, err = m.queueApply(ctx, s.Policy, path)
	} else {
		id, err = m.queueFileScan(ctx, path)
	}
	if err != nil {
		return "", err
	}
	m.runnerOf(s.ID, func(r *runner) { r.send(ctx, trackReq{path: path, forget: true}) })
	m.opts.Log.WithFields(logrus.Fields{"file_path": path, "source": source, "job_id": id, "library": s.Path}).
		Info("imported file queued")
	return id, nil
}

// underRealRoot checks that path, inside the library at root, is reached
// without a symbolic link below root (the watcher and the scans follow
// none either): a link could lead out of the library, or give one file a
// second name that escapes the one-job-per-file rule.
func underRealRoot(root, path string) error {
	rel, err := filepath.Rel(root, path)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNotQueued, err)
	}
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return fmt.Errorf("library %q: %w", root, err)
	}
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return err
	}
	if real != filepath.Join(realRoot, rel) {
		return fmt.Errorf("reached through a symbolic link (it is %q): %w", real, ErrNotQueued)
	}
	return nil
}

// ScanFinished is the scanner's hook after a completed scan of root: for
// the scan of a whole library (root is its path), it records the time,
// and when the library has a policy queues an apply of every recorded file
// under root its policy was
// not applied to at the file's size and mtime: at once for a file
// unchanged for its hold, through the hold queue for a younger one.
func (m *Manager) ScanFinished(ctx context.Context, root string) {
	root = filepath.Clean(root)
	now := m.opts.Now()
	if s, ok := m.spec(func(s Spec) bool { return s.Path == root }); ok {
		m.runnerOf(s.ID, func(r *runner) { r.setLastScan(now) })
	}
	// Only a scan of a whole library: the scans of one directory that
	// the watcher queues (to record new files) come with the applies
	// already queued.
	s, ok := m.spec(func(s Spec) bool { return s.Path == root })
	if !ok || s.Policy == "" {
		return
	}
	log := m.opts.Log.WithField("library", s.Path)
	queued, held := 0, 0
	after := ""
	for {
		refs, err := m.opts.Store.FilesToApply(ctx, root, s.Policy, after, filesPage)
		if err != nil {
			log.Errorf("after the scan of %s: %v", root, err)
			return
		}
		for _, ref := range refs {
			if !wanted(ref.Path, true) {
				continue
			}
			fi, err := os.Lstat(ref.Path)
			if err != nil || !fi.Mode().IsRegular() {
				continue // gone since: the watcher or the next scan sees it
			}
			if fi.Size() != ref.Size || !fi.ModTime().Equal(ref.ModTime) || now.Sub(fi.ModTime()) < s.Hold {
				held++
				m.runnerOf(s.ID, func(r *runner) { r.send(ctx, trackReq{path: ref.Path}) })
				continue
			}
			// An apply of the file that runs now records it when done
			// (the scan may have read the file before that apply's
			// rewrite): no second one.
			if running, err := m.opts.Store.UniqueJobRunning(ctx, store.ApplyKey(s.Policy, ref.Path)); err != nil {
				log.WithField("file_path", ref.Path).Errorf("queue apply: %v", err)
				return
			} else if running {
				continue
			}
			if _, created, err := m.queueApply(ctx, s.Policy, ref.Path); err != nil {
				log.WithField("file_path", ref.Path).Errorf("queue apply: %v", err)
				return
			} else if created {
				queued++
			}
		}
		if len(refs) < filesPage {
			break
		}
		after = refs[len(refs)-1].Path
	}
	if queued+held > 0 {
		log.WithFields(logrus.Fields{"queued": queued, "held": held, "policy": s.Policy}).
			Info("after the scan: applies queued for new and changed files")
	}
}

// filesPage is the page size of FilesToApply.
const filesPage = 500

// spec returns the first library that match accepts.
func (m *Manager) spec(match func(Spec) bool) (Spec, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range m.specs {
		if match(s) {
			return s, true
		}
	}
	return Spec{}, false
}

// libraryOf returns the library containing path (or whose root it is);
// the deepest one, should libraries nest.
func (m *Manager) libraryOf(path string) (Spec, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var best Spec
	found := false
	for _, s := range m.specs {
		if within(path, s.Path) && (!found || len(s.Path) > len(best.Path)) {
			best, found = s, true
		}
	}
	return best, found
}

// within tells whether path is root or under it.
func within(path, root string) bool {
	if path == root {
		return true
	}
	if root == "/" {
		return strings.HasPrefix(path, "/")
	}
	return strings.HasPrefix(path, root+"/")
}

// runnerOf calls f with the running runner of library id, if any.
func (m *Manager) runnerOf(id string, f func(*runner)) {
	m.mu.Lock()
	r := m.runners[id]
	m.mu.Unlock()
	if r != nil {
		f(r)
	}
}

// isNotExist tells whether err says the file is not there.
func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
