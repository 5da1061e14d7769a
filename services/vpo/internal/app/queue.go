package app

import (
	"context"
	"fmt"
	"slices"
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
	s := c.Jobs.Schedule
	if s.Always() {
		return queueSchedule{kinds: c.Jobs.ScheduledKinds}
	}
	return queueSchedule{window: s, text: s.String(), kinds: c.Jobs.ScheduledKinds}
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

// queueStore keeps the pause across restarts and counts the queue;
// *store.Store satisfies it.
type queueStore interface {
	QueueState(ctx context.Context) (store.QueueState, error)
	SetQueueState(ctx context.Context, q store.QueueState) error
	CountQueued(ctx context.Context) (int, error)
	QueueCounts(ctx context.Context) (queued, leasedRunning int, err error)
}

// queueControl pauses and resumes the queue (stored, so that a pause
// survives a restart), sets the processing window of the pool, and
// reports both for /api/queue and /health. It implements
// server.QueueControl.
type queueControl struct {
	pool queuePool
	st   queueStore
	log  *logrus.Entry
	now  func() time.Time

	// changed is told of every pause, resume and new window (/health
	// writes its document again).
	changed func()

	mu       sync.Mutex // serialises pauses and resumes; guards the fields below
	sched    queueSchedule
	pausedAt time.Time // zero when not paused
}

func newQueueControl(pool queuePool, st queueStore, log *logrus.Entry) *queueControl {
	return &queueControl{pool: pool, st: st, log: log, now: time.Now, changed: func() {}}
}

var _ server.QueueControl = (*queueControl)(nil)

// restore pauses the pool, before it runs, when the stored state says the
// queue is paused, and logs it.
func (q *queueControl) restore(ctx context.Context) error {
	s, err := q.st.QueueState(ctx)
	if err != nil {
		return fmt.Errorf("read the stored queue pause: %w", err)
	}
	if !s.Paused {
		return nil
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.pool.Pause(s.Drain)
	q.pausedAt = s.ChangedAt
	q.log.WithField("paused_at", s.ChangedAt.Format(time.RFC3339)).
		Warn("the queue is paused (since " + s.ChangedAt.Local().Format(time.DateTime) +
			"): no job is started until 'vpo queue resume'")
	return nil
}

// setSchedule puts a processing window into effect.
func (q *queueControl) setSchedule(s queueSchedule) {
	q.mu.Lock()
	q.sched = queueSchedule{window: s.window, text: s.text, kinds: slices.Clone(s.kinds)}
	q.mu.Unlock()
	q.pool.SetWindow(s.window, s.kinds)
	q.changed()
}

// Pause stores the pause, then pauses the pool. Pausing a paused queue
// keeps the time of the first pause (and may turn a drain into a pause
// that interrupts).
func (q *queueControl) Pause(ctx context.Context, drain bool) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	at := q.pausedAt
	if at.IsZero() {
		at = q.now()
	}
	if err := q.st.SetQueueState(ctx, store.QueueState{Paused: true, Drain: drain, ChangedAt: at}); err != nil {
		return err
	}
	q.pausedAt = at
	q.pool.Pause(drain)
	q.changed()
	return nil
}

// Resume stores the end of the pause, then resumes the pool.
func (q *queueControl) Resume(ctx context.Context) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if err := q.st.SetQueueState(ctx, store.QueueState{ChangedAt: q.now()}); err != nil {
		return err
	}
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
	sched, pausedAt := q.sched, q.pausedAt
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

// follow brings the pool in line with the stored pause after the change
// feed told of a pause or resume, which another node (or the CLI on
// another node) may have made: the queue is paused cluster-wide. The
// stored state is read again (not the event's), so that events read late
// cannot undo a newer change.
func (q *queueControl) follow(ctx context.Context) {
	s, err := q.st.QueueState(ctx)
	if err != nil {
		q.log.WithError(err).Warn("could not read the stored queue pause after another node changed it")
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	paused, drain := q.pool.Paused()
	if paused == s.Paused && (!paused || drain == s.Drain) {
		return
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
}
