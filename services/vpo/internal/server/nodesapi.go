package server

import (
	"context"
	"net/http"
	"time"

	"github.com/gorilla/mux"
	"github.com/sirupsen/logrus"

	"github.com/vpo-project/vpo/libs/logging"
	"github.com/vpo-project/vpo/libs/store"
)

// NodesStore is what GET /api/nodes reads.
type NodesStore interface {
	ListNodes(ctx context.Context) ([]store.Node, error)
}

// NodesAPIOptions configures NewNodesAPI.
type NodesAPIOptions struct {
	Store NodesStore
	// Lease is the job lease: a node whose last heartbeat is older is
	// "gone" (its jobs are recovered by the others).
	Lease func() time.Duration
	// Self is this node's lease owner name (its worker pool's): two nodes
	// of one name are told apart by it.
	Self string
	Now  func() time.Time
	Log  *logrus.Entry
}

// NodesAPI serves GET /api/nodes.
type NodesAPI struct{ opts NodesAPIOptions }

// NewNodesAPI returns the API; mount it with RouterOptions.Nodes.
func NewNodesAPI(opts NodesAPIOptions) *NodesAPI {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = logging.Discard()
	}
	return &NodesAPI{opts: opts}
}

func (a *NodesAPI) mount(r *mux.Router) {
	mountRoutes(r, []route{{"/api/nodes", http.MethodGet, a.list}})
}

// NodeView is one node of GET /api/nodes.
type NodeView struct {
	store.Node
	// State is "up" (heartbeat within the lease), "gone" (none for
	// longer) or "stopped" (shut down cleanly).
	State string `json:"state"`
	// Self marks the node that answered.
	Self bool `json:"self"`
}

func (a *NodesAPI) list(w http.ResponseWriter, r *http.Request) {
	nodes, err := a.opts.Store.ListNodes(r.Context())
	if err != nil {
		writeStoreError(w, err)
		return
	}
	now, lease := a.opts.Now(), a.opts.Lease()
	out := make([]NodeView, 0, len(nodes))
	for _, n := range nodes {
		v := NodeView{Node: n, State: "up", Self: n.Owner == a.opts.Self}
		switch {
		case n.StoppedAt != nil:
			v.State = "stopped"
		case now.Sub(n.HeartbeatAt) > lease:
			v.State = "gone"
		}
		out = append(out, v)
	}
	replyJSON(a.opts.Log, w, r, http.StatusOK, NodeList{Nodes: out})
}

// NodeList is the body of GET /api/nodes.
type NodeList struct {
	Nodes []NodeView `json:"nodes"`
}
