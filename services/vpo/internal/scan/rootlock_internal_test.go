package scan

import (
	"context"
	"testing"
	"time"
)

// TestRootLocks: a second lock of a path waits for the first to be
// released; another path does not wait; a waiter gives up with its
// context.
func TestRootLocks(t *testing.T) {
	var l rootLocks
	ctx := context.Background()
	unlock, err := l.lock(ctx, "/lib/a", func() {})
	if err != nil {
		t.Fatal(err)
	}
	other, err := l.lock(ctx, "/lib/b", func() {})
	if err != nil {
		t.Fatal(err)
	}
	other()
	got := make(chan struct{})
	go func() {
		u, err := l.lock(ctx, "/lib/a", func() {})
		if err == nil {
			u()
		}
		close(got)
	}()
	select {
	case <-got:
		t.Fatal("a second scan of the same path did not wait for the first")
	case <-time.After(100 * time.Millisecond):
	}
	unlock()
	<-got
	hold, _ := l.lock(ctx, "/lib/a", func() {})
	defer hold()
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := l.lock(cctx, "/lib/a", func() {}); err == nil {
		t.Fatal("a cancelled waiter got the lock")
	}
}
