package server_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/vpo-project/vpo/libs/store"
	"github.com/vpo-project/vpo/services/vpo/internal/server"
)

type fakeNodes struct {
	nodes []store.Node
	err   error
}

func (f fakeNodes) ListNodes(context.Context) ([]store.Node, error) { return f.nodes, f.err }

// TestNodesAPI: every node with its state by its heartbeat (up within the
// lease, gone beyond it, stopped after a clean stop), the answering node
// marked, tags never null; a failing store is a 500.
func TestNodesAPI(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	stopped := now.Add(-time.Minute)
	nodes := []store.Node{
		{Name: "a", Owner: "a:1:x", HeartbeatAt: now.Add(-5 * time.Second), Workers: 4, Tags: []string{"gpu"}, RunningJobs: 2},
		{Name: "b", Owner: "b:1:y", HeartbeatAt: now.Add(-31 * time.Second), Tags: []string{}},
		{Name: "c", Owner: "c:1:z", HeartbeatAt: stopped, StoppedAt: &stopped, Tags: []string{}},
	}
	api := func(s server.NodesStore) *server.NodesAPI {
		return server.NewNodesAPI(server.NodesAPIOptions{Store: s, Lease: func() time.Duration { return 30 * time.Second },
			Self: "a:1:x", Now: func() time.Time { return now }})
	}
	h := server.NewRouter(server.RouterOptions{Health: fakeHealth{}, Nodes: api(fakeNodes{nodes: nodes})})
	code, body := do(h, "GET", "/api/nodes", "")
	list, _ := body["nodes"].([]any)
	if code != 200 || len(list) != 3 {
		t.Fatalf("GET /api/nodes = %d %v", code, body)
	}
	want := []struct {
		state string
		self  bool
	}{{"up", true}, {"gone", false}, {"stopped", false}}
	for i, w := range want {
		n := list[i].(map[string]any)
		if n["state"] != w.state || n["self"] != w.self || n["tags"] == nil {
			t.Errorf("node %v: state %v self %v tags %v; want %s, %v, a list", n["name"], n["state"], n["self"], n["tags"], w.state, w.self)
		}
	}
	if a := list[0].(map[string]any); a["running_jobs"] != float64(2) || a["workers"] != float64(4) || a["owner"] != "a:1:x" {
		t.Errorf("node a = %v", a)
	}
	h = server.NewRouter(server.RouterOptions{Health: fakeHealth{}, Nodes: api(fakeNodes{err: errors.New("connection refused")})})
	if code, _ := do(h, "GET", "/api/nodes", ""); code != 500 {
		t.Errorf("GET /api/nodes with the database down = %d, want 500", code)
	}
}
