package joblog

import (
	"context"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/vpo-project/vpo/libs/store"
)

// Appender stores log lines (the store).
type Appender interface {
	AppendJobLogs(ctx context.Context, lines []store.LogLine) error
}

// Writer timing: a batch is stored after flushEvery, or at once when it
// holds batchSize lines.
const (
	flushEvery = 200 * time.Millisecond
	batchSize  = 500
	// stopTimeout bounds the last flush at shutdown.
	stopTimeout = 5 * time.Second
)

// Writer stores the lines the hook queued, in batches; an actor of the
// daemon's run group, stopped after the worker pool so that the last
// lines of interrupted jobs are kept.
type Writer struct {
	hook *Hook
	to   Appender
	log  *logrus.Entry // not the hooked logger's job lines: no job_id here
	stop chan struct{}
	once sync.Once
}

// NewWriter returns a writer of hook's lines into to.
func NewWriter(hook *Hook, to Appender, log *logrus.Entry) *Writer {
	return &Writer{hook: hook, to: to, log: log, stop: make(chan struct{})}
}

// Name names the writer in the run group's log lines.
func (w *Writer) Name() string { return "job logs" }

// Run stores batches until Shutdown, then stores what is left.
func (w *Writer) Run(ctx context.Context) error {
	t := time.NewTicker(flushEvery)
	defer t.Stop()
	var batch []store.LogLine
	failing := false
	flush := func(ctx context.Context) {
		if len(batch) == 0 {
			return
		}
		err := w.to.AppendJobLogs(ctx, batch)
		switch {
		case err != nil && !failing:
			// Lines are dropped rather than kept growing: the daemon's
			// own log (journald) has them all.
			w.log.WithError(err).Warnf("cannot store %d job log lines; dropped", len(batch))
			failing = true
		case err == nil && failing:
			w.log.Info("storing job log lines again")
			failing = false
		}
		batch = batch[:0]
	}
	for {
		select {
		case l := <-w.hook.lines:
			batch = append(batch, l)
			if len(batch) >= batchSize {
				flush(ctx)
			}
		case <-t.C:
			flush(ctx)
		case <-w.stop:
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopTimeout)
			defer cancel()
		drain:
			for {
				select {
				case l := <-w.hook.lines:
					batch = append(batch, l)
				default:
					break drain
				}
			}
			flush(fctx)
			return nil
		case <-ctx.Done():
			return nil
		}
	}
}

// Shutdown makes Run store what is queued and return.
func (w *Writer) Shutdown(context.Context) error {
	w.once.Do(func() { close(w.stop) })
	return nil
}
