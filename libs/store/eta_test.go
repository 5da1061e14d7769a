package store_test

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vpo-project/vpo/libs/store"
)

func TestUpdateProgressStoresETA(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	j := mustCreate(t, s, store.NewJob{Kind: "k"})
	l := mustClaim(t, s, "w", t0).Lease()
	if got := mustGet(t, s, j.ID); got.ETASeconds != nil {
		t.Fatalf("eta of a job without reports = %d, want nil", *got.ETASeconds)
	}
	for _, tc := range []struct {
		eta  time.Duration
		want string // "" for nil
	}{
		{70 * time.Second, "70"},
		{1500 * time.Millisecond, "2"},
		{0, "0"},
		{-1, ""},
	} {
		if err := s.UpdateProgress(ctx, l, 10, "encoding", tc.eta); err != nil {
			t.Fatal(err)
		}
		got := mustGet(t, s, j.ID)
		if s := etaString(got.ETASeconds); s != tc.want {
			t.Errorf("eta after UpdateProgress(%v) = %q, want %q", tc.eta, s, tc.want)
		}
	}
	if err := s.UpdateProgress(ctx, l, 10, "encoding", time.Minute); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(mustGet(t, s, j.ID))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"eta_seconds":60`) {
		t.Errorf("job JSON %s lacks eta_seconds 60", b)
	}
}

// TestETAClearedWhenAttemptEnds checks every transition that ends or
// restarts an attempt forgets the estimate of the attempt before.
func TestETAClearedWhenAttemptEnds(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		end  func(s *store.Store, l store.Lease) error
	}{
		{"complete", func(s *store.Store, l store.Lease) error { return s.CompleteJob(ctx, l, nil, t0) }},
		{"fail with retry", func(s *store.Store, l store.Lease) error { return s.FailJob(ctx, l, "boom", t0) }},
		{"fail final", func(s *store.Store, l store.Lease) error { return s.FailJobFinal(ctx, l, "boom", t0) }},
		{"requeue", func(s *store.Store, l store.Lease) error { return s.RequeueInterrupted(ctx, l, t0) }},
		{"finish cancelled", func(s *store.Store, l store.Lease) error { return s.FinishCancelled(ctx, l, t0) }},
		{"recover expired", func(s *store.Store, l store.Lease) error {
			_, _, err := s.RecoverExpired(ctx, t0.Add(time.Hour))
			return err
		}},
		{"await children", func(s *store.Store, l store.Lease) error {
			return s.AwaitChildren(ctx, l, []store.NewJob{{Kind: "x"}}, nil, t0)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openTestStore(t)
			j := mustCreate(t, s, store.NewJob{Kind: "k", MaxAttempts: 3})
			l := mustClaim(t, s, "w", t0).Lease()
			if err := s.UpdateProgress(ctx, l, 50, "half", time.Minute); err != nil {
				t.Fatal(err)
			}
			if err := tc.end(s, l); err != nil {
				t.Fatal(err)
			}
			if got := mustGet(t, s, j.ID); got.ETASeconds != nil {
				t.Errorf("after %s: eta = %d (status %s), want nil", tc.name, *got.ETASeconds, got.Status)
			}
		})
	}
}

func TestETAClearedOnClaimAndRetry(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	j := mustCreate(t, s, store.NewJob{Kind: "k", MaxAttempts: 1})
	l := mustClaim(t, s, "w", t0).Lease()
	if err := s.FailJob(ctx, l, "boom", t0); err != nil {
		t.Fatal(err)
	}
	// An estimate left behind (a row written by an older version) is
	// cleared by a retry, and by a claim.
	db := s.Raw()
	if _, err := db.Exec("UPDATE jobs SET eta_seconds = 5 WHERE id = ?", j.ID); err != nil {
		t.Fatal(err)
	}
	r, err := s.RetryJob(ctx, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if r.ETASeconds != nil {
		t.Errorf("retried job eta = %d, want nil", *r.ETASeconds)
	}
	if _, err := db.Exec("UPDATE jobs SET eta_seconds = 5 WHERE id = ?", j.ID); err != nil {
		t.Fatal(err)
	}
	if c := mustClaim(t, s, "w", t0); c.ETASeconds != nil {
		t.Errorf("claimed job eta = %d, want nil", *c.ETASeconds)
	}
}

func etaString(p *int64) string {
	if p == nil {
		return ""
	}
	return strconv.FormatInt(*p, 10)
}
