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
)

// jobPruner is what the retention task needs from the store.
type jobPruner interface {
	DeleteFinishedJobs(ctx context.Context, cutoff time.Time, limit int) (int, error)
}

// retention is the maintenance actor that deletes finished jobs (completed,
// failed, cancelled) older than jobs.retention_days; 0 keeps them forever.
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

// pass deletes, batch by batch, every finished job older than the period.
func (r *retention) pass(ctx context.Context) {
	days := r.Days()
	if days <= 0 {
		return
	}
	cutoff := r.now().Add(-time.Duration(days) * 24 * time.Hour)
	total := 0
	for {
		n, err := r.store.DeleteFinishedJobs(ctx, cutoff, r.batch)
		total += n
		if err != nil {
			if ctx.Err() == nil {
				r.log.Warnf("retention: deleting finished jobs older than %d days failed after %d: %v", days, total, err)
			}
			return
		}
		if n < r.batch {
			break
		}
		select {
		case <-ctx.Done():
			return
		case <-r.stop:
			return
		case <-time.After(r.pause):
		}
	}
	if total > 0 {
		r.log.WithFields(logrus.Fields{"deleted": total, "retention_days": days}).
			Infof("retention: deleted %d finished jobs older than %d days", total, days)
	}
}
