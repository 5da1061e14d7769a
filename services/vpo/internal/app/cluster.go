package app

import (
	"context"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/vpo-project/vpo/libs/store"
)

// clusterFeed acts on the change feed for this node: what any node (or a
// CLI) stored reaches every node's pool. New or requeued work wakes idle
// workers, a cancellation requested stops the run here if it runs here,
// and a pause, resume or change of the cluster's window is followed.
type clusterFeed struct {
	wake   func()
	cancel func(jobID string)
	queue  func(ctx context.Context) bool // false: the stored state could not be read
	// queueCh hands queue changes to a goroutine of their own: OnEvent
	// must not block the broker on a database read.
	queueCh chan struct{}
}

func newClusterFeed(wake func(), cancel func(string), queue func(context.Context) bool) *clusterFeed {
	return &clusterFeed{wake: wake, cancel: cancel, queue: queue, queueCh: make(chan struct{}, 1)}
}

// onEvent is the broker's OnEvent.
func (f *clusterFeed) onEvent(e store.Event) {
	switch e.Type {
	case "job.created", "job.queued":
		f.wake()
	case "job.cancel_requested":
		f.cancel(e.JobID)
	case "queue.paused", "queue.resumed", "queue.window":
		select {
		case f.queueCh <- struct{}{}:
		default:
		}
	}
}

// listener is the actor that keeps the feed current: on PostgreSQL it
// LISTENs for committed events and pokes the broker at once (the broker's
// poll stays the safety net); it also follows pause changes.
type listener struct {
	st   *store.Store
	feed *clusterFeed
	poke func()
	log  *logrus.Entry

	stop     chan struct{}
	stopOnce sync.Once
}

func newListener(st *store.Store, feed *clusterFeed, poke func(), log *logrus.Entry) *listener {
	return &listener{st: st, feed: feed, poke: poke, log: log, stop: make(chan struct{})}
}

func (l *listener) Name() string { return "event listener" }

func (l *listener) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-l.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	go followQueue(ctx, l.feed.queueCh, l.feed.queue, time.Second)
	failing := false
	l.st.OnListenError(func(err error) {
		if !failing {
			failing = true
			l.log.WithError(err).Warn("not listening for other nodes' changes (retrying every second); the event feed is polled meanwhile")
		}
	})
	_ = l.st.ListenEvents(ctx, time.Second, func() {
		if failing {
			failing = false
			l.log.Info("listening for other nodes' changes again")
		}
		l.poke()
	})
	<-ctx.Done()
	return nil
}

func (l *listener) Shutdown(context.Context) error {
	l.stopOnce.Do(func() { close(l.stop) })
	return nil
}

// followQueue calls follow for each signal on changed until ctx ends, and
// again every retry while it fails (the database did not answer): a pause
// or window stored meanwhile is not missed for want of another event.
func followQueue(ctx context.Context, changed <-chan struct{}, follow func(context.Context) bool, retry time.Duration) {
	var again <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-again:
		}
		again = nil
		if !follow(ctx) && ctx.Err() == nil {
			again = time.After(retry)
		}
	}
}
