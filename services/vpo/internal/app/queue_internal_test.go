package app

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/vpo-project/vpo/libs/config"
	"github.com/vpo-project/vpo/libs/jobs"
	"github.com/vpo-project/vpo/libs/store"
	"github.com/vpo-project/vpo/services/vpo/internal/server"
)

// fakeQueuePool records what the queue control does to the pool.
type fakeQueuePool struct {
	paused, drain bool
	window        jobs.Window
	kinds         []string
	active        int
	calls         []string
	now           time.Time
}

func (p *fakeQueuePool) Pause(drain bool) {
	p.paused, p.drain = true, drain
	p.calls = append(p.calls, "pause")
}
func (p *fakeQueuePool) Resume() {
	p.paused, p.drain = false, false
	p.calls = append(p.calls, "resume")
}
func (p *fakeQueuePool) Paused() (bool, bool) { return p.paused, p.drain }
func (p *fakeQueuePool) SetWindow(w jobs.Window, kinds []string) {
	p.window, p.kinds = w, kinds
}
func (p *fakeQueuePool) WindowOpen() (bool, time.Time) {
	if p.window == nil || p.window.Open(p.now) {
		return true, time.Time{}
	}
	return false, p.window.NextOpen(p.now)
}
func (p *fakeQueuePool) Active() int { return p.active }

// fakeQueueStore keeps the queue state in memory.
type fakeQueueStore struct {
	state  store.QueueState
	queued int
	// runningAll is the leased running jobs of every node.
	runningAll int
	fail       error
}

func (s *fakeQueueStore) QueueState(context.Context) (store.QueueState, error) {
	return s.state, s.fail
}
func (s *fakeQueueStore) SetQueueState(_ context.Context, q store.QueueState) error {
	if s.fail != nil {
		return s.fail
	}
	w := s.state.Window
	s.state = q
	s.state.Window = w
	return nil
}
func (s *fakeQueueStore) SetQueueWindow(_ context.Context, w *store.QueueWindow) error {
	if s.fail != nil {
		return s.fail
	}
	s.state.Window = w
	return nil
}
func (s *fakeQueueStore) CountQueued(context.Context) (int, error) { return s.queued, s.fail }

func (s *fakeQueueStore) QueueCounts(context.Context) (int, int, error) {
	return s.queued, s.runningAll, s.fail
}

// closedUntil is a window closed until a time, open after it.
type closedUntil time.Time

func (w closedUntil) Open(t time.Time) bool { return !t.Before(time.Time(w)) }
func (w closedUntil) NextOpen(t time.Time) time.Time {
	if w.Open(t) {
		return t
	}
	return time.Time(w)
}

func newTestQueue(st *fakeQueueStore) (*queueControl, *fakeQueuePool, *logtest.Hook) {
	logger, hook := logtest.NewNullLogger()
	pool := &fakeQueuePool{}
	q := newQueueControl(pool, st, logrus.NewEntry(logger))
	return q, pool, hook
}

