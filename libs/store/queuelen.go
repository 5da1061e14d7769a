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
