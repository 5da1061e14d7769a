package library

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/vpo-project/vpo/libs/store"
)

func TestHoldQueue(t *testing.T) {
	t0 := time.Unix(1000, 0)
	mt := time.Unix(500, 0)
	q := newHoldQueue(10 * time.Second)
	q.touch("/a", 1, mt, true, t0)
	q.touch("/b", 1, mt, true, t0.Add(time.Second))
	// A later event that changed nothing keeps /a's deadline; a write moves it.
	q.touch("/a", 1, mt, false, t0.Add(2*time.Second))
	if at, ok := q.next(); !ok || !at.Equal(t0.Add(10*time.Second)) {
		t.Fatalf("next %v %v, want t0+10s", at, ok)
	}
	q.touch("/a", 2, mt, false, t0.Add(3*time.Second)) // size changed
	if got := q.popDue(t0.Add(10 * time.Second)); len(got) != 0 {
		t.Fatalf("due at t0+10s: %v, want none (/a changed at +3s, /b due at +11s)", got)
	}
	got := q.popDue(t0.Add(11 * time.Second))
	if len(got) != 1 || got["/b"].size != 1 {
		t.Fatalf("due at t0+11s: %v, want /b", got)
	}
	q.forget("/a")
	if _, ok := q.next(); ok || q.len() != 0 {
		t.Fatalf("forgotten /a still due")
	}
	for i := range 1000 {
		q.touch(fmt.Sprint(i), 1, mt, true, t0)
	}
	if n := len(q.popDue(t0.Add(time.Hour))); n != 1000 || q.len() != 0 {
		t.Fatalf("popped %d of 1000", n)
	}
}

// stubStore answers the runner's reads and counts the jobs asked for.
type stubStore struct {
	mu   sync.Mutex
	jobs []store.NewJob
}

func (s *stubStore) CreateUniqueJob(_ context.Context, nj store.NewJob) (store.Job, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.jobs = append(s.jobs, nj)
	return store.Job{ID: fmt.Sprint(len(s.jobs))}, true, nil
}
func (s *stubStore) UniqueJobRunning(context.Context, string) (bool, error) { return false, nil }

func (s *stubStore) CancelQueuedApplies(context.Context, string, string, string, time.Time) (int, error) {
	return 0, nil
}
func (s *stubStore) AppliedState(context.Context, string, string) (int64, time.Time, bool, error) {
	return 0, time.Time{}, false, nil
}
func (s *stubStore) FilesToApply(context.Context, string, string, string, int) ([]store.FileRef, error) {
	return nil, nil
}
func (s *stubStore) FileStates(context.Context, string) (map[string]store.FileState, error) {
	return nil, nil
}
func (s *stubStore) MarkMissingPaths(context.Context, []string, time.Time) (int, error) {
	return 0, nil
}
func (s *stubStore) LastScan(context.Context, string) (time.Time, bool, error) {
	return time.Time{}, false, nil
}

// TestOverflowFallsBack: an overflowing event queue stops the watch, says
// so in the status and queues a rescan; another error does neither.
func TestOverflowFallsBack(t *testing.T) {
	root := t.TempDir()
	st := &stubStore{}
	m := New(Options{Store: st}, nil)
	r := newRunner(m, Spec{Path: root, Watch: true, Hold: time.Second}.normalize())
	if err := r.startWatch(); err != nil {
		t.Fatal(err)
	}
	defer r.closeWatcher()
	ctx := context.Background()
	r.watchError(ctx, errors.New("some read error"))
	if s := r.status(); !s.Watching || len(st.jobs) != 0 {
		t.Fatalf("after another error: %+v, %d jobs", s, len(st.jobs))
	}
	r.watchError(ctx, fsnotify.ErrEventOverflow)
	s := r.status()
	if s.Watching || !strings.Contains(s.FallbackReason, "overflow") || r.fw != nil {
		t.Fatalf("after an overflow: %+v", s)
	}
	if len(st.jobs) != 1 || st.jobs[0].UniqueKey != store.ScanKey(root) {
		t.Fatalf("jobs %+v, want one rescan of the root", st.jobs)
	}
	if m.watches.Load() != 0 {
		t.Errorf("%d watches still counted", m.watches.Load())
	}
}