func TestQueueRestoresStoredPause(t *testing.T) {
	at := time.Date(2026, 12, 1, 22, 0, 0, 0, time.UTC)
	st := &fakeQueueStore{state: store.QueueState{Paused: true, Drain: true, ChangedAt: at}}
	q, pool, hook := newTestQueue(st)
	if err := q.restore(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !pool.paused || !pool.drain {
		t.Fatalf("pool paused=%v drain=%v after restoring a stored drain pause", pool.paused, pool.drain)
	}
	if e := hook.LastEntry(); e == nil || e.Level != logrus.WarnLevel || !strings.Contains(e.Message, "vpo queue resume") {
		t.Errorf("restored pause logged as %v, want a warning naming 'vpo queue resume'", e)
	}
	s, err := q.Status(context.Background())
	if err != nil || !s.Paused || s.PausedAt == nil || !s.PausedAt.Equal(at) {
		t.Errorf("Status() = %+v, %v; want paused since %v", s, err, at)
	}

	// Not paused: nothing happens.
	q2, pool2, _ := newTestQueue(&fakeQueueStore{})
	if err := q2.restore(context.Background()); err != nil || pool2.paused {
		t.Errorf("restore of an unpaused queue: %v, paused %v", err, pool2.paused)
	}
	// A failed read is an error (the start fails rather than running a
	// queue someone paused).
	q3, _, _ := newTestQueue(&fakeQueueStore{fail: errors.New("disk I/O error")})
	if err := q3.restore(context.Background()); err == nil || !strings.Contains(err.Error(), "disk I/O error") {
		t.Errorf("restore with a failing store = %v", err)
	}
}

func TestQueuePauseResumeStored(t *testing.T) {
	st := &fakeQueueStore{queued: 4}
	q, pool, _ := newTestQueue(st)
	first := time.Date(2026, 12, 2, 5, 0, 0, 0, time.UTC)
	q.now = func() time.Time { return first }
	ctx := context.Background()
	if err := q.Pause(ctx, true); err != nil {
		t.Fatal(err)
	}
	if !st.state.Paused || !st.state.Drain || !st.state.ChangedAt.Equal(first) || !pool.paused || !pool.drain {
		t.Fatalf("after Pause(drain): stored %+v, pool paused=%v drain=%v", st.state, pool.paused, pool.drain)
	}
	q.now = func() time.Time { return first.Add(time.Hour) }
	if err := q.Pause(ctx, false); err != nil {
		t.Fatal(err)
	}
	if st.state.Drain || pool.drain || !st.state.ChangedAt.Equal(first) {
		t.Errorf("a second pause without drain: stored %+v, pool drain=%v; want no drain, paused since the first pause", st.state, pool.drain)
	}
	if err := q.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	if st.state.Paused || pool.paused {
		t.Errorf("after Resume: stored %+v, pool paused=%v", st.state, pool.paused)
	}
	s, _ := q.Status(ctx)
	if s.Paused || s.PausedAt != nil || s.Queued != 4 {
		t.Errorf("Status() after resume = %+v", s)
	}

	// A pause that cannot be stored does not pause.
	st.fail = errors.New("database is locked")
	calls := len(pool.calls)
	if err := q.Pause(ctx, false); err == nil || pool.paused || len(pool.calls) != calls {
		t.Errorf("Pause with a failing store = %v, pool paused=%v", err, pool.paused)
	}
}

func TestQueueStatusWindow(t *testing.T) {
	st := &fakeQueueStore{}
	q, pool, _ := newTestQueue(st)
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	pool.now = now
	opens := now.Add(13 * time.Hour)
	q.setSchedule(queueSchedule{window: closedUntil(opens), text: "01:00-07:00", kinds: []string{"apply", "transcode"}})
	if strings.Join(pool.kinds, ",") != "apply,transcode" {
		t.Fatalf("pool window kinds = %v", pool.kinds)
	}
	s, err := q.Status(context.Background())
	if err != nil || s.WindowOpen || s.NextWindow == nil || !s.NextWindow.Equal(opens) || s.Schedule != "01:00-07:00" {
		t.Fatalf("Status() = %+v, %v", s, err)
	}
	h := q.health()
	if h.WindowOpen || h.Paused || h.NextWindow == nil || !h.NextWindow.Equal(opens) {
		t.Errorf("health queue = %+v", h)
	}
	if b, err := json.Marshal(h); err != nil || !strings.HasPrefix(string(b), `{"drain":false,"next_window":"`) ||
		!strings.HasSuffix(string(b), `","paused":false,"window_open":false}`) {
		t.Errorf("health queue as JSON = %s, %v", b, err)
	}
	// No schedule: open, and next_window null.
	q.setSchedule(scheduleOf(config.Config{}))
	s, _ = q.Status(context.Background())
	if !s.WindowOpen || s.NextWindow != nil || s.Schedule != "" || s.ScheduledKinds == nil {
		t.Errorf("Status() without a schedule = %+v", s)
	}
}

func TestQueueText(t *testing.T) {
	now := time.Date(2026, 12, 2, 21, 48, 0, 0, time.Local)
	at := time.Date(2026, 12, 2, 20, 0, 0, 0, time.Local)
	next := time.Date(2026, 12, 3, 1, 0, 0, 0, time.Local)
	for _, tc := range []struct {
		name   string
		st     server.QueueStatus
		lines  string
		notice string
	}{
		{"running", server.QueueStatus{Running: 1, Queued: 2, WindowOpen: true},
			"queue: running\njobs: 1 running, 2 queued\nprocessing window: always open", ""},
		{"paused with drain", server.QueueStatus{Paused: true, Drain: true, PausedAt: &at, WindowOpen: true},
			"queue: paused since 2026-12-02 20:00:00 (drain: running jobs finish)\njobs: 0 running, 0 queued\nprocessing window: always open",
			"queue paused (drain: running jobs finish); 'vpo queue resume' starts jobs again"},
		{"window closed", server.QueueStatus{Schedule: "01:00-07:00", ScheduledKinds: []string{"apply", "transcode"}, NextWindow: &next},
			"queue: running\njobs: 0 running, 0 queued\nprocessing window: 01:00-07:00 (apply, transcode); closed, opens at 01:00 (in 3h12m)",
			"processing window closed; opens at 01:00 (in 3h12m) (apply, transcode wait)"},
		{"window open", server.QueueStatus{Schedule: "01:00-07:00", ScheduledKinds: []string{"apply"}, WindowOpen: true},
			"queue: running\njobs: 0 running, 0 queued\nprocessing window: 01:00-07:00 (apply); open", ""},
		{"other nodes run jobs", server.QueueStatus{Running: 1, RunningAll: 3, Queued: 2, WindowOpen: true},
			"queue: running\njobs: 3 running (1 on this node), 2 queued\nprocessing window: always open", ""},
	} {
		if got := strings.Join(queueLines(tc.st, now), "\n"); got != tc.lines {
			t.Errorf("%s: queueLines =\n%s\nwant\n%s", tc.name, got, tc.lines)
		}
		if got := queueNotice(tc.st, now); got != tc.notice {
			t.Errorf("%s: queueNotice = %q, want %q", tc.name, got, tc.notice)
		}
	}
	far := now.Add(50 * time.Hour)
	if got := windowOpens(server.QueueStatus{NextWindow: &far}, now); got != "opens at 2026-12-04 23:48 (in 50h)" {
		t.Errorf("windowOpens two days ahead = %q", got)
	}
}

// TestWaitDrainedWaitsForEveryNode: a drained pause's --wait returns only
// once no job runs on any node, not only on the node that answers.
func TestWaitDrainedWaitsForEveryNode(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		left := max(0, 2-int(calls.Add(1)))
		_ = json.NewEncoder(w).Encode(server.QueueStatus{Paused: true, Drain: true, RunningAll: left})
	}))
	defer srv.Close()
	var progress strings.Builder
	st, err := waitDrained(context.Background(), newAPIClient(srv.URL, ""), server.QueueStatus{RunningAll: 3}, &progress)
	if err != nil || st.RunningAll != 0 || calls.Load() < 2 {
		t.Fatalf("waitDrained = %+v, %v after %d polls; want it to wait until no node runs a job", st, err, calls.Load())
	}
	if !strings.Contains(progress.String(), "waiting for 3 running job(s)") {
		t.Errorf("progress %q", progress.String())
	}
}

