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

// retentionSelectSQL finds up to ?2 finished jobs that finished before ?1,
// oldest first. It must read the partial index jobs_finished_at, which
// yields them in finished_at order from the first one: its status term is
// the index's WHERE clause word for word, so that SQLite can prove the
// index covers the query. Left to itself the planner prefers
// jobs_status_seq and sorts all finished jobs in a temporary B-tree on
// every batch, work proportional to the whole table; INDEXED BY forbids
// that, and turns a query the index can no longer serve (say after the
// index changes) into an error instead of a silent full sort.
const retentionSelectSQL = `SELECT seq FROM jobs INDEXED BY jobs_finished_at
	WHERE status IN ` + finishedStatuses + ` AND finished_at < ?1
	ORDER BY finished_at LIMIT ?2`

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
	rows, err := s.rdb.QueryContext(ctx, retentionSelectSQL, before, limit)
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
	res, err := s.wdb.ExecContext(ctx, retentionDeleteSQL(len(args)-1), args...)
	if err != nil {
		return 0, fmt.Errorf("delete finished jobs: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("delete finished jobs: %w", err)
	}
	return int(n), nil
}

// retentionDeleteSQL deletes the n jobs whose seq are ?2..?n+1, looked up
// by primary key, if they are still finished before ?1.
func retentionDeleteSQL(n int) string {
	marks := make([]string, n)
	for i := range marks {
		marks[i] = "?" + strconv.Itoa(i+2)
	}
	// A finished child of a parent still waiting for its other children
	// stays: the parent's result counts it when the last one finishes.
	return `DELETE FROM jobs
		WHERE seq IN (` + strings.Join(marks, ",") + `) AND status IN ` + finishedStatuses + ` AND finished_at < ?1
		AND (parent_id IS NULL OR NOT EXISTS (SELECT 1 FROM jobs AS p WHERE p.id = jobs.parent_id AND p.awaiting_children = 1))`
}
