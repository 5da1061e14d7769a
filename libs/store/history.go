package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// MaxHistory bounds the entries ListHistory returns.
const MaxHistory = 1000

// HistoryEntry records one change applied to a file.
type HistoryEntry struct {
	ID        int64     `json:"id"`
	FileID    int64     `json:"file_id"`
	Path      string    `json:"path"`
	Policy    string    `json:"policy"`
	AppliedAt time.Time `json:"applied_at"`
	JobID     string    `json:"job_id"`
	Executor  string    `json:"executor"`
	// Plan is the applied plan (policy.Plan) as JSON; TracksBefore and
	// TracksAfter are JSON arrays of the file's tracks.
	Plan         json.RawMessage `json:"plan"`
	TracksBefore json.RawMessage `json:"tracks_before"`
	TracksAfter  json.RawMessage `json:"tracks_after"`
}

// AppliedChange is what RecordApplied writes after a plan was executed.
type AppliedChange struct {
	// PlanID is the stored plan to mark applied (0: none).
	PlanID int64
	// OldPath is the path the file had before (it differs from File.Path
	// when the container, and so the extension, changed).
	OldPath string
	// File is the file as it is now (probe, size, mtime of the result).
	File File
	// History is the entry to add (FileID and Path are filled in here);
	// a History with an empty Executor adds none.
	History HistoryEntry
	// Policy, when set, is the policy the change applied: it is recorded
	// as applied to File at its size and mtime, as MarkApplied does.
	Policy string
}

// RecordApplied writes, in one transaction, the outcome of an applied
// plan: the plan becomes applied, the file's row takes the result's state
// (a row whose path changed is moved, keeping its id and history, unless a
// row already holds the new path: the old one is then marked missing), and
// the history entry is added under the file's id, and Policy is marked
// applied to the file.
func (s *Store) RecordApplied(ctx context.Context, c AppliedChange, now time.Time) (err error) {
	args, err := fileArgs(c.File)
	if err != nil {
		return fmt.Errorf("record applied plan: %w", err)
	}
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("record applied plan for %q: %w", c.File.Path, err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if c.PlanID > 0 {
		if _, err = s.setPlanStatus(ctx, tx, c.PlanID, []string{PlanPending, PlanApproved, PlanPlanned},
			PlanApplied, "", "", now); err != nil {
			return fmt.Errorf("record applied plan for %q: %w", c.File.Path, err)
		}
	}
	if c.OldPath != "" && c.OldPath != c.File.Path {
		var taken int
		if err = tx.QueryRowContext(ctx, "SELECT count(*) FROM files WHERE path = ?", c.File.Path).Scan(&taken); err != nil {
			return fmt.Errorf("record applied plan for %q: %w", c.File.Path, err)
		}
		q := "UPDATE files SET path = ?2 WHERE path = ?1"
		if taken > 0 {
			q = "UPDATE files SET missing = 1 WHERE path = ?1 AND ?2 <> ''"
		}
		if _, err = tx.ExecContext(ctx, q, c.OldPath, c.File.Path); err != nil {
			return fmt.Errorf("record applied plan: move %q to %q: %w", c.OldPath, c.File.Path, err)
		}
	}
	if _, err = tx.ExecContext(ctx, upsertFileSQL, args...); err != nil {
		return fmt.Errorf("record applied plan for %q: %w", c.File.Path, err)
	}
	if c.Policy != "" {
		if _, err = tx.ExecContext(ctx, markAppliedSQL, c.File.Path, c.Policy, c.File.Size, formatTime(c.File.ModTime),
			formatTime(now)); err != nil {
			return fmt.Errorf("record applied plan for %q: mark policy %q applied: %w", c.File.Path, c.Policy, err)
		}
	}
	if h := c.History; h.Executor != "" {
		for _, raw := range []*json.RawMessage{&h.Plan, &h.TracksBefore, &h.TracksAfter} {
			if len(*raw) == 0 {
				*raw = json.RawMessage("null")
			}
			if !json.Valid(*raw) {
				return fmt.Errorf("record applied plan for %q: history holds invalid JSON: %w", c.File.Path, ErrInvalid)
			}
		}
		if _, err = tx.ExecContext(ctx, `INSERT INTO file_history (file_id, path, policy, applied_at, job_id,
				executor, plan, tracks_before, tracks_after)
			SELECT id, path, ?, ?, ?, ?, ?, ?, ? FROM files WHERE path = ?`,
			h.Policy, formatTime(now), h.JobID, h.Executor, string(h.Plan), string(h.TracksBefore),
			string(h.TracksAfter), c.File.Path); err != nil {
			return fmt.Errorf("record applied plan for %q: history: %w", c.File.Path, err)
		}
	}
	if err = tx.Commit(); err != nil {
		return fmt.Errorf("record applied plan for %q: %w", c.File.Path, err)
	}
	return nil
}

// ListHistory returns the changes applied to the file with id fileID,
// newest first (at most MaxHistory).
func (s *Store) ListHistory(ctx context.Context, fileID int64) ([]HistoryEntry, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT id, file_id, path, policy, applied_at, job_id, executor, plan,
			tracks_before, tracks_after
		FROM file_history WHERE file_id = ? ORDER BY id DESC LIMIT ?`, fileID, MaxHistory)
	if err != nil {
		return nil, fmt.Errorf("list history of file %d: %w", fileID, err)
	}
	defer rows.Close()
	out := []HistoryEntry{}
	for rows.Next() {
		var (
			h                   HistoryEntry
			at                  string
			plan, before, after string
		)
		if err := rows.Scan(&h.ID, &h.FileID, &h.Path, &h.Policy, &at, &h.JobID, &h.Executor, &plan,
			&before, &after); err != nil {
			return nil, fmt.Errorf("list history of file %d: %w", fileID, err)
		}
		if h.AppliedAt, err = parseTime(at); err != nil {
			return nil, fmt.Errorf("list history of file %d: %w", fileID, err)
		}
		h.Plan, h.TracksBefore, h.TracksAfter = json.RawMessage(plan), json.RawMessage(before), json.RawMessage(after)
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list history of file %d: %w", fileID, err)
	}
	return out, nil
}
