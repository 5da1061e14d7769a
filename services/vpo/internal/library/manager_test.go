package library_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vpo-project/vpo/libs/store"
	"github.com/vpo-project/vpo/services/vpo/internal/library"
)

const (
	applyKind = "apply"
	scanKind  = "scan"
)

func policySpec(root string, hold time.Duration) library.Spec {
	return library.Spec{Path: root, Policy: "normalize", Watch: true, Hold: hold}
}

// TestSlowWriteQueuedOnceAfterItStops: a file written in chunks, each
// sooner than the hold after the last, gets no job while it grows, and
// exactly one apply once it stopped changing for the hold.
func TestSlowWriteQueuedOnceAfterItStops(t *testing.T) {
	root := t.TempDir()
	hold := 600 * time.Millisecond
	h := startManager(t, library.Options{}, policySpec(root, hold))
	h.waitWatching(root, 1)
	path := filepath.Join(root, "movie.mkv")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for i := range 20 {
		if _, err := f.WriteString(strings.Repeat("x", 1000)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(hold / 12)
		if n := h.st.jobsOf(applyKind, path); n != 0 {
			t.Fatalf("an apply was queued after chunk %d, while the file still changes", i+1)
		}
	}
	h.eventually("one apply of the file", func() bool { return h.st.jobsOf(applyKind, path) == 1 })
	time.Sleep(2 * hold)
	if n := h.st.jobsOf(applyKind, path); n != 1 {
		t.Fatalf("%d applies queued, want 1", n)
	}
	if _, n := h.st.maxCalls(); n != 1 {
		t.Errorf("a unique key was asked for %d times; events must be coalesced per path", n)
	}
	j := h.st.queued()
	if !slices.ContainsFunc(j, func(j job) bool { return j.Kind == applyKind && j.Policy == "normalize" }) {
		t.Errorf("jobs %+v: no apply of policy normalize", j)
	}
	if s, _ := h.status(root); s.Pending != 0 {
		t.Errorf("pending %d after the apply was queued, want 0", s.Pending)
	}
}

// TestBurstIsCoalesced: many files written at once each get one job,
// asked for once.
func TestBurstIsCoalesced(t *testing.T) {
	root := t.TempDir()
	h := startManager(t, library.Options{}, policySpec(root, 200*time.Millisecond))
	h.waitWatching(root, 1)
	const n = 300
	for i := range n {
		p := filepath.Join(root, fmt.Sprintf("ep%03d.mkv", i))
		writeFile(t, p, "a")
		f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = f.WriteString("more")
		f.Close()
	}
	// Not videos: never queued.
	writeFile(t, filepath.Join(root, "notes.txt"), "x")
	writeFile(t, filepath.Join(root, ".ep000.vpo-tmp-0123456789abcdef.mkv"), "x")
	writeFile(t, filepath.Join(root, "ep000.original.mkv"), "x")
	h.eventually("an apply of every file", func() bool {
		c := 0
		for _, j := range h.st.queued() {
			if j.Kind == applyKind {
				c++
			}
		}
		return c >= n
	})
	time.Sleep(500 * time.Millisecond)
	c := 0
	for _, j := range h.st.queued() {
		if j.Kind == applyKind {
			c++
			if !strings.HasPrefix(filepath.Base(j.Path), "ep") || strings.Contains(j.Path, "original") {
				t.Errorf("apply of %s queued", j.Path)
			}
		}
	}
	if c != n {
		t.Errorf("%d applies queued, want %d", c, n)
	}
	if key, calls := h.st.maxCalls(); calls != 1 {
		t.Errorf("unique key %s asked for %d times, want once", key, calls)
	}
	// The new files are recorded by one scan of their directory (besides
	// the start-up rescan), which runs even while the applies wait (a
	// window, a pause).
	dirScans := 0
	for _, j := range h.st.queued() {
		if j.Kind == scanKind && j.Path == root && j.Recursive != nil && !*j.Recursive {
			dirScans++
		}
	}
	if dirScans != 1 {
		t.Errorf("%d scans of the directory %s queued, want 1", dirScans, root)
	}
}

// TestAppliedContentIsNotQueuedAgain: a file the policy was applied to as
// it is now gets no apply; once it changes, it does.
func TestAppliedContentIsNotQueuedAgain(t *testing.T) {
	root := t.TempDir()
	path := filepath.Join(root, "a.mkv")
	writeFile(t, path, "done")
	h := startManager(t, library.Options{}, policySpec(root, 100*time.Millisecond))
	h.waitWatching(root, 1)
	fi, _ := os.Stat(path)
	h.st.setApplied(path, "normalize", fi)
	// Touched without a change of size or mtime (chmod): nothing to do.
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	old := fi.ModTime()
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	if n := h.st.jobsOf(applyKind, path); n != 0 {
		t.Fatalf("%d applies of content already applied", n)
	}
	writeFile(t, path, "changed content")
	h.eventually("an apply of the changed file", func() bool { return h.st.jobsOf(applyKind, path) == 1 })
}

// TestDirectoryCreatedLaterIsWatched: a directory tree made after the
// start is watched, the files already in it when the watch was added
// included, and so are files written into it later.
func TestDirectoryCreatedLaterIsWatched(t *testing.T) {
	root := t.TempDir()
	h := startManager(t, library.Options{}, policySpec(root, 100*time.Millisecond))
	h.waitWatching(root, 1)
	early := filepath.Join(root, "show", "season 1", "e1.mkv")
	writeFile(t, early, "early") // MkdirAll + write at once: before any watch of them
	h.eventually("the file written with its directories", func() bool { return h.st.jobsOf(applyKind, early) == 1 })
	h.waitWatching(root, 3)
	late := filepath.Join(root, "show", "season 1", "e2.mkv")
	writeFile(t, late, "late")
	h.eventually("the file written into the new directory", func() bool { return h.st.jobsOf(applyKind, late) == 1 })
}

// TestRemovedFilesAreMarkedMissing: a removed file, and the files of a
// directory renamed away, are marked missing; the moved files are seen at
// their new place.
func TestRemovedFilesAreMarkedMissing(t *testing.T) {
	root := t.TempDir()
	a := filepath.Join(root, "a.mkv")
	b := filepath.Join(root, "dir", "b.mkv")
	writeFile(t, a, "a")
	writeFile(t, b, "b")
	h := startManager(t, library.Options{}, policySpec(root, 100*time.Millisecond))
	h.st.record(t, a)
	h.st.record(t, b)
	h.waitWatching(root, 2)
	if err := os.Remove(a); err != nil {
		t.Fatal(err)
	}
	h.eventually("a.mkv marked missing", func() bool { return slices.Contains(h.st.markedPaths(), a) })
	moved := filepath.Join(root, "moved")
	if err := os.Rename(filepath.Join(root, "dir"), moved); err != nil {
		t.Fatal(err)
	}
	h.eventually("dir/b.mkv marked missing", func() bool { return slices.Contains(h.st.markedPaths(), b) })
	nb := filepath.Join(moved, "b.mkv")
	h.eventually("the moved file queued", func() bool { return h.st.jobsOf(applyKind, nb) == 1 })
	h.waitWatching(root, 2)
}

// TestNoPolicyScansTheFile: in a library without a policy a stable new
// file gets a scan that records it (its directory's, not recursive).
func TestNoPolicyScansTheFile(t *testing.T) {
	root := t.TempDir()
	h := startManager(t, library.Options{}, library.Spec{Path: root, Watch: true, Hold: 100 * time.Millisecond})
	h.waitWatching(root, 1)
	sub := filepath.Join(root, "sub")
	writeFile(t, filepath.Join(sub, "x.mp4"), "x")
	h.eventually("a scan of the file's directory", func() bool {
		for _, j := range h.st.queued() {
			if j.Kind == scanKind && j.Path == sub && j.Recursive != nil && !*j.Recursive {
				return true
			}
		}
		return false
	})
	for _, j := range h.st.queued() {
		if j.Kind == applyKind {
			t.Errorf("apply queued in a library without policy: %+v", j)
		}
	}
}

// TestStartupRescanWaitsForReady: the start-up rescan of the root is
// queued once the daemon is ready, not before.
func TestStartupRescanWaitsForReady(t *testing.T) {
	root := t.TempDir()
	ready := make(chan struct{})
	h := startManager(t, library.Options{Ready: ready},
		library.Spec{Path: root, Watch: false, RescanInterval: time.Hour})
	time.Sleep(300 * time.Millisecond)
	if n := h.st.jobsOf(scanKind, root); n != 0 {
		t.Fatalf("%d scans before ready", n)
	}
	close(ready)
	h.eventually("the start-up rescan", func() bool { return h.st.jobsOf(scanKind, root) == 1 })
	h.eventually("next_rescan set", func() bool {
		s, _ := h.status(root)
		return s.NextRescan != nil
	})
	s, _ := h.status(root)
	if s.Watching || s.FallbackReason != "" || s.ID != library.ID(root) {
		t.Errorf("status %+v: want not watching, no fallback, id %s", s, library.ID(root))
	}
}

// TestPeriodicRescan: rescans come every rescan_interval (a second
// rescan is queued once the first left the queue).
func TestPeriodicRescan(t *testing.T) {
	root := t.TempDir()
	h := startManager(t, library.Options{}, library.Spec{Path: root, RescanInterval: 200 * time.Millisecond})
	h.eventually("the start-up rescan", func() bool { return h.st.jobsOf(scanKind, root) == 1 })
	// Let the queued scan "run": the key is free again.
	h.st.mu.Lock()
	clear(h.st.keys)
	h.st.mu.Unlock()
	h.eventually("a periodic rescan", func() bool { return h.st.jobsOf(scanKind, root) == 2 })
}

// TestWatchLimitFallsBackToRescans: when the watches run out, the library
// says why it is not watched, is rescanned at once, and the warning is
// logged once.
func TestWatchLimitFallsBackToRescans(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"a", "b", "c/d"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	h := startManager(t, library.Options{WatchLimit: 2, FallbackInterval: time.Hour}, policySpec(root, time.Second))
	h.eventually("the fallback in the status", func() bool {
		s, _ := h.status(root)
		return !s.Watching && strings.Contains(s.FallbackReason, "watch limit")
	})
	h.eventually("a rescan", func() bool { return h.st.jobsOf(scanKind, root) == 1 })
	s, _ := h.status(root)
	if s.WatchedDirs != 0 || s.NextRescan == nil {
		t.Errorf("status %+v: want 0 watched dirs and a next rescan", s)
	}
	if n := strings.Count(h.logs.String(), "not watching the library any more"); n != 1 {
		t.Errorf("fallback logged %d times, want once", n)
	}
}

// TestWatchLimitOnANewDirectory: a directory created later that exceeds
// the limit also makes the library fall back.
func TestWatchLimitOnANewDirectory(t *testing.T) {
	root := t.TempDir()
	h := startManager(t, library.Options{WatchLimit: 1}, policySpec(root, time.Second))
	h.waitWatching(root, 1)
	if err := os.MkdirAll(filepath.Join(root, "new"), 0o755); err != nil {
		t.Fatal(err)
	}
	h.eventually("the fallback", func() bool {
		s, _ := h.status(root)
		return !s.Watching && s.FallbackReason != ""
	})
}

// TestSetStartsAndStopsWatchers: a reload adding a library starts its
// watcher; removing one stops it.
func TestSetStartsAndStopsWatchers(t *testing.T) {
	one, two := t.TempDir(), t.TempDir()
	h := startManager(t, library.Options{}, policySpec(one, 100*time.Millisecond))
	h.waitWatching(one, 1)
	h.m.Set([]library.Spec{policySpec(one, 100*time.Millisecond), policySpec(two, 100*time.Millisecond)})
	h.waitWatching(two, 1)
	p := filepath.Join(two, "new.mkv")
	writeFile(t, p, "x")
	h.eventually("an apply in the added library", func() bool { return h.st.jobsOf(applyKind, p) == 1 })
	h.m.Set([]library.Spec{policySpec(two, 100*time.Millisecond)})
	h.eventually("only the second library", func() bool {
		st := h.m.Status()
		return len(st) == 1 && st[0].Path == two
	})
	q := filepath.Join(one, "after.mkv")
	writeFile(t, q, "x")
	time.Sleep(500 * time.Millisecond)
	if n := h.st.jobsOf(applyKind, q); n != 0 {
		t.Errorf("a removed library still queues applies")
	}
	// A changed setting restarts the library with it; the applies queued
	// under the policy it no longer has are cancelled.
	h.m.Set([]library.Spec{{Path: two, Policy: "other", Watch: true, Hold: 100 * time.Millisecond}})
	h.eventually("the new policy in the status", func() bool {
		s, ok := h.status(two)
		return ok && s.Policy == "other" && s.Watching
	})
	h.eventually("the queued apply of the old policy cancelled", func() bool { return h.st.jobsOf(applyKind, p) == 0 })
}

// TestRescan: Rescan queues one scan of the library's root (the same job
// while it is queued); an unknown id is ErrUnknownLibrary.
func TestRescan(t *testing.T) {
	root := t.TempDir()
	ready := make(chan struct{}) // never ready: no start-up rescan
	h := startManager(t, library.Options{Ready: ready}, library.Spec{Path: root})
	ctx := context.Background()
	id1, err := h.m.Rescan(ctx, library.ID(root))
	if err != nil {
		t.Fatal(err)
	}
	id2, err := h.m.Rescan(ctx, library.ID(root))
	if err != nil || id1 != id2 || id1 == "" {
		t.Errorf("second rescan: %q, %v; want the queued job %q", id2, err, id1)
	}
	if _, err := h.m.Rescan(ctx, "nope"); !errors.Is(err, library.ErrUnknownLibrary) {
		t.Errorf("unknown id: %v, want ErrUnknownLibrary", err)
	}
}

// TestEnqueueImported: a file in a library gets its policy's apply (or a
// scan without one); one outside every library is ErrOutsideLibraries.
func TestEnqueueImported(t *testing.T) {
	withPolicy, scanOnly, outside := t.TempDir(), t.TempDir(), t.TempDir()
	h := startManager(t, library.Options{Ready: make(chan struct{})},
		library.Spec{Path: withPolicy, Policy: "normalize", Hold: time.Hour},
		library.Spec{Path: scanOnly, Hold: time.Hour})
	ctx := context.Background()
	a := filepath.Join(withPolicy, "show", "e1.mkv")
	writeFile(t, a, "x")
	id, err := h.m.EnqueueImported(ctx, a, "sonarr")
	if err != nil || id == "" {
		t.Fatalf("EnqueueImported: %q, %v", id, err)
	}
	if h.st.jobsOf(applyKind, a) != 1 {
		t.Errorf("no apply of %s: %+v", a, h.st.queued())
	}
	b := filepath.Join(scanOnly, "m.mkv")
	writeFile(t, b, "x")
	if _, err := h.m.EnqueueImported(ctx, b, "radarr"); err != nil {
		t.Fatal(err)
	}
	if h.st.jobsOf(scanKind, scanOnly) != 1 {
		t.Errorf("no scan of %s: %+v", scanOnly, h.st.queued())
	}
	c := filepath.Join(outside, "x.mkv")
	writeFile(t, c, "x")
	if _, err := h.m.EnqueueImported(ctx, c, "sonarr"); !errors.Is(err, library.ErrOutsideLibraries) || !strings.Contains(err.Error(), c) {
		t.Errorf("outside: %v, want ErrOutsideLibraries naming the path", err)
	}
	// A sibling directory whose name starts like the library's.
	if _, err := h.m.EnqueueImported(ctx, withPolicy+"-other/x.mkv", "sonarr"); !errors.Is(err, library.ErrOutsideLibraries) {
		t.Errorf("sibling: %v, want ErrOutsideLibraries", err)
	}
	if _, err := h.m.EnqueueImported(ctx, filepath.Join(withPolicy, "gone.mkv"), "sonarr"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v, want not exist", err)
	}
	// What the watcher would not act on is refused: a directory, a
	// symbolic link, a file that is not a video, the original vpo kept
	// beside a rewritten file.
	link := filepath.Join(withPolicy, "link.mkv")
	if err := os.Symlink(a, link); err != nil {
		t.Fatal(err)
	}
	notes := filepath.Join(withPolicy, "notes.txt")
	writeFile(t, notes, "x")
	kept := filepath.Join(withPolicy, "show", "e1.original.mkv")
	writeFile(t, kept, "o")
	before := len(h.st.queued())
	for _, p := range []string{filepath.Join(withPolicy, "show"), link, notes, kept} {
		if _, err := h.m.EnqueueImported(ctx, p, "radarr"); !errors.Is(err, library.ErrNotQueued) || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: %v, want ErrNotQueued naming it", p, err)
		}
	}
	if n := len(h.st.queued()); n != before {
		t.Errorf("%d jobs queued for refused files", n-before)
	}
	// A file reached through a linked directory (out of the library, or
	// a second name of a file in it) is refused too.
	out := filepath.Join(outside, "o.mkv")
	writeFile(t, out, "x")
	if err := os.Symlink(outside, filepath.Join(withPolicy, "linkdir")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(withPolicy, "show"), filepath.Join(withPolicy, "alias")); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Join(withPolicy, "linkdir", "o.mkv"), filepath.Join(withPolicy, "alias", "e1.mkv")} {
		if _, err := h.m.EnqueueImported(ctx, p, "radarr"); !errors.Is(err, library.ErrNotQueued) || !strings.Contains(err.Error(), "symbolic link") {
			t.Errorf("%s: %v, want ErrNotQueued naming the link", p, err)
		}
	}
	if n := len(h.st.queued()); n != before {
		t.Errorf("%d jobs queued for files behind links", n-before)
	}
	// A file merely named like a kept original, with no source beside it,
	// is a video like any other.
	lone := filepath.Join(withPolicy, "solo.original.mkv")
	writeFile(t, lone, "x")
	if _, err := h.m.EnqueueImported(ctx, lone, "radarr"); err != nil || h.st.jobsOf(applyKind, lone) != 1 {
		t.Errorf("lone NAME.original.mkv: %v, %d applies, want one", err, h.st.jobsOf(applyKind, lone))
	}
}