// TestQueueClusterWindow: a window stored for the cluster takes the place
// of the configured one, at start-up, when set here, when another node
// stores it (followed from the change feed) and across reloads of the
// configuration; cleared, the configured one is back. Bad schedules and
// kinds are refused, naming what is wrong.
func TestQueueClusterWindow(t *testing.T) {
	ctx := context.Background()
	configured, err := config.ParseSchedule("01:00-07:00")
	if err != nil {
		t.Fatal(err)
	}
	set := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	st := &fakeQueueStore{state: store.QueueState{Window: &store.QueueWindow{Schedule: "22:00-23:00", Kinds: []string{"apply"}, SetAt: set}}}
	q, pool, hook := newTestQueue(st)
	q.known = []string{"apply", "scan", "transcode"}
	q.setSchedule(queueSchedule{window: configured, text: configured.String(), kinds: []string{"apply", "transcode"}})
	if err := q.restore(ctx); err != nil {
		t.Fatal(err)
	}
	check := func(when, source, text, kinds string) {
		t.Helper()
		s, err := q.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if s.WindowSource != source || s.Schedule != text || strings.Join(s.ScheduledKinds, ",") != kinds ||
			(source == "cluster") != (s.WindowSetAt != nil) {
			t.Fatalf("%s: status = %+v; want the %s window %q (%s)", when, s, source, text, kinds)
		}
		poolText := ""
		if pool.window != nil {
			poolText = pool.window.(config.Schedule).String()
		}
		if poolText != text || strings.Join(pool.kinds, ",") != kinds {
			t.Fatalf("%s: the pool holds %q (%v); want %q (%s)", when, poolText, pool.kinds, text, kinds)
		}
	}
	check("after start-up", "cluster", "22:00-23:00", "apply")
	if e := hook.LastEntry(); e == nil || !strings.Contains(e.Message, "processing window of the cluster: 22:00-23:00 (apply)") {
		t.Errorf("start-up logged %v, want the cluster's window", e)
	}

	// A reload of jobs.schedule does not undo the cluster's window.
	q.setSchedule(queueSchedule{kinds: []string{"apply"}})
	check("after a reload", "cluster", "22:00-23:00", "apply")

	// Set here: stored, and in effect at once.
	q.now = func() time.Time { return set.Add(time.Hour) }
	if err := q.SetWindow(ctx, "02:00-03:00,04:00-05:00", []string{"transcode", "apply", "apply"}); err != nil {
		t.Fatal(err)
	}
	check("after SetWindow", "cluster", "02:00-03:00, 04:00-05:00", "apply,transcode")
	if w := st.state.Window; w == nil || w.Schedule != "02:00-03:00, 04:00-05:00" || !w.SetAt.Equal(set.Add(time.Hour)) {
		t.Fatalf("stored window = %+v", w)
	}
	// Another node stores an always-open window: followed.
	st.state.Window = &store.QueueWindow{Schedule: "", Kinds: []string{}, SetAt: set.Add(2 * time.Hour)}
	q.follow(ctx)
	check("after another node's window", "cluster", "", "")
	if e := hook.LastEntry(); e == nil || !strings.Contains(e.Message, "(by another node): always open") {
		t.Errorf("followed window logged %v", e)
	}
	// Another node clears it: this node's configuration is back (the
	// reloaded one).
	st.state.Window = nil
	q.follow(ctx)
	check("after another node cleared it", "config", "", "apply")

	// Set and cleared here; omitted kinds are the default ones.
	if err := q.SetWindow(ctx, "05:00-06:00", nil); err != nil {
		t.Fatal(err)
	}
	check("after SetWindow with default kinds", "cluster", "05:00-06:00", "apply,transcode")
	if err := q.ClearWindow(ctx); err != nil || st.state.Window != nil {
		t.Fatalf("ClearWindow = %v, stored %+v", err, st.state.Window)
	}
	check("after ClearWindow", "config", "", "apply")

	for _, tc := range []struct {
		schedule string
		kinds    []string
		want     string
	}{
		{"25:00-26:00", nil, "schedule: "},
		{"soon", nil, "schedule: "},
		{"01:00-02:00", []string{"apply", "bogus"}, `scheduled_kinds: "bogus" is not a job kind (known: apply, scan, transcode)`},
	} {
		err := q.SetWindow(ctx, tc.schedule, tc.kinds)
		if !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("SetWindow(%q, %v) = %v; want ErrInvalid naming %q", tc.schedule, tc.kinds, err, tc.want)
		}
	}
	check("after refused windows", "config", "", "apply")
	if st.state.Window != nil {
		t.Errorf("a refused window was stored: %+v", st.state.Window)
	}

	// A stored window this binary cannot read (written by hand, or by a
	// newer binary) does not stop the daemon, which says so and follows
	// its configuration until the window is set again or cleared.
	bad := &fakeQueueStore{state: store.QueueState{Paused: true, Window: &store.QueueWindow{Schedule: "nonsense"}}}
	q2, pool2, hook2 := newTestQueue(bad)
	q2.setSchedule(queueSchedule{window: configured, text: configured.String(), kinds: []string{"apply"}})
	if err := q2.restore(ctx); err != nil {
		t.Fatalf("restore of an unreadable stored window = %v; want a start with the configured window", err)
	}
	if s, _ := q2.Status(ctx); s.WindowSource != "config" || s.Schedule != "01:00-07:00" || !pool2.paused {
		t.Errorf("after an unreadable stored window: %+v (paused %v); want the configured window, still paused", s, pool2.paused)
	}
	logged := false
	for _, e := range hook2.AllEntries() {
		logged = logged || (e.Level == logrus.ErrorLevel && strings.Contains(e.Message, "vpo queue window --clear"))
	}
	if !logged {
		t.Error("an unreadable stored window was not logged as an error naming how to clear it")
	}
	s2, _ := q2.Status(ctx)
	if !strings.Contains(s2.WindowError, `"nonsense"`) ||
		!strings.Contains(strings.Join(queueLines(s2, time.Now()), "\n"), "warning: the stored processing window") {
		t.Errorf("status of an unreadable stored window = %+v, lines %q; want it said", s2, queueLines(s2, time.Now()))
	}
	// Columns the store could not read: the same, and once the window is
	// set again the warning is gone.
	bad.state.Window = &store.QueueWindow{Schedule: "01:00-02:00", Unreadable: `window_set_at "yesterday" is not a time`}
	q2.follow(ctx)
	if s2, _ = q2.Status(ctx); !strings.Contains(s2.WindowError, "yesterday") || s2.WindowSource != "config" {
		t.Errorf("status after an unreadable window was followed = %+v", s2)
	}
	if err := q2.SetWindow(ctx, "03:00-04:00", nil); err != nil {
		t.Fatal(err)
	}
	if s2, _ = q2.Status(ctx); s2.WindowError != "" || s2.WindowSource != "cluster" {
		t.Errorf("status after the window was set again = %+v", s2)
	}
}

