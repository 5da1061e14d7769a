package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// AwaitChildren ends the run l of a job by handing its work to children: in
// one transaction it inserts them (each with ParentID set to the job) and
// turns the job into a waiting parent, still running but without a lease
// (no worker holds it and lease recovery leaves it alone), its error
// cleared. The job then finishes in the transaction in which its last child
// reaches a terminal status (migration 0006; meanwhile its progress
// message says how many children it waits for): cancelled if its cancellation
// was requested, failed if FailFamily was called, else completed, with a
// result counting the children by outcome. Cancelling it cancels its
// children. It fails with ErrLeaseLost when the job no longer runs under l
// (nothing is inserted then) and with ErrInvalid without children.
//
// Every child requires the worker tags its parent requires, besides its
// own.
//
// counted, when not nil, is what the job did itself before handing the
// rest to children: a JSON object with the keys of the result ("files",
// "unchanged", "applied", "planned", "pending_approval", "skipped",
// "failed"; missing keys count 0). It is the job's result while it waits,
// and is added to its children's counts when it finishes (migration 0006).
func (s *Store) AwaitChildren(ctx context.Context, l Lease, children []NewJob, counted json.RawMessage, now time.Time) (err error) {
	if len(children) == 0 {
		return fmt.Errorf("await children of %s: no children: %w", l, ErrInvalid)
	}
	var result any
	if counted != nil {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(counted, &obj); err != nil || obj == nil {
			return fmt.Errorf("await children of %s: counted %s is not a JSON object: %w", l, counted, ErrInvalid)
		}
		result = string(counted)
	}
	rows := make([]Job, len(children))
	payloads := make([]string, len(children))
	for i, nj := range children {
		nj.ParentID = l.JobID
		if rows[i], payloads[i], err = newJobRow(nj); err != nil {
			return fmt.Errorf("await children of %s: child %d: %w", l, i, err)
		}
	}
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("await children of %s: %w", l, err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	res, err := tx.ExecContext(ctx, `UPDATE jobs SET awaiting_children = 1, children_pending = CAST(?4 AS INTEGER), error = NULL, result = ?5,
		progress_message = 'child jobs left: ' || CAST(?4 AS INTEGER), eta_seconds = NULL, lease_owner = NULL, lease_expires_at = NULL`+
		leasedRunning+" AND cancel_requested = 0",
		l.JobID, l.Owner, l.Token, len(children), result)
	if err != nil {
		return fmt.Errorf("await children of %s: %w", l, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		_ = tx.Rollback()
		if err != nil {
			return fmt.Errorf("await children of %s: %w", l, err)
		}
		var cancel int
		err = s.rdb.QueryRowContext(ctx, "SELECT cancel_requested FROM jobs"+leasedRunning, l.JobID, l.Owner, l.Token).Scan(&cancel)
		if err == nil && cancel == 1 {
			return fmt.Errorf("await children of %s: cancellation requested: %w", l, ErrConflict)
		}
		return s.leaseLost(ctx, "await children of", l)
	}
	// Children require what their parent requires (a directory apply
	// for GPU nodes hands them files to encode), besides their own tags.
	var parentRequires string
	if err = tx.QueryRowContext(ctx, "SELECT requires FROM jobs WHERE id = ?", l.JobID).Scan(&parentRequires); err != nil {
		return fmt.Errorf("await children of %s: %w", l, err)
	}
	if parentRequires != "[]" {
		var tags []string
		if err = json.Unmarshal([]byte(parentRequires), &tags); err != nil {
			return fmt.Errorf("await children of %s: stored requires %q: %w", l, parentRequires, err)
		}
		for i := range rows {
			if rows[i].Requires, err = CleanTags(append(tags, rows[i].Requires...)); err != nil {
				return fmt.Errorf("await children of %s: %w", l, err)
			}
		}
	}
	stmt, err := tx.PrepareContext(ctx, insertJobSQL)
	if err != nil {
		return fmt.Errorf("await children of %s: %w", l, err)
	}
	defer stmt.Close()
	for i, j := range rows {
		if _, err = stmt.ExecContext(ctx, insertJobArgs(j, payloads[i])...); err != nil {
			return fmt.Errorf("await children of %s: insert child %d: %w", l, i, err)
		}
	}
	if err = tx.Commit(); err != nil {
		return fmt.Errorf("await children of %s: %w", l, err)
	}
	return nil
}

// FailFamily makes the waiting parent job parentID end failed with msg
// (unless its cancellation was requested) and stops its children other
// than child (the one that failed, which records its own outcome):
// queued ones are cancelled at once, running ones get a cancellation
// request. The parent still finishes when its last child does. A parent
// that is not waiting, or already has an error set by an earlier call,
// keeps its first error.
func (s *Store) FailFamily(ctx context.Context, parentID, child, msg string, now time.Time) error {
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("fail job family %s: %w", parentID, err)
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, `UPDATE jobs SET error = ?2
		WHERE id = ?1 AND awaiting_children = 1 AND error IS NULL`, parentID, msg); err != nil {
		return fmt.Errorf("fail job family %s: %w", parentID, err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE jobs SET
			status = CASE WHEN status = 'queued' THEN 'cancelled' ELSE status END,
			finished_at = CASE WHEN status = 'queued' THEN ?2 ELSE finished_at END,
			cancel_requested = 1
		WHERE parent_id = ?1 AND id <> ?3 AND status IN ('queued', 'running')`, parentID, formatTime(now), child); err != nil {
		return fmt.Errorf("fail job family %s: %w", parentID, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("fail job family %s: %w", parentID, err)
	}
	return nil
}
