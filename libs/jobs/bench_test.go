package jobs_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/vpo-project/vpo/libs/jobs"
	"github.com/vpo-project/vpo/libs/store"
)

// countingQueue signals when a number of jobs have been completed.
type countingQueue struct {
	*store.Store
	completed atomic.Int64
	target    int64
	done      chan struct{}
}

func (q *countingQueue) CompleteJob(ctx context.Context, l store.Lease, result json.RawMessage, now time.Time) error {
	err := q.Store.CompleteJob(ctx, l, result, now)
	if err == nil && q.completed.Add(1) == q.target {
		close(q.done)
	}
	return err
}

// BenchmarkQueueThroughput measures durable no-op jobs through
// submit -> claim -> run -> complete on one SQLite file, with a submitter
// running concurrently with the pool.
func BenchmarkQueueThroughput(b *testing.B) {
	for _, workers := range []int{1, 2, 8} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			ctx := context.Background()
			s, err := store.Open(ctx, filepath.Join(b.TempDir(), "vpo.db"), store.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			reg := jobs.NewRegistry()
			if err := reg.Register("noop", jobs.HandlerFunc(noop)); err != nil {
				b.Fatal(err)
			}
			q := &countingQueue{Store: s, target: int64(b.N), done: make(chan struct{})}
			logger := logrus.New()
			logger.SetLevel(logrus.ErrorLevel)
			logger.SetOutput(discard{})
			pool := jobs.NewPool(q, reg, jobs.PoolOptions{Workers: workers, PollInterval: time.Hour, Log: logrus.NewEntry(logger)})
			errc := make(chan error, 1)
			go func() { errc <- pool.Run(ctx) }()

			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				if _, err := s.CreateJob(ctx, store.NewJob{Kind: "noop"}); err != nil {
					b.Fatal(err)
				}
				pool.Notify()
			}
			<-q.done
			elapsed := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "jobs/s")

			sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			if err := pool.Shutdown(sctx); err != nil {
				b.Fatal(err)
			}
			if err := <-errc; err != nil {
				b.Fatal(err)
			}
		})
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
