package store_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/vpo-project/vpo/libs/store"
)

// BenchmarkChildFinished measures the end of one child of a parent with
// b.N children (claim and complete; the last one also finishes the
// parent). With children_pending the cost per child does not grow with the
// number of siblings.
func BenchmarkChildFinished(b *testing.B) {
	ctx := context.Background()
	s, err := store.Open(ctx, filepath.Join(b.TempDir(), "vpo.db"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if _, err := s.CreateJob(ctx, store.NewJob{Kind: "parent"}); err != nil {
		b.Fatal(err)
	}
	p, _, err := s.ClaimJob(ctx, "w", []string{"parent"}, time.Hour, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	kids := make([]store.NewJob, b.N)
	for i := range kids {
		kids[i] = store.NewJob{Kind: "child"}
	}
	if err := s.AwaitChildren(ctx, p.Lease(), kids, nil, time.Now()); err != nil {
		b.Fatal(err)
	}
	result := json.RawMessage(`{"outcome":"applied"}`)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c, ok, err := s.ClaimJob(ctx, "w", []string{"child"}, time.Hour, time.Now())
		if !ok || err != nil {
			b.Fatal(ok, err)
		}
		if err := s.CompleteJob(ctx, c.Lease(), result, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if j, _ := s.GetJob(ctx, p.ID); j.Status != store.StatusCompleted {
		b.Fatalf("parent is %s", j.Status)
	}
}