// slowReadStore is a fakeQueueStore whose next QueueState runs onRead
// after taking its snapshot (a read that is slow to come back).
type slowReadStore struct {
	*fakeQueueStore
	onRead func()
}

func (s *slowReadStore) QueueState(ctx context.Context) (store.QueueState, error) {
	st, err := s.fakeQueueStore.QueueState(ctx)
	if f := s.onRead; f != nil {
		s.onRead = nil
		f()
	}
	return st, err
}

// TestQueueFollowNeverUndoesALocalChange: a follow whose read of the
// stored state was made before a window was set on this node does not put
// the older state back (its read waits for the change, or the change for
// it).
func TestQueueFollowNeverUndoesALocalChange(t *testing.T) {
	ctx := context.Background()
	st := &slowReadStore{fakeQueueStore: &fakeQueueStore{}}
	logger, _ := logtest.NewNullLogger()
	q := newQueueControl(&fakeQueuePool{}, st, logrus.NewEntry(logger))
	done := make(chan error, 1)
	st.onRead = func() {
		go func() { done <- q.SetWindow(ctx, "01:00-02:00", []string{"apply"}) }()
		time.Sleep(50 * time.Millisecond) // the set, unless it waits for the follow
	}
	q.follow(ctx)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if s, _ := q.Status(ctx); s.WindowSource != "cluster" || s.Schedule != "01:00-02:00" {
		t.Fatalf("after a follow that read before the window was set here: %+v; want the window set", s)
	}
}