// TestScanFinishedQueuesWhatIsNotApplied: after a scan, files the policy
// was not applied to are queued: at once when older than the hold, after
// the hold when younger; applied ones are not.
func TestScanFinishedQueuesWhatIsNotApplied(t *testing.T) {
	root := t.TempDir()
	hold := 500 * time.Millisecond
	old := filepath.Join(root, "old.mkv")
	done := filepath.Join(root, "done.mkv")
	young := filepath.Join(root, "young.mkv")
	busy := filepath.Join(root, "busy.mkv") // its apply runs
	for _, p := range []string{old, done, busy} {
		writeFile(t, p, "x")
		past := time.Now().Add(-time.Hour)
		if err := os.Chtimes(p, past, past); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, young, "y")
	// Started after the files were written: no event announces them.
	h := startManager(t, library.Options{Ready: make(chan struct{})},
		library.Spec{Path: root, Policy: "normalize", Hold: hold, Watch: true})
	h.waitWatching(root, 1) // its runner takes the young file
	for _, p := range []string{old, done, young, busy} {
		h.st.record(t, p)
	}
	fi, _ := os.Stat(done)
	h.st.setApplied(done, "normalize", fi)
	h.st.setRunning(store.ApplyKey("normalize", busy))
	h.m.ScanFinished(context.Background(), root)
	if h.st.jobsOf(applyKind, old) != 1 {
		t.Errorf("old file not queued at once: %+v", h.st.queued())
	}
	if h.st.jobsOf(applyKind, done) != 0 {
		t.Errorf("applied file queued again")
	}
	if h.st.jobsOf(applyKind, busy) != 0 {
		t.Errorf("a file whose apply runs was queued again")
	}
	h.eventually("the young file queued after its hold", func() bool { return h.st.jobsOf(applyKind, young) == 1 })
	s, _ := h.status(root)
	if s.LastScan == nil {
		t.Errorf("last_scan not set by the finished scan")
	}
}

