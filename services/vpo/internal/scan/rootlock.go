package scan

import (
	"context"
	"sync"
	"time"
)

// rootLocks lets one scan of a path run at a time: a second scan of the
// same path (queued while the first ran, as a watcher does for a burst of
// new files) waits for the first and then finds most files unchanged,
// instead of probing them all a second time alongside it.
type rootLocks struct {
	mu   sync.Mutex
	busy map[string]chan struct{}
}

// waitReport is how often a scan waiting for another one says so (its
// progress keeps it from looking stalled).
const waitReport = 5 * time.Second

// lock waits until no other scan of path runs, then holds path until
// unlock is called; it fails only when ctx ends first. While it waits,
// waiting is called every waitReport.
func (l *rootLocks) lock(ctx context.Context, path string, waiting func()) (unlock func(), err error) {
	tick := time.NewTicker(waitReport)
	defer tick.Stop()
	for {
		l.mu.Lock()
		if l.busy == nil {
			l.busy = map[string]chan struct{}{}
		}
		done, taken := l.busy[path]
		if !taken {
			done = make(chan struct{})
			l.busy[path] = done
			l.mu.Unlock()
			return func() {
				l.mu.Lock()
				delete(l.busy, path)
				l.mu.Unlock()
				close(done)
			}, nil
		}
		l.mu.Unlock()
		select {
		case <-done:
		case <-tick.C:
			waiting()
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}
