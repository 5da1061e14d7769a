package app

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"
)

// Retention defaults: a pass every hour deletes old finished jobs in
// batches of retentionBatch rows, pausing between batches so that the write
// lock is never held for long and the queue's own writes interleave.
const (
	retentionInterval = time.Hour
	retentionBatch    = 500
	retentionPause    = 50 * time.Millisecond

	// Events (the feed of /api/events) are kept a day, and the newest
	// eventsKept whatever their age: enough for a dashboard or follower
	// to resume after a restart or a network outage.
	eventRetention = 24 * time.Hour
	eventsKept     = 10000
)

// jobPruner is what the retention task needs from the store.
type jobPruner interface {
	DeleteFinishedJobs(ctx context.Context, cutoff time.Time, limit int) (int, error)
	PruneEvents(ctx context.Context, before time.Time, keep, limit int) (int, error)
}

// retention is the maintenance actor that deletes finished jobs (completed,
// failed, cancelled) older than jobs.retention_days (0 keeps them
// forever), with their logs, and events older than eventRetention.
// Queued and running jobs are never touched. SetDays changes the period
// while it runs (SIGHUP reload); the new value applies at once.
type retention struct {
	store    jobPruner
	log      *logrus.Entry
	interval time.Duration
	batch    int
	pause    time.Duration
	now      func() time.Time

	days     atomic.Int64
	wake     chan struct{} // buffered(1): a new period was set
	stop     chan struct{}
	stopOnce sync.Once
}

// newRetention returns the retention actor with the period days.
func newRetention(st jobPruner, days int, log *logrus.Entry) *retention {
	r := &retention{
		store: st, log: log, interval: retentionInterval, batch: retentionBatch, pause: retentionPause,
		now: time.Now, wake: make(chan struct{}, 1), stop: make(chan struct{}),
	}
	r.days.Store(int64(days))
	return r
}

// SetDays sets the retention period in days (0: keep forever) and runs a
// pass with it at once.
func (r *retention) SetDays(days int) {
	r.days.Store(int64(days))
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Days returns the retention period in days.
func (r *retention) Days() int { return int(r.days.Load()) }

func (r *retention) Name() string { return "retention" }

// Run runs a pass at once and then every interval, until ctx ends or
// Shutdown is called.
func (r *retention) Run(ctx context.Context) error {
	ticker := time.NewTicker(r.interval)
	defer ticker.Stop()
	for {
		r.pass(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-r.stop:
			return nil
		case <-ticker.C:
		case <-r.wake:
		}
	}
}

// Shutdown stops Run; a batch in progress finishes (it is short).
func (r *retention) Shutdown(context.Context) error {
	r.stopOnce.Do(func() { close(r.stop) })
	return nil
}

// pass deletes, batch by batch, every finished job older than the period,
// and the old events.
func (r *retention) pass(ctx context.Context) {
	before := r.now().Add(-eventRetention)
	n, err := r.inBatches(ctx, func(ctx context.Context) (int, error) {
		return r.store.PruneEvents(ctx, before, eventsKept, r.batch)
	})
	if err != nil && ctx.Err() == nil {
		r.log.Warnf("retention: deleting events older than %s failed after %d: %v", eventRetention, n, err)
	} else if n > 0 {
		r.log.WithField("deleted", n).Debugf("retention: deleted %d events older than %s", n, eventRetention)
	}
	days := r.Days()
	if days <= 0 {
		return
	}
	cutoff := r.now().Add(-time.Duration(days) * 24 * time.Hour)
	n, err = r.inBatches(ctx, func(ctx context.Context) (int, error) {
		return r.store.DeleteFinishedJobs(ctx, cutoff, r.batch)
	})
	if err != nil {
		if ctx.Err() == nil {
			r.log.Warnf("retention: deleting finished jobs older than %d days failed after %d: %v", days, n, err)
		}
		return
	}
	if n > 0 {
		r.log.WithFields(logrus.Fields{"deleted": n, "retention_days": days}).
			Infof("retention: deleted %d finished jobs older than %d days", n, days)
	}
}

// inBatches calls del, which deletes at most r.batch rows, until it
// deletes fewer, pausing between batches; it returns the rows deleted.
func (r *retention) inBatches(ctx context.Context, del func(ctx context.Context) (int, error)) (int, error) {
	total := 0
	for {
		n, err := del(ctx)
		total += n
		if err != nil || n < r.batch {
			return total, err
		}
		select {
		case <-ctx.Done():
			return total, ctx.Err()
		case <-r.stop:
			return total, nil
		case <-time.After(r.pause):
		}
	}
}
