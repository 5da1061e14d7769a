package app

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/vpo-project/vpo/libs/config"
	"github.com/vpo-project/vpo/libs/jobs"
	"github.com/vpo-project/vpo/libs/store"
	"github.com/vpo-project/vpo/services/vpo/internal/server"
)

// queueSchedule is the processing window in effect (jobs.schedule and
// jobs.scheduled_kinds).
type queueSchedule struct {
	window jobs.Window // nil: always open
	text   string      // canonical form, "" for always
	kinds  []string    // the kinds the window holds back while closed
}

// scheduleOf returns the processing window configured in c.
func scheduleOf(c config.Config) queueSchedule {
	return scheduleFrom(c.Jobs.Schedule, c.Jobs.ScheduledKinds)
}

// scheduleFrom is the window of schedule s holding back kinds (no window
// when s is always open).
func scheduleFrom(s config.Schedule, kinds []string) queueSchedule {
	if s.Always() {
		return queueSchedule{kinds: kinds}
	}
	return queueSchedule{window: s, text: s.String(), kinds: kinds}
}

// queuePool is the part of the worker pool the queue control drives;
// *jobs.Pool satisfies it.
type queuePool interface {
	Pause(drain bool)
	Resume()
	Paused() (paused, drain bool)
	SetWindow(w jobs.Window, kinds []string)
	WindowOpen() (open bool, next time.Time)
	Active() int
}

// queueStore keeps the pause and the cluster's window across restarts
// and counts the queue; *store.Store satisfies it.
type queueStore interface {
	QueueState(ctx context.Context) (store.QueueState, error)
	SetQueueState(ctx context.Context, q store.QueueState) error
	SetQueueWindow(ctx context.Context, w *store.QueueWindow) error
	CountQueued(ctx context.Context) (int, error)
	QueueCounts(ctx context.Context) (queued, leasedRunning int, err error)
}

// queueControl pauses and resumes the queue (stored, so that a pause
// survives a restart), sets the processing window of the pool, and
// reports both for /api/queue and /health. It implements
// server.QueueControl.
//
// The window in effect is the cluster's when one is stored (vpo queue
// window: every daemon sharing the database follows it), else this
// daemon's jobs.schedule and jobs.scheduled_kinds.
type queueControl struct {
	pool queuePool
	st   queueStore
	log  *logrus.Entry
	now  func() time.Time
	// known are the job kinds this daemon runs (a window naming others is
	// refused); nil: not checked.
	known []string

	// changed is told of every pause, resume and new window (/health
	// writes its document again).
	changed func()

	// op serialises pauses, resumes, windows and follows, across their
	// database reads and writes; mu guards the fields below, held briefly
	// (never across the database, so that /health never waits for it).
	op sync.Mutex
	// followFailing: follow's last read failed (logged once); guarded by op.
	followFailing bool
	mu            sync.Mutex
	configured    queueSchedule  // from the configuration
	cluster       *clusterWindow // stored for the cluster; nil when none is
	windowErr     string         // why the stored window is not followed ("" when it is, or none is stored)
	sched         queueSchedule  // in effect
	pausedAt      time.Time      // zero when not paused
}

// followReadTimeout bounds follow's read of the stored state.
const followReadTimeout = 5 * time.Second

// clusterWindow is the stored window of the cluster, parsed.
type clusterWindow struct {
	sched queueSchedule
	setAt time.Time
}

// equal reports whether w and o stand for the same stored window.
func (w *clusterWindow) equal(o *clusterWindow) bool {
	if w == nil || o == nil {
		return w == o
	}
	return w.sched.text == o.sched.text && slices.Equal(w.sched.kinds, o.sched.kinds) && w.setAt.Equal(o.setAt)
}

// parseClusterWindow reads a stored window (nil: none). A stored text this
// binary cannot read (written by hand, say) is an error.
func parseClusterWindow(w *store.QueueWindow) (*clusterWindow, error) {
	if w == nil {
		return nil, nil
	}
	if w.Unreadable != "" {
		return nil, fmt.Errorf("the stored processing window: %s", w.Unreadable)
	}
	s, err := config.ParseSchedule(w.Schedule)
	if err != nil {
		return nil, fmt.Errorf("the stored processing window %q: %w", w.Schedule, err)
	}
	kinds := slices.Clone(w.Kinds)
	if kinds == nil {
		kinds = []string{}
	}
	return &clusterWindow{sched: scheduleFrom(s, kinds), setAt: w.SetAt}, nil
}

func newQueueControl(pool queuePool, st queueStore, log *logrus.Entry) *queueControl {
	return &queueControl{pool: pool, st: st, log: log, now: time.Now, changed: func() {}}
}

var _ server.QueueControl = (*queueControl)(nil)

