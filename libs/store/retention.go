package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// finishedStatuses is the SQL list of the terminal statuses; it must match
// the WHERE clause of the partial index jobs_finished_at.
const finishedStatuses = `('completed', 'failed', 'cancelled')`

// MaxRetentionBatch bounds the limit of DeleteFinishedJobs.
const MaxRetentionBatch = 10000

// DeleteFinishedJobs deletes at most limit finished jobs (completed, failed
// or cancelled) that finished before cutoff, oldest first, and returns how
// many it deleted. Queued and running jobs are never deleted, whatever their
// age. The candidates are found on a read connection through the index on
// finished_at; the write lock is held only for one DELETE of at most limit
// rows by primary key, which checks status and age again (a job retried in
// between is queued again and stays).
func (s *Store) DeleteFinishedJobs(ctx context.Context, cutoff time.Time, limit int) (int, error) {
	if limit <= 0 || limit > MaxRetentionBatch {
		return 0, fmt.Errorf("delete finished jobs: batch size %d not in 1..%d: %w", limit, MaxRetentionBatch, ErrInvalid)
	}
	before := formatTime(cutoff)
	rows, err := s.rdb.QueryContext(ctx, `SELECT seq FROM jobs
		WHERE status IN `+finishedStatuses+` AND finished_at < ?1
		ORDER BY finished_at LIMIT ?2`, before, limit)
	if err != nil {
		return 0, fmt.Errorf("delete finished jobs: %w", err)
	}
	args := []any{before}
	for rows.Next() {
		var seq int64
		if err := rows.Scan(&seq); err != nil {
			_ = rows.Close()
			return 0, fmt.Errorf("delete finished jobs: %w", err)
		}
		args = append(args, seq)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return 0, fmt.Errorf("delete finished jobs: %w", err)
	}
	if len(args) == 1 {
		return 0, nil
	}
	marks := make([]string, 0, len(args)-1)
	for i := 2; i <= len(args); i++ {
		marks = append(marks, "?"+strconv.Itoa(i))
	}
	res, err := s.wdb.ExecContext(ctx, `DELETE FROM jobs
		WHERE seq IN (`+strings.Join(marks, ",")+`) AND status IN `+finishedStatuses+` AND finished_at < ?1`, args...)
	if err != nil {
		return 0, fmt.Errorf("delete finished jobs: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("delete finished jobs: %w", err)
	}
	return int(n), nil
}