// TestFollowQueueRetriesFailedReads: a change told while the database
// does not answer is followed once it answers again, without another
// event; a follow that succeeds is not repeated.
func TestFollowQueueRetriesFailedReads(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	changed := make(chan struct{}, 1)
	var calls atomic.Int32
	done := make(chan struct{})
	follow := func(context.Context) bool {
		n := calls.Add(1)
		if n == 3 {
			close(done)
		}
		return n >= 3 // the database answers from the third try on
	}
	go followQueue(ctx, changed, follow, 5*time.Millisecond)
	changed <- struct{}{}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatalf("follow called %d times in 5s after one change, failing twice; want 3", calls.Load())
	}
	time.Sleep(50 * time.Millisecond)
	if n := calls.Load(); n != 3 {
		t.Errorf("follow called %d times; want 3 (no retry after it succeeded)", n)
	}
}

// blockingWindowStore is a fakeQueueStore whose SetQueueWindow waits for
// release (a database that does not answer).
type blockingWindowStore struct {
	*fakeQueueStore
	entered, release chan struct{}
}

func (s *blockingWindowStore) SetQueueWindow(ctx context.Context, w *store.QueueWindow) error {
	close(s.entered)
	<-s.release
	return s.fakeQueueStore.SetQueueWindow(ctx, w)
}