// restore puts the cluster's stored window into effect and pauses the
// pool, before it runs, when the stored state says the queue is paused,
// and logs both.
func (q *queueControl) restore(ctx context.Context) error {
	q.op.Lock()
	defer q.op.Unlock()
	s, err := q.st.QueueState(ctx)
	if err != nil {
		return fmt.Errorf("read the stored queue pause: %w", err)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if err := q.takeWindowLocked(s.Window, ""); err != nil {
		// Written by hand or by a newer binary: this daemon still starts
		// (so that 'vpo queue window' can replace or clear it) and follows
		// its own configuration meanwhile.
		q.log.WithError(err).Error("cannot read the cluster's processing window: following jobs.schedule until it is set again " +
			"('vpo queue window SCHEDULE') or cleared ('vpo queue window --clear')")
	}
	if !s.Paused {
		return nil
	}
	q.pool.Pause(s.Drain)
	q.pausedAt = s.ChangedAt
	q.log.WithField("paused_at", s.ChangedAt.Format(time.RFC3339)).
		Warn("the queue is paused (since " + s.ChangedAt.Local().Format(time.DateTime) +
			"): no job is started until 'vpo queue resume'")
	return nil
}

// setSchedule sets the processing window of the configuration, in effect
// unless the cluster has one.
func (q *queueControl) setSchedule(s queueSchedule) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.configured = queueSchedule{window: s.window, text: s.text, kinds: slices.Clone(s.kinds)}
	if q.cluster != nil {
		q.log.Info("jobs.schedule and jobs.scheduled_kinds take effect once the cluster's processing window is cleared ('vpo queue window --clear')")
	}
	q.applyLocked()
}

// applyLocked puts the window in effect into the pool.
func (q *queueControl) applyLocked() {
	s := q.configured
	if q.cluster != nil {
		s = q.cluster.sched
	}
	q.sched = s
	q.pool.SetWindow(s.window, slices.Clone(s.kinds))
	q.changed()
}

// takeWindowLocked puts the stored window w into effect if it differs
// from the one in effect, logging the change with by ("" at start-up,
// else who changed it).
func (q *queueControl) takeWindowLocked(w *store.QueueWindow, by string) error {
	cw, err := parseClusterWindow(w)
	if err != nil {
		if q.windowErr != err.Error() {
			q.windowErr = err.Error()
			q.changed()
		}
		return err
	}
	q.windowErr = ""
	if cw.equal(q.cluster) {
		return nil
	}
	q.cluster = cw
	q.applyLocked()
	switch {
	case cw == nil && by != "":
		q.log.Infof("the cluster's processing window was cleared%s: this daemon follows jobs.schedule (%s) again", by, describeSchedule(q.sched))
	case cw != nil:
		q.log.WithField("set_at", cw.setAt.Format(time.RFC3339)).
			Infof("processing window of the cluster%s: %s (in place of jobs.schedule)", by, describeSchedule(cw.sched))
	}
	return nil
}

// describeSchedule is "01:00-07:00 (apply, transcode)" or "always open".
func describeSchedule(s queueSchedule) string {
	if s.text == "" {
		return "always open"
	}
	return s.text + " (" + strings.Join(s.kinds, ", ") + ")"
}

