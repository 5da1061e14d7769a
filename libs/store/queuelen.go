package store

import (
	"context"
	"fmt"
)

// CountQueued returns the number of queued jobs. It reads the one queued
// row of job_counts (kept exact by triggers on jobs, migration 0005) by its
// primary key, so its cost grows neither with the number of finished jobs
// kept nor with the number of queued ones.
func (s *Store) CountQueued(ctx context.Context) (int, error) {
	var n int
	if err := s.rdb.QueryRowContext(ctx, "SELECT n FROM job_counts WHERE status = 'queued'").Scan(&n); err != nil {
		return 0, fmt.Errorf("count queued jobs: %w", err)
	}
	return n, nil
}

// QueueCounts returns, read together (one statement, one snapshot), the
// number of queued jobs and the number of running jobs held under a lease
// by every process (node) that uses the database: what a drained pause
// waits for. (A parent waiting for its children runs without a lease.)
func (s *Store) QueueCounts(ctx context.Context) (queued, leasedRunning int, err error) {
	err = s.rdb.QueryRowContext(ctx, `SELECT (SELECT n FROM job_counts WHERE status = 'queued'),
		(SELECT count(*) FROM jobs WHERE status = 'running' AND lease_owner IS NOT NULL)`).Scan(&queued, &leasedRunning)
	if err != nil {
		return 0, 0, fmt.Errorf("count queued and running jobs: %w", err)
	}
	return queued, leasedRunning, nil
}
