package app

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/vpo-project/vpo/libs/store"
)

// nodeStore is what the node heartbeat writes and reads.
type nodeStore interface {
	Heartbeat(ctx context.Context, n store.Node, now time.Time) error
	NodeStopped(ctx context.Context, name, owner string, now time.Time) error
	GetNode(ctx context.Context, name string) (store.Node, error)
	PruneNodes(ctx context.Context, before time.Time) (int, error)
}

// nameClashRepeat is how often a second process under this node's name is
// reported again while it lasts.
const nameClashRepeat = 5 * time.Minute

// nodeGone is how long after its last heartbeat a node's row is deleted.
const nodeGone = 7 * 24 * time.Hour

// heartbeat is the actor that keeps this node's row in the nodes table:
// written at start and every lease/3, its clean stop recorded at
// shutdown. A node whose heartbeat is older than its lease is gone (its
// running jobs are recovered by the others when their leases expire).
type heartbeat struct {
	st      nodeStore
	node    store.Node // Name, Owner, Version, Address, StartedAt
	workers func() int
	lease   func() time.Duration
	tags    atomic.Pointer[[]string]
	log     *logrus.Entry
	now     func() time.Time

	stop     chan struct{}
	stopOnce sync.Once
	failing  bool      // the last heartbeat failed (logged once)
	beaten   bool      // a heartbeat was written
	warned   time.Time // when a second process under this name was last reported
}

func newHeartbeat(st nodeStore, node store.Node, tags []string, workers func() int, lease func() time.Duration, log *logrus.Entry) *heartbeat {
	h := &heartbeat{st: st, node: node, workers: workers, lease: lease, log: log, now: time.Now, stop: make(chan struct{})}
	h.SetTags(tags)
	return h
}

// SetTags changes the tags the heartbeat reports (a reload).
func (h *heartbeat) SetTags(tags []string) {
	t := slices.Clone(tags)
	h.tags.Store(&t)
}

func (h *heartbeat) Name() string { return "node heartbeat" }

// Run heartbeats at once and then every lease/3 until Shutdown, then
// records the stop.
func (h *heartbeat) Run(ctx context.Context) error {
	if n, err := h.st.PruneNodes(ctx, h.now().Add(-nodeGone)); err == nil && n > 0 {
		h.log.WithField("deleted", n).Infof("deleted the rows of %d nodes gone for more than %s", n, nodeGone)
	}
	for {
		h.beat(ctx)
		timer := time.NewTimer(max(h.lease()/3, time.Second))
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-h.stop:
			timer.Stop()
			stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := h.st.NodeStopped(stopCtx, h.node.Name, h.node.Owner, h.now()); err != nil {
				h.log.WithError(err).Warn("could not record this node's stop in the nodes list")
			}
			return nil
		case <-timer.C:
		}
	}
}

// Shutdown ends Run, which records the stop.
func (h *heartbeat) Shutdown(context.Context) error {
	h.stopOnce.Do(func() { close(h.stop) })
	return nil
}

func (h *heartbeat) beat(ctx context.Context) {
	// After this node's own first heartbeat, a row of another owner is a
	// second process writing under the same name (before it, the row may
	// be this node's own from before a crash).
	if prev, err := h.st.GetNode(ctx, h.node.Name); err == nil && h.beaten && prev.Owner != h.node.Owner && prev.StoppedAt == nil &&
		h.now().Sub(prev.HeartbeatAt) < h.lease() && h.now().Sub(h.warned) > nameClashRepeat {
		h.warned = h.now()
		h.log.WithFields(logrus.Fields{"node": h.node.Name, "other_owner": prev.Owner, "other_address": prev.Address}).
			Warn("another running vpo heartbeats under this node name: the nodes list shows one or the other; give each node its own node.name")
	}
	n := h.node
	n.Workers = h.workers()
	n.Tags = *h.tags.Load()
	err := h.st.Heartbeat(ctx, n, h.now())
	if err == nil {
		h.beaten = true
	}
	switch {
	case err != nil && !h.failing:
		h.failing = true
		h.log.WithError(err).Warn("node heartbeat failed: other nodes will see this node as gone if it lasts longer than the lease")
	case err == nil && h.failing:
		h.failing = false
		h.log.Info("node heartbeat written again")
	}
}
