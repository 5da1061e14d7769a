package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/vpo-project/vpo/libs/store"
)

// TestTagsRouteJobs: a job that requires tags is claimed only through a
// store acting for a node that offers all of them; the claim records the
// node; jobs without requirements go to any node.
func TestTagsRouteJobs(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	gpu := mustCreate(t, s, store.NewJob{Kind: "k", Requires: []string{"gpu", "gpu"}})
	both := mustCreate(t, s, store.NewJob{Kind: "k", Requires: []string{"gpu", "nvenc"}})
	plain := mustCreate(t, s, store.NewJob{Kind: "k"})
	if got := mustGet(t, s, gpu.ID); len(got.Requires) != 1 || got.Requires[0] != "gpu" || got.Node != "" {
		t.Fatalf("stored job requires %v, node %q; want [gpu], none", got.Requires, got.Node)
	}
	claim := func() (store.Job, bool) {
		j, ok, err := s.ClaimJob(ctx, "w", []string{"k"}, time.Minute, t0)
		if err != nil {
			t.Fatal(err)
		}
		return j, ok
	}
	if err := s.SetNode("cpu-box", nil); err != nil {
		t.Fatal(err)
	}
	j, ok := claim()
	if !ok || j.ID != plain.ID || j.Node != "cpu-box" {
		t.Fatalf("node without tags claimed %v (%s on %q); want only the plain job %s", ok, j.ID, j.Node, plain.ID)
	}
	if _, ok := claim(); ok {
		t.Fatal("node without tags claimed a job that requires gpu")
	}
	if err := s.SetNode("gpu-box", []string{"gpu"}); err != nil {
		t.Fatal(err)
	}
	if j, ok := claim(); !ok || j.ID != gpu.ID || j.Node != "gpu-box" {
		t.Fatalf("gpu node claimed %v (%s on %q); want %s", ok, j.ID, j.Node, gpu.ID)
	}
	if _, ok := claim(); ok {
		t.Fatal("node with gpu only claimed a job that also requires nvenc")
	}
	if err := s.SetNode("gpu-box", []string{"nvenc", "gpu", "x"}); err != nil {
		t.Fatal(err)
	}
	if j, ok := claim(); !ok || j.ID != both.ID {
		t.Fatalf("node with gpu and nvenc claimed %v (%s); want %s", ok, j.ID, both.ID)
	}
	if _, err := s.CreateJob(ctx, store.NewJob{Kind: "k", Requires: []string{"GPU"}}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("job requiring tag GPU: %v, want ErrInvalid", err)
	}
	if err := s.SetNode("n", []string{"a b"}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("node offering tag %q: %v, want ErrInvalid", "a b", err)
	}
}

// TestNodesHeartbeat: heartbeats write a node's row whole, the list counts
// the running jobs each node claimed, a clean stop is recorded, and
// pruning drops the nodes gone longest.
func TestNodesHeartbeat(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	a := store.Node{Name: "a", Owner: "a:1:x", Version: "1.0", Address: "10.0.0.1:8321", StartedAt: t0, Workers: 4, Tags: []string{"gpu"}}
	if err := s.Heartbeat(ctx, a, t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := s.Heartbeat(ctx, store.Node{Name: "b", Owner: "b:1:y", StartedAt: t0}, t0); err != nil {
		t.Fatal(err)
	}
	if err := s.SetNode("a", nil); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, store.NewJob{Kind: "k"})
	mustClaim(t, s, "a:1:x", t0)
	if err := s.Heartbeat(ctx, a, t0.Add(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	nodes, err := s.ListNodes(ctx)
	if err != nil || len(nodes) != 2 {
		t.Fatalf("ListNodes = %+v, %v", nodes, err)
	}
	if n := nodes[0]; n.Name != "a" || n.Owner != "a:1:x" || n.Workers != 4 || len(n.Tags) != 1 || n.RunningJobs != 1 ||
		!n.HeartbeatAt.Equal(t0.Add(2*time.Second)) || n.StoppedAt != nil || n.Address != "10.0.0.1:8321" {
		t.Errorf("node a = %+v", n)
	}
	if n := nodes[1]; n.Name != "b" || n.RunningJobs != 0 || n.Tags == nil {
		t.Errorf("node b = %+v", n)
	}
	if err := s.NodeStopped(ctx, "a", "a:1:x", t0.Add(3*time.Second)); err != nil {
		t.Fatal(err)
	}
	if n, err := s.GetNode(ctx, "a"); err != nil || n.StoppedAt == nil || !n.StoppedAt.Equal(t0.Add(3*time.Second)) {
		t.Errorf("node a after its stop = %+v, %v", n, err)
	}
	// Another process's stop does not mark a node that was taken over.
	if err := s.NodeStopped(ctx, "b", "someone-else", t0.Add(3*time.Second)); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.GetNode(ctx, "b"); n.StoppedAt != nil {
		t.Errorf("node b stopped by another owner: %+v", n)
	}
	if k, err := s.PruneNodes(ctx, t0.Add(500*time.Millisecond)); err != nil || k != 1 {
		t.Errorf("PruneNodes = %d, %v; want 1 (b)", k, err)
	}
	if _, err := s.GetNode(ctx, "b"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("pruned node b: %v", err)
	}
}

// TestChildrenInheritRequires: the children of a job that requires tags
// require them too, besides their own.
func TestChildrenInheritRequires(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	if err := s.SetNode("gpu-box", []string{"gpu", "nvenc"}); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, store.NewJob{Kind: "k", Requires: []string{"gpu"}})
	parent := mustClaim(t, s, "w", t0)
	if err := s.AwaitChildren(ctx, parent.Lease(), []store.NewJob{{Kind: "x"}, {Kind: "x", Requires: []string{"nvenc"}}}, nil, t0); err != nil {
		t.Fatal(err)
	}
	kids, _, err := s.ListJobs(ctx, store.JobFilter{Parent: parent.ID})
	if err != nil || len(kids) != 2 {
		t.Fatalf("children = %v, %v", kids, err)
	}
	got := map[string]bool{}
	for _, k := range kids {
		got[fmt.Sprint(k.Requires)] = true
	}
	if !got["[gpu]"] || !got["[gpu nvenc]"] {
		t.Errorf("children require %v, want [gpu] and [gpu nvenc]", got)
	}
}

// TestRenewalNeedsNoWriteLock: on PostgreSQL a lease renewal goes through
// while another session holds the cluster-wide write lock (a node cut off
// in the middle of a transaction, until PostgreSQL ends its session).
func TestRenewalNeedsNoWriteLock(t *testing.T) {
	if !onPostgres() {
		t.Skip("the write lock is PostgreSQL's: runs in the PostgreSQL run of this suite")
	}
	ctx := context.Background()
	s, name := openNamed(t)
	mustCreate(t, s, store.NewJob{Kind: "k"})
	j := mustClaim(t, s, "w", t0)
	holder := rawOpen(t, name)
	tx, err := holder.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(1987079937)"); err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := s.RenewLease(rctx, j.Lease(), time.Minute, t0); err != nil {
		t.Fatalf("RenewLease while another session holds the write lock: %v", err)
	}
	// A write that needs the lock waits for it (checked, so that the test
	// holds the lock it claims to).
	wctx, wcancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer wcancel()
	if _, err := s.CreateJob(wctx, store.NewJob{Kind: "k"}); err == nil {
		t.Fatal("CreateJob went through while another session held the write lock")
	}
}
