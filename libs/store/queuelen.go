package store

import (
	"context"
	"fmt"
)

// CountQueued returns the number of queued jobs. It reads only the queued
// entries of the (status, priority, seq) index, so its cost does not grow
// with the number of finished jobs kept.
func (s *Store) CountQueued(ctx context.Context) (int, error) {
	var n int
	if err := s.rdb.QueryRowContext(ctx, "SELECT count(*) FROM jobs WHERE status = 'queued'").Scan(&n); err != nil {
		return 0, fmt.Errorf("count queued jobs: %w", err)
	}
	return n, nil
}
