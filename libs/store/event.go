package store

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Event is one entry of the change feed: the triggers of migration 0010
// write one for every job created, started, queued again, finished, making
// progress or logging a line, and for every pause or resume of the queue,
// in the transaction of the change; AddEvent adds others. IDs grow in
// commit order and are never reused.
type Event struct {
	ID    int64
	At    time.Time
	Type  string // "job.created", "job.progress", "queue.paused", ...
	JobID string // the job concerned, if any
	Data  json.RawMessage
}

// MaxEventBatch bounds the limit of EventsAfter.
const MaxEventBatch = 10000

// EventsAfter returns up to limit events with an id greater than after,
// oldest first.
func (s *Store) EventsAfter(ctx context.Context, after int64, limit int) ([]Event, error) {
	if limit <= 0 || limit > MaxEventBatch {
		return nil, fmt.Errorf("read events: batch size %d not in 1..%d: %w", limit, MaxEventBatch, ErrInvalid)
	}
	rows, err := s.rdb.QueryContext(ctx,
		`SELECT id, at, type, coalesce(job_id, ''), data FROM events WHERE id > ? ORDER BY id LIMIT ?`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("read events after %d: %w", after, err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var (
			e    Event
			at   string
			data string
		)
		if err := rows.Scan(&e.ID, &at, &e.Type, &e.JobID, &data); err != nil {
			return nil, fmt.Errorf("read events after %d: %w", after, err)
		}
		if e.At, err = parseTime(at); err != nil {
			return nil, fmt.Errorf("read event %d: %w", e.ID, err)
		}
		e.Data = json.RawMessage(data)
		if s.pg {
			// PostgreSQL's json_build_object spaces its output; the feed
			// carries the compact form on both backends.
			var b bytes.Buffer
			if json.Compact(&b, e.Data) == nil {
				e.Data = b.Bytes()
			}
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read events after %d: %w", after, err)
	}
	return out, nil
}

// eventBoundsSQL reads the oldest and newest ids in two subqueries:
// SQLite answers a lone min() or max() of the key from the b-tree's ends,
// but both in one SELECT by a scan of the whole table (a test checks the
// plan).
const eventBoundsSQL = `SELECT (SELECT min(id) FROM events), (SELECT max(id) FROM events)`

// EventBounds returns the ids of the oldest and newest events kept (0, 0
// when there are none yet); the newest is never pruned.
func (s *Store) EventBounds(ctx context.Context) (oldest, newest int64, err error) {
	var o, n sql.NullInt64
	if err := s.rdb.QueryRowContext(ctx, eventBoundsSQL).Scan(&o, &n); err != nil {
		return 0, 0, fmt.Errorf("read event bounds: %w", err)
	}
	return o.Int64, n.Int64, nil
}

// AddEvent appends an event of type typ (not empty) whose data is the JSON
// encoding of data, an object; jobID may be empty.
func (s *Store) AddEvent(ctx context.Context, typ, jobID string, data any) (int64, error) {
	if typ == "" {
		return 0, fmt.Errorf("add event: empty type: %w", ErrInvalid)
	}
	b, err := json.Marshal(data)
	if err != nil || len(b) == 0 || b[0] != '{' {
		return 0, fmt.Errorf("add event %s: data must be a JSON object: %w", typ, errors.Join(ErrInvalid, err))
	}
	var job any
	if jobID != "" {
		job = jobID
	}
	var id int64
	err = s.wdb.QueryRowContext(ctx, `INSERT INTO events (type, job_id, data) VALUES (?, ?, ?) RETURNING id`,
		typ, job, string(b)).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("add event %s: %w", typ, err)
	}
	return id, nil
}

// PruneEvents deletes the events older than before, keeping at least the
// newest keep events (and always the newest one, so that ids are never
// reused) whatever their age, at most limit in one call; it returns how
// many it deleted.
func (s *Store) PruneEvents(ctx context.Context, before time.Time, keep, limit int) (int, error) {
	keep = max(keep, 1)
	if limit <= 0 || limit > MaxRetentionBatch {
		return 0, fmt.Errorf("prune events: keep %d, batch size %d not in 1..%d: %w", keep, limit, MaxRetentionBatch, ErrInvalid)
	}
	res, err := s.wdb.ExecContext(ctx, `DELETE FROM events WHERE id IN (
		SELECT id FROM events WHERE at < ?1
		   AND id <= coalesce((SELECT id FROM events ORDER BY id DESC LIMIT 1 OFFSET ?2), 0)
		 ORDER BY id LIMIT ?3)`, before.UTC().Format("2006-01-02T15:04:05.000Z"), keep, limit)
	if err != nil {
		return 0, fmt.Errorf("prune events: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("prune events: %w", err)
	}
	return int(n), nil
}