// TestStatusBeforeRun lists the configured libraries.
func TestStatusBeforeRun(t *testing.T) {
	m := library.New(library.Options{Store: newFakeStore()}, []library.Spec{{Path: "/srv/a/", Policy: "p", Hold: time.Minute}})
	st := m.Status()
	if len(st) != 1 || st[0].Path != "/srv/a" || st[0].ID != library.ID("/srv/a") || st[0].Hold != "1m0s" {
		t.Fatalf("status %+v", st)
	}
	if library.ID("/srv/a") == library.ID("/srv/b") || len(library.ID("/x")) != 12 {
		t.Errorf("ids are not distinct 12-digit ids")
	}
	_ = store.ApplyKey
}

// TestSymlinkedRootIsWatched: a library whose path is a symbolic link to
// a directory is watched through the link, under its own path.
func TestSymlinkedRootIsWatched(t *testing.T) {
	real := t.TempDir()
	if err := os.MkdirAll(filepath.Join(real, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(real, root); err != nil {
		t.Fatal(err)
	}
	h := startManager(t, library.Options{}, policySpec(root, 100*time.Millisecond))
	h.waitWatching(root, 2)
	p := filepath.Join(root, "sub", "x.mkv")
	writeFile(t, p, "x")
	h.eventually("an apply of the file under the link's path", func() bool { return h.st.jobsOf(applyKind, p) == 1 })
}

// TestRootRemovedMarksNothingMissing: when the library's directory itself
// goes away, its files keep their records and the library says why it is
// not watched.
func TestRootRemovedMarksNothingMissing(t *testing.T) {
	root := filepath.Join(t.TempDir(), "lib")
	a := filepath.Join(root, "a.mkv")
	writeFile(t, a, "a")
	h := startManager(t, library.Options{FallbackInterval: time.Hour}, policySpec(root, 100*time.Millisecond))
	h.st.record(t, a)
	h.waitWatching(root, 1)
	if err := os.Rename(root, root+".old"); err != nil {
		t.Fatal(err)
	}
	h.eventually("the fallback", func() bool {
		s, _ := h.status(root)
		return !s.Watching && strings.Contains(s.FallbackReason, "removed or renamed")
	})
	time.Sleep(200 * time.Millisecond)
	if m := h.st.markedPaths(); len(m) != 0 {
		t.Errorf("marked missing: %v, want nothing", m)
	}
	// A rescan asked for while the directory is still gone changes
	// nothing: the library stays in its fallback.
	id, _ := h.status(root)
	if _, err := h.m.Rescan(context.Background(), id.ID); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if s, _ := h.status(root); s.Watching || s.FallbackReason == "" {
		t.Fatalf("watching %v (reason %q) with the directory gone, want the fallback kept", s.Watching, s.FallbackReason)
	}
	// The directory is back: a rescan asked for watches it again, and
	// new files in it are acted on.
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := h.m.Rescan(context.Background(), id.ID); err != nil {
		t.Fatal(err)
	}
	h.eventually("watching again", func() bool {
		s, _ := h.status(root)
		return s.Watching && s.FallbackReason == ""
	})
	b := filepath.Join(root, "b.mkv")
	writeFile(t, b, "b")
	h.eventually("the apply of a file written after the re-watch", func() bool { return h.st.jobsOf(applyKind, b) == 1 })
}

// TestKeptOriginalsInANewDirectory: in a new directory, a kept original
// (NAME.original.EXT) gets no apply; the file beside it does.
func TestKeptOriginalsInANewDirectory(t *testing.T) {
	root := t.TempDir()
	h := startManager(t, library.Options{}, policySpec(root, 100*time.Millisecond))
	h.waitWatching(root, 1)
	tmp := filepath.Join(t.TempDir(), "new")
	writeFile(t, filepath.Join(tmp, "m.mkv"), "m")
	writeFile(t, filepath.Join(tmp, "m.original.mkv"), "o")
	dir := filepath.Join(root, "new")
	if err := os.Rename(tmp, dir); err != nil { // appears with its files at once
		t.Fatal(err)
	}
	h.eventually("the apply of m.mkv", func() bool { return h.st.jobsOf(applyKind, filepath.Join(dir, "m.mkv")) == 1 })
	time.Sleep(300 * time.Millisecond)
	if n := h.st.jobsOf(applyKind, filepath.Join(dir, "m.original.mkv")); n != 0 {
		t.Errorf("%d applies of a kept original", n)
	}
}
