package library_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/vpo-project/vpo/libs/store"
	"github.com/vpo-project/vpo/services/vpo/internal/library"
)

// fakeStore is an in-memory library.Store. Its jobs never run: a unique
// key stays held once queued.
type fakeStore struct {
	mu      sync.Mutex
	jobs    []store.Job
	keys    map[string]string // unique key → queued job id
	calls   map[string]int    // unique key → CreateUniqueJob calls
	applied map[string]applied
	files   map[string]store.FileRef
	missing map[string]bool
	marked  []string
	last    map[string]time.Time
	running map[string]bool // unique keys of running jobs
}

type applied struct {
	size  int64
	mtime time.Time
}

func newFakeStore() *fakeStore {
	return &fakeStore{
		keys: map[string]string{}, calls: map[string]int{}, applied: map[string]applied{},
		files: map[string]store.FileRef{}, missing: map[string]bool{}, last: map[string]time.Time{},
	}
}

func (f *fakeStore) CreateUniqueJob(_ context.Context, nj store.NewJob) (store.Job, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[nj.UniqueKey]++
	if id, ok := f.keys[nj.UniqueKey]; ok {
		for _, j := range f.jobs {
			if j.ID == id {
				return j, false, nil
			}
		}
	}
	j := store.Job{ID: fmt.Sprintf("job-%d", len(f.jobs)+1), Kind: nj.Kind, Payload: nj.Payload, Status: store.StatusQueued}
	f.jobs = append(f.jobs, j)
	if nj.UniqueKey != "" {
		f.keys[nj.UniqueKey] = j.ID
	}
	return j, true, nil
}

func (f *fakeStore) UniqueJobRunning(_ context.Context, key string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.running[key], nil
}

// setRunning makes the job of key run.
func (f *fakeStore) setRunning(key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.running == nil {
		f.running = map[string]bool{}
	}
	f.running[key] = true
}

func (f *fakeStore) CancelQueuedApplies(_ context.Context, root, policy, msg string, _ time.Time) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for i, j := range f.jobs {
		var p struct{ Policy, Path string }
		if j.Kind != "apply" || j.Status != store.StatusQueued || json.Unmarshal(j.Payload, &p) != nil ||
			p.Policy != policy || !strings.HasPrefix(p.Path, root+"/") {
			continue
		}
		f.jobs[i].Status, f.jobs[i].Error = store.StatusCancelled, msg
		for k, id := range f.keys {
			if id == j.ID {
				delete(f.keys, k)
			}
		}
		n++
	}
	return n, nil
}

func (f *fakeStore) AppliedState(_ context.Context, path, policy string) (int64, time.Time, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a, ok := f.applied[policy+"\x00"+path]
	return a.size, a.mtime, ok, nil
}

func (f *fakeStore) setApplied(path, policy string, fi os.FileInfo) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.applied[policy+"\x00"+path] = applied{fi.Size(), fi.ModTime()}
}

func (f *fakeStore) FilesToApply(_ context.Context, root, policy, after string, limit int) ([]store.FileRef, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []store.FileRef
	for p, r := range f.files {
		if !strings.HasPrefix(p, root+"/") || p <= after || f.missing[p] {
			continue
		}
		if a, ok := f.applied[policy+"\x00"+p]; ok && a.size == r.Size && a.mtime.Equal(r.ModTime) {
			continue
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func (f *fakeStore) FileStates(_ context.Context, root string) (map[string]store.FileState, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]store.FileState{}
	for p, r := range f.files {
		if strings.HasPrefix(p, root+"/") {
			out[p] = store.FileState{Size: r.Size, ModTime: r.ModTime, Missing: f.missing[p]}
		}
	}
	return out, nil
}

func (f *fakeStore) MarkMissingPaths(_ context.Context, paths []string, _ time.Time) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, p := range paths {
		f.marked = append(f.marked, p)
		if _, ok := f.files[p]; ok && !f.missing[p] {
			f.missing[p] = true
			n++
		}
	}
	return n, nil
}

func (f *fakeStore) LastScan(_ context.Context, root string) (time.Time, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.last[root]
	return t, ok, nil
}

// record stores the file at path as a scan would.
func (f *fakeStore) record(t *testing.T, path string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.files[path] = store.FileRef{Path: path, Size: fi.Size(), ModTime: fi.ModTime()}
}

// job is a queued job as the tests look at it.
type job struct {
	Kind      string
	Path      string
	Policy    string
	Recursive *bool
}

func (f *fakeStore) queued() []job {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]job, 0, len(f.jobs))
	for _, j := range f.jobs {
		if j.Status != store.StatusQueued {
			continue
		}
		var p struct {
			Path      string `json:"path"`
			Policy    string `json:"policy"`
			Recursive *bool  `json:"recursive"`
		}
		_ = json.Unmarshal(j.Payload, &p)
		out = append(out, job{Kind: j.Kind, Path: p.Path, Policy: p.Policy, Recursive: p.Recursive})
	}
	return out
}

// jobsOf returns the queued jobs of kind for path.
func (f *fakeStore) jobsOf(kind, path string) int {
	n := 0
	for _, j := range f.queued() {
		if j.Kind == kind && j.Path == path {
			n++
		}
	}
	return n
}

func (f *fakeStore) markedPaths() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.marked...)
}

// maxCalls returns the apply key CreateUniqueJob was called with most
// often, and how often. (The scans that record new files are asked for
// once per batch of files that became stable together, and deduplicated
// by the store.)
func (f *fakeStore) maxCalls() (string, int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	key, n := "", 0
	for k, c := range f.calls {
		if strings.HasPrefix(k, "apply:") && c > n {
			key, n = k, c
		}
	}
	return key, n
}

// logBuffer collects log output.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// harness runs a manager for a test.
type harness struct {
	t    *testing.T
	st   *fakeStore
	m    *library.Manager
	logs *logBuffer
}

func startManager(t *testing.T, opts library.Options, specs ...library.Spec) *harness {
	t.Helper()
	h := &harness{t: t, st: newFakeStore(), logs: &logBuffer{}}
	if opts.Store == nil {
		opts.Store = h.st
	}
	l := logrus.New()
	l.SetOutput(io.MultiWriter(h.logs))
	l.SetLevel(logrus.DebugLevel)
	opts.Log = logrus.NewEntry(l)
	h.m = library.New(opts, specs)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.m.Run(ctx) }()
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer scancel()
		if err := h.m.Shutdown(sctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
		if t.Failed() {
			t.Logf("log:\n%s", h.logs.String())
		}
	})
	return h
}

// eventually polls cond for up to 20 s (a correctness wait, not a timing
// claim).
func (h *harness) eventually(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("not within 20s: %s\nlog:\n%s", what, h.logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// status returns the status of the library at path.
func (h *harness) status(path string) (library.Status, bool) {
	for _, s := range h.m.Status() {
		if s.Path == path {
			return s, true
		}
	}
	return library.Status{}, false
}

// waitWatching waits until the library at path watches n directories.
func (h *harness) waitWatching(path string, n int) {
	h.t.Helper()
	h.eventually(fmt.Sprintf("%s watching %d directories", path, n), func() bool {
		s, ok := h.status(path)
		return ok && s.Watching && s.WatchedDirs == n
	})
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