// SetWindow stores the processing window of the cluster (every daemon
// sharing the database follows it) and puts it into effect here; the
// other daemons take it from the change feed. schedule is checked as
// jobs.schedule is ("" = always open); kinds must be kinds this daemon
// runs (nil: apply and transcode, jobs.scheduled_kinds' default).
func (q *queueControl) SetWindow(ctx context.Context, schedule string, kinds []string) error {
	s, err := config.ParseSchedule(schedule)
	if err != nil {
		return invalidWindow("schedule: " + err.Error())
	}
	switch {
	case kinds == nil:
		kinds = config.Defaults(config.Options{}).Jobs.ScheduledKinds
	case len(kinds) == 0:
		return invalidWindow("scheduled_kinds is empty: a window that holds back no job kind does nothing (omit it for apply and transcode)")
	}
	kinds = slices.Compact(slices.Sorted(slices.Values(kinds)))
	for _, k := range kinds {
		if q.known != nil && !slices.Contains(q.known, k) {
			return invalidWindow(fmt.Sprintf("scheduled_kinds: %q is not a job kind (known: %s)", k, strings.Join(q.known, ", ")))
		}
	}
	q.op.Lock()
	defer q.op.Unlock()
	w := &store.QueueWindow{Schedule: s.String(), Kinds: kinds, SetAt: q.now().UTC()}
	if err := q.st.SetQueueWindow(ctx, w); err != nil {
		return err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.takeWindowLocked(w, " (set here)")
}

// invalidWindow is a refused window: its message as it is, and
// errors.Is(err, store.ErrInvalid) (the API answers 400).
type invalidWindow string

func (e invalidWindow) Error() string { return string(e) }
func (e invalidWindow) Unwrap() error { return store.ErrInvalid }

// ClearWindow removes the cluster's window: every daemon follows its own
// jobs.schedule again.
func (q *queueControl) ClearWindow(ctx context.Context) error {
	q.op.Lock()
	defer q.op.Unlock()
	if err := q.st.SetQueueWindow(ctx, nil); err != nil {
		return err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.takeWindowLocked(nil, " (here)")
}

// Pause stores the pause, then pauses the pool. Pausing a paused queue
// keeps the time of the first pause (and may turn a drain into a pause
// that interrupts).
func (q *queueControl) Pause(ctx context.Context, drain bool) error {
	q.op.Lock()
	defer q.op.Unlock()
	q.mu.Lock()
	at := q.pausedAt
	q.mu.Unlock()
	if at.IsZero() {
		at = q.now()
	}
	if err := q.st.SetQueueState(ctx, store.QueueState{Paused: true, Drain: drain, ChangedAt: at}); err != nil {
		return err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.pausedAt = at
	q.pool.Pause(drain)
	q.changed()
	return nil
}

// Resume stores the end of the pause, then resumes the pool.
func (q *queueControl) Resume(ctx context.Context) error {
	q.op.Lock()
	defer q.op.Unlock()
	if err := q.st.SetQueueState(ctx, store.QueueState{ChangedAt: q.now()}); err != nil {
		return err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.pausedAt = time.Time{}
	q.pool.Resume()
	q.changed()
	return nil
}

// Status reports the queue for GET /api/queue.
func (q *queueControl) Status(ctx context.Context) (server.QueueStatus, error) {
	// Both counts from one snapshot: a job requeued between two reads
	// would otherwise be counted neither running nor queued.
	queued, all, err := q.st.QueueCounts(ctx)
	if err != nil {
		return server.QueueStatus{}, err
	}
	st := q.state()
	st.Queued, st.RunningAll = queued, max(all, st.Running)
	return st, nil
}

// state is the queue's state as held in memory (Queued left 0).
func (q *queueControl) state() server.QueueStatus {
	q.mu.Lock()
	sched, pausedAt, cluster, windowErr := q.sched, q.pausedAt, q.cluster, q.windowErr
	q.mu.Unlock()
	paused, drain := q.pool.Paused()
	open, next := q.pool.WindowOpen()
	st := server.QueueStatus{
		Paused: paused, Drain: drain, Running: q.pool.Active(),
		Schedule: sched.text, ScheduledKinds: slices.Clone(sched.kinds), WindowOpen: open,
	}
	if st.ScheduledKinds == nil {
		st.ScheduledKinds = []string{}
	}
	st.WindowError = windowErr
	st.WindowSource = "config"
	if cluster != nil {
		st.WindowSource = "cluster"
		at := cluster.setAt.UTC()
		st.WindowSetAt = &at
	}
	if paused && !pausedAt.IsZero() {
		st.PausedAt = &pausedAt
	}
	if !open && !next.IsZero() {
		st.NextWindow = &next
	}
	return st
}

// queueHealth is the "queue" object of /health (a struct, not a map: the
// encoder sorts a map's keys by reflection on every request; the fields
// are in the order a map's keys had).
type queueHealth struct {
	Drain      bool       `json:"drain"`
	NextWindow *time.Time `json:"next_window"`
	Paused     bool       `json:"paused"`
	WindowOpen bool       `json:"window_open"`
}

// health is the "queue" object of /health.
func (q *queueControl) health() queueHealth {
	st := q.state()
	return queueHealth{Paused: st.Paused, Drain: st.Drain, WindowOpen: st.WindowOpen, NextWindow: st.NextWindow}
}

// follow brings the pool in line with the stored pause and window after
// the change feed told of a pause, resume or window, which another node
// (or the CLI on another node) may have made: the queue is paused, and its
// window set, cluster-wide. The stored state is read again (not the
// event's), so that events read late cannot undo a newer change, and under
// q.op, so that a read made before a change on this node cannot either.
// It reports false when the stored state could not be read (to be tried
// again).
func (q *queueControl) follow(ctx context.Context) bool {
	// Read under the lock that changes made here hold across their write:
	// a read older than such a change must not undo it. The read is
	// bounded, since changes made here wait for it meanwhile.
	q.op.Lock()
	defer q.op.Unlock()
	rctx, cancel := context.WithTimeout(ctx, followReadTimeout)
	defer cancel()
	s, err := q.st.QueueState(rctx)
	if err != nil {
		if !q.followFailing {
			q.followFailing = true
			q.log.WithError(err).Warn("could not read the stored queue pause and window after a change (trying again every second)")
		}
		return false
	}
	if q.followFailing {
		q.followFailing = false
		q.log.Info("read the stored queue pause and window again")
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if err := q.takeWindowLocked(s.Window, " (by another node)"); err != nil {
		q.log.WithError(err).Warn("cannot read the stored processing window; the one in effect stays until it is set again or cleared")
	}
	paused, drain := q.pool.Paused()
	if paused == s.Paused && (!paused || drain == s.Drain) {
		return true
	}
	if s.Paused {
		q.pool.Pause(s.Drain)
		q.pausedAt = s.ChangedAt
		q.log.WithField("drain", s.Drain).Info("queue paused (by another node): no job is started until it is resumed")
	} else {
		q.pool.Resume()
		q.pausedAt = time.Time{}
		q.log.Info("queue resumed (by another node)")
	}
	q.changed()
	return true
}
