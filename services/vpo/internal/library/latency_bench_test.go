package library_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vpo-project/vpo/libs/store"
	"github.com/vpo-project/vpo/services/vpo/internal/library"
)

// timedStore is the real store that notes when each apply was queued.
type timedStore struct {
	*store.Store
	mu     sync.Mutex
	queued map[string]time.Time
}

func (s *timedStore) CreateUniqueJob(ctx context.Context, nj store.NewJob) (store.Job, bool, error) {
	j, created, err := s.Store.CreateUniqueJob(ctx, nj)
	if err == nil && created && nj.Kind == applyKind {
		s.mu.Lock()
		s.queued[nj.UniqueKey] = time.Now()
		s.mu.Unlock()
	}
	return j, created, err
}

func (s *timedStore) at(key string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.queued[key]
	return t, ok
}

// BenchmarkStableToQueued measures the latency from a file becoming stable
// (its last write) to its apply job being queued in a real (SQLite)
// store, minus the hold: the goal is at most 1 s. Each iteration
// writes 10 files at once into a watched library with a 300 ms hold and
// waits for their jobs. It reports the median and the worst latency past
// the hold (ms-over-hold-p50, ms-over-hold-max) and prints them.
func BenchmarkStableToQueued(b *testing.B) {
	const (
		hold  = 300 * time.Millisecond
		batch = 10
	)
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(b.TempDir(), "vpo.db"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ts := &timedStore{Store: st, queued: map[string]time.Time{}}
	root := b.TempDir()
	m := library.New(library.Options{Store: ts, Ready: make(chan struct{})},
		[]library.Spec{{Path: root, Policy: "normalize", Watch: true, Hold: hold}})
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- m.Run(rctx) }()
	defer func() {
		cancel()
		<-done
	}()
	for {
		if s := m.Status(); len(s) == 1 && s[0].Watching {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	var over []time.Duration
	n := 0
	b.ResetTimer()
	for range b.N {
		written := map[string]time.Time{}
		for range batch {
			n++
			p := filepath.Join(root, fmt.Sprintf("f%06d.mkv", n))
			if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
				b.Fatal(err)
			}
			written[store.ApplyKey("normalize", p)] = time.Now()
		}
		deadline := time.Now().Add(30 * time.Second)
		for key, w := range written {
			for {
				if q, ok := ts.at(key); ok {
					over = append(over, q.Sub(w)-hold)
					break
				}
				if time.Now().After(deadline) {
					b.Fatalf("no apply queued within 30s")
				}
				time.Sleep(time.Millisecond)
			}
		}
	}
	b.StopTimer()
	slices.Sort(over)
	p50, worst := over[len(over)/2], over[len(over)-1]
	b.ReportMetric(float64(p50.Microseconds())/1000, "ms-over-hold-p50")
	b.ReportMetric(float64(worst.Microseconds())/1000, "ms-over-hold-max")
	fmt.Printf("stable → queued: %d files, latency past the %s hold: median %s, worst %s (goal: at most 1s)\n",
		len(over), hold, p50.Round(time.Millisecond), worst.Round(time.Millisecond))
}
