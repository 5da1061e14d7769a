package app

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/vpo-project/vpo/libs/store"
)

// oneNodeRow is a nodes table of one row that another process may write.
type oneNodeRow struct {
	mu  sync.Mutex
	row *store.Node
}

func (f *oneNodeRow) Heartbeat(_ context.Context, n store.Node, now time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	n.HeartbeatAt = now
	f.row = &n
	return nil
}

func (f *oneNodeRow) NodeStopped(context.Context, string, string, time.Time) error { return nil }

func (f *oneNodeRow) GetNode(_ context.Context, name string) (store.Node, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.row == nil || f.row.Name != name {
		return store.Node{}, store.ErrNotFound
	}
	return *f.row, nil
}

func (f *oneNodeRow) PruneNodes(context.Context, time.Time) (int, error) { return 0, nil }

// TestHeartbeatNameClash: the row of this node's name left by a process
// that crashed is taken over without a warning; a second live process
// writing under the same name is reported (once).
func TestHeartbeatNameClash(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	rows := &oneNodeRow{row: &store.Node{Name: "a", Owner: "a:1:old", HeartbeatAt: now.Add(-2 * time.Second)}}
	logger, hook := logtest.NewNullLogger()
	h := newHeartbeat(rows, store.Node{Name: "a", Owner: "a:2:new"}, nil, func() int { return 1 },
		func() time.Duration { return 30 * time.Second }, logrus.NewEntry(logger))
	h.now = func() time.Time { return now }
	warnings := func() int {
		n := 0
		for _, e := range hook.AllEntries() {
			if e.Level == logrus.WarnLevel && strings.Contains(e.Message, "another running vpo") {
				n++
			}
		}
		return n
	}
	h.beat(ctx) // over the row of the crashed process
	if n := warnings(); n != 0 {
		t.Fatalf("%d warnings on taking over a crashed process's row, want none", n)
	}
	for i := 0; i < 3; i++ {
		// Another live process writes under the name between our beats.
		_ = rows.Heartbeat(ctx, store.Node{Name: "a", Owner: "a:3:other"}, now)
		now = now.Add(10 * time.Second)
		h.beat(ctx)
	}
	if n := warnings(); n != 1 {
		t.Errorf("%d warnings for a second live process under the same name over three beats, want 1", n)
	}
}
