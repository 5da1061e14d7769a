// Command riverbench measures River (github.com/riverqueue/river, with its
// pgx driver) on a PostgreSQL database, for the comparison with vpo's
// queue in docs/benchmarks.md:
//
//	riverbench throughput URL JOBS   no-op jobs, 8 inserters, 4 workers: jobs/s
//	riverbench hold URL              runs one 2.5 s job, printing "working" when it starts (killed by the caller)
//	riverbench take URL              prints the seconds until it starts a job left behind by hold
package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
)

type NoopArgs struct{}

func (NoopArgs) Kind() string { return "noop" }

type NoopWorker struct{ river.WorkerDefaults[NoopArgs] }

func (NoopWorker) Work(context.Context, *river.Job[NoopArgs]) error { return nil }

type SlowArgs struct{}

func (SlowArgs) Kind() string { return "slow" }

type SlowWorker struct {
	river.WorkerDefaults[SlowArgs]
	started chan struct{}
}

func (w *SlowWorker) Work(ctx context.Context, _ *river.Job[SlowArgs]) error {
	w.started <- struct{}{}
	select {
	case <-time.After(2500 * time.Millisecond):
	case <-ctx.Done():
	}
	return nil
}

// River's settings for a crash to be noticed soon: a job may run at most
// JobTimeout, and one running longer than RescueStuckJobsAfter (which
// must not be shorter) is taken back by the leader's rescuer (every 30 s).
const timeout = 3 * time.Second

func client(ctx context.Context, url string, w *SlowWorker) (*river.Client[pgx.Tx], error) {
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return nil, err
	}
	m, err := rivermigrate.New(riverpgxv5.New(pool), nil)
	if err != nil {
		return nil, err
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return nil, err
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, &NoopWorker{})
	river.AddWorker(workers, w)
	c, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
		Queues:               map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: 4}},
		Workers:              workers,
		JobTimeout:           timeout,
		RescueStuckJobsAfter: timeout,
		// Fetch as soon as a worker is free (default: at most every
		// 100 ms), so that the queue, not the fetch timer, is measured.
		FetchCooldown: time.Millisecond,
	})
	return c, err
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "riverbench:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx := context.Background()
	mode, url := os.Args[1], os.Args[2]
	w := &SlowWorker{started: make(chan struct{}, 1)}
	c, err := client(ctx, url, w)
	if err != nil {
		return err
	}
	switch mode {
	case "throughput":
		n, _ := strconv.Atoi(os.Args[3])
		done := make(chan struct{}, n)
		sub, cancel := c.Subscribe(river.EventKindJobCompleted)
		defer cancel()
		go func() {
			for range sub {
				done <- struct{}{}
			}
		}()
		if err := c.Start(ctx); err != nil {
			return err
		}
		start := time.Now()
		sem := make(chan struct{}, 8)
		errs := make(chan error, 1)
		for i := 0; i < n; i++ {
			sem <- struct{}{}
			go func() {
				defer func() { <-sem }()
				if _, err := c.Insert(ctx, NoopArgs{}, nil); err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			}()
		}
		for i := 0; i < n; i++ {
			select {
			case <-done:
			case err := <-errs:
				return err
			}
		}
		fmt.Printf("%.1f\n", float64(n)/time.Since(start).Seconds())
		return c.Stop(ctx)
	case "hold":
		if err := c.Start(ctx); err != nil {
			return err
		}
		if _, err := c.Insert(ctx, SlowArgs{}, nil); err != nil {
			return err
		}
		<-w.started
		fmt.Println("working")
		select {} // killed by the caller
	case "take":
		start := time.Now()
		if err := c.Start(ctx); err != nil {
			return err
		}
		select {
		case <-w.started:
			fmt.Printf("%.3f\n", time.Since(start).Seconds())
		case <-time.After(5 * time.Minute):
			return fmt.Errorf("no job taken in 5 minutes")
		}
		return c.Stop(ctx)
	}
	return fmt.Errorf("unknown mode %q", mode)
}