// TestQueueHealthNeverWaitsForTheDatabase: while a window is being stored
// (the database slow to answer), /health's view of the queue answers at
// once.
func TestQueueHealthNeverWaitsForTheDatabase(t *testing.T) {
	st := &blockingWindowStore{fakeQueueStore: &fakeQueueStore{}, entered: make(chan struct{}), release: make(chan struct{})}
	logger, _ := logtest.NewNullLogger()
	q := newQueueControl(&fakeQueuePool{}, st, logrus.NewEntry(logger))
	done := make(chan error, 1)
	go func() { done <- q.SetWindow(context.Background(), "01:00-02:00", nil) }()
	<-st.entered
	answered := make(chan queueHealth, 1)
	go func() { answered <- q.health() }()
	select {
	case <-answered:
	case <-time.After(2 * time.Second):
		t.Fatal("/health's queue waited for the database write of a window")
	}
	close(st.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestQueueFollowFailuresLoggedOnce: while the stored state cannot be read
// (the retries come every second during an outage) one warning is
// logged, and one line when it can be read again.
func TestQueueFollowFailuresLoggedOnce(t *testing.T) {
	ctx := context.Background()
	st := &fakeQueueStore{fail: errors.New("connection refused")}
	q, _, hook := newTestQueue(st)
	for range 5 {
		if q.follow(ctx) {
			t.Fatal("follow succeeded with the database failing")
		}
	}
	st.fail = nil
	if !q.follow(ctx) || !q.follow(ctx) {
		t.Fatal("follow failed with the database back")
	}
	var warned, back int
	for _, e := range hook.AllEntries() {
		switch {
		case e.Level == logrus.WarnLevel && strings.Contains(e.Message, "could not read the stored queue pause"):
			warned++
		case strings.Contains(e.Message, "read the stored queue pause and window again"):
			back++
		}
	}
	if warned != 1 || back != 1 {
		t.Errorf("%d warnings and %d recoveries logged for 5 failed reads then 2 good ones; want 1 and 1", warned, back)
	}
}
