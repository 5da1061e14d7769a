package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ApplyKey is the unique key (NewJob.UniqueKey) of an apply of policy to
// the one file at path: a hash, so that any path bytes make a valid key.
func ApplyKey(policy, path string) string {
	return uniqueKey("apply", policy, path)
}

// ScanKey is the unique key of a scan of path (a library's root or one
// file).
func ScanKey(path string) string { return uniqueKey("scan", "", path) }

// DirScanKey is the unique key of a scan of the directory dir alone (not
// recursive): not ScanKey(dir), which a recursive scan of dir holds (a
// queued scan of the directory alone must not stand in for it).
func DirScanKey(dir string) string { return uniqueKey("scan-dir", "", dir) }

func uniqueKey(kind, policy, path string) string {
	sum := sha256.Sum256([]byte(policy + "\x00" + path))
	return kind + ":" + hex.EncodeToString(sum[:16])
}

// CreateUniqueJob creates the job nj unless a queued job already holds
// nj.UniqueKey: then it returns that job and created false. Without a
// UniqueKey it is CreateJob. A job that runs no longer holds its key, so a
// job created while another with the same key runs is a new one.
func (s *Store) CreateUniqueJob(ctx context.Context, nj NewJob) (Job, bool, error) {
	if nj.UniqueKey == "" {
		j, err := s.CreateJob(ctx, nj)
		return j, err == nil, err
	}
	nj.ParentID = ""
	j, payload, err := newJobRow(nj)
	if err != nil {
		return Job{}, false, err
	}
	// The queued holder may be claimed between the insert that found it
	// and the read of it: then the key is free, and the next round
	// inserts.
	for range 3 {
		res, err := s.wdb.ExecContext(ctx, insertUniqueJobSQL, append(insertJobArgs(j, payload), nj.UniqueKey)...)
		if err != nil {
			return Job{}, false, fmt.Errorf("create job of kind %q: %w", nj.Kind, err)
		}
		if n, err := res.RowsAffected(); err == nil && n == 1 {
			return j, true, nil
		}
		held, _, err := scanJob(s.rdb.QueryRowContext(ctx,
			"SELECT "+jobColumns+" FROM jobs WHERE unique_key = ? AND status = 'queued'", nj.UniqueKey))
		if err == nil {
			return held, false, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return Job{}, false, fmt.Errorf("create job of kind %q: read the queued job holding its key: %w", nj.Kind, err)
		}
	}
	return Job{}, false, fmt.Errorf("create job of kind %q: its unique key stays taken by jobs claimed at once: %w", nj.Kind, ErrConflict)
}

// UniqueJobRunning tells whether a job holding the unique key key runs
// (a parent waiting for its children included).
func (s *Store) UniqueJobRunning(ctx context.Context, key string) (bool, error) {
	var n int
	err := s.rdb.QueryRowContext(ctx, "SELECT count(*) FROM jobs WHERE unique_key = ? AND status = 'running'", key).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("running job of key %s: %w", key, err)
	}
	return n > 0, nil
}

const insertUniqueJobSQL = `INSERT INTO jobs (id, kind, payload, status, priority, attempts, max_attempts, created_at,
			parent_id, run_after, requires, unique_key)
		VALUES (?, ?, ?, 'queued', ?, 0, ?, ?, ?, ?, ?, ?)
		ON CONFLICT DO NOTHING`

// MarkApplied stores that policy was applied with success to the file
// at path, which then had size and mtime.
func (s *Store) MarkApplied(ctx context.Context, path, policy string, size int64, mtime, at time.Time) error {
	if path == "" || policy == "" {
		return fmt.Errorf("mark applied: empty path or policy: %w", ErrInvalid)
	}
	_, err := s.wdb.ExecContext(ctx, markAppliedSQL, path, policy, size, formatTime(mtime), formatTime(at))
	if err != nil {
		return fmt.Errorf("mark policy %q applied to %q: %w", policy, path, err)
	}
	return nil
}

// markAppliedSQL stores the applied state of a path and policy; its
// arguments are path, policy, size, mtime, applied_at.
const markAppliedSQL = `INSERT INTO applied_files (path, policy, size, mtime, applied_at)
		VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (path, policy) DO UPDATE SET size = excluded.size, mtime = excluded.mtime,
			applied_at = excluded.applied_at`

// AppliedState returns the size and mtime the file at path had when
// policy was last applied to it with success; ok is false when never.
func (s *Store) AppliedState(ctx context.Context, path, policy string) (size int64, mtime time.Time, ok bool, err error) {
	var mt string
	err = s.rdb.QueryRowContext(ctx, "SELECT size, mtime FROM applied_files WHERE path = ? AND policy = ?",
		path, policy).Scan(&size, &mt)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, time.Time{}, false, nil
	}
	if err == nil {
		mtime, err = parseTime(mt)
	}
	if err != nil {
		return 0, time.Time{}, false, fmt.Errorf("applied state of %q under policy %q: %w", path, policy, err)
	}
	return size, mtime, true, nil
}

// FileRef is a recorded file's path with its recorded size and mtime.
type FileRef struct {
	Path    string
	Size    int64
	ModTime time.Time
}

// FilesToApply returns up to limit recorded files under root (not missing)
// that policy was never applied to with success at their recorded size and
// mtime, ordered by path, starting after the path after ("" for the first
// page).
func (s *Store) FilesToApply(ctx context.Context, root, policy, after string, limit int) ([]FileRef, error) {
	lo, hi, err := underRoot(root)
	if err != nil {
		return nil, fmt.Errorf("files to apply under %q: %w", root, err)
	}
	if after > lo {
		lo = after
	}
	if limit <= 0 {
		limit = MaxFilesByPath
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT f.path, f.size, f.mtime FROM files AS f
		LEFT JOIN applied_files AS a ON a.path = f.path AND a.policy = ?3
		WHERE f.path > ?1 AND f.path < ?2 AND f.missing = 0 AND f.mtime IS NOT NULL
		  AND (a.path IS NULL OR a.size <> f.size OR a.mtime <> f.mtime)
		ORDER BY f.path LIMIT ?4`, lo, hi, policy, limit)
	if err != nil {
		return nil, fmt.Errorf("files to apply under %q: %w", root, err)
	}
	defer rows.Close()
	var out []FileRef
	for rows.Next() {
		var (
			r  FileRef
			mt string
		)
		if err := rows.Scan(&r.Path, &r.Size, &mt); err != nil {
			return nil, fmt.Errorf("files to apply under %q: %w", root, err)
		}
		if r.ModTime, err = parseTime(mt); err != nil {
			return nil, fmt.Errorf("files to apply under %q: %w", root, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("files to apply under %q: %w", root, err)
	}
	return out, nil
}

// QueueState is the stored state of the queue as a whole.
type QueueState struct {
	// Paused: no worker claims a new job.
	Paused bool
	// Drain: the pause let running jobs finish (rather than requeue them).
	Drain bool
	// ChangedAt is when the state was last set (zero: never).
	ChangedAt time.Time
	// Window is the processing window of every daemon that shares the
	// database (SetQueueWindow); nil when none is set: each daemon follows
	// its own configuration.
	Window *QueueWindow
}

// QueueWindow is a processing window stored for the whole cluster.
type QueueWindow struct {
	// Schedule is the window's canonical text; "" is always open.
	Schedule string
	// Kinds are the job kinds it holds back while closed.
	Kinds []string
	// SetAt is when it was stored.
	SetAt time.Time
	// Unreadable says what of the stored columns could not be read ("" when
	// all could): a window that is not to be followed.
	Unreadable string
}

// QueueState returns the stored state of the queue.
func (s *Store) QueueState(ctx context.Context) (QueueState, error) {
	var (
		q                     QueueState
		paused, drain         int
		changed, sched, kinds sql.NullString
		windowSet             sql.NullString
	)
	err := s.rdb.QueryRowContext(ctx, `SELECT paused, drain, changed_at, schedule, scheduled_kinds, window_set_at
		FROM queue_state WHERE id = 1`).Scan(&paused, &drain, &changed, &sched, &kinds, &windowSet)
	if err != nil {
		return QueueState{}, fmt.Errorf("read queue state: %w", err)
	}
	at, err := parseNullTime(changed)
	if err != nil {
		return QueueState{}, fmt.Errorf("read queue state: %w", err)
	}
	if at != nil {
		q.ChangedAt = *at
	}
	q.Paused, q.Drain = paused != 0, drain != 0
	if sched.Valid || kinds.Valid || windowSet.Valid {
		q.Window = readQueueWindow(sched, kinds, windowSet)
	}
	return q, nil
}

// readQueueWindow makes the stored window of its three columns. What
// cannot be read (the columns edited by hand) is told in Unreadable rather
// than failing the read of the whole state: the pause must still be read.
func readQueueWindow(sched, kinds, setAt sql.NullString) *QueueWindow {
	w := &QueueWindow{Schedule: sched.String, Kinds: []string{}}
	var problems []string
	if !sched.Valid {
		problems = append(problems, "no schedule")
	}
	if kinds.Valid {
		if err := json.Unmarshal([]byte(kinds.String), &w.Kinds); err != nil {
			problems = append(problems, fmt.Sprintf("scheduled_kinds %q is not a JSON list of kinds", kinds.String))
		}
	}
	if at, err := parseNullTime(setAt); err != nil {
		problems = append(problems, fmt.Sprintf("window_set_at %q is not a time", setAt.String))
	} else if at != nil {
		w.SetAt = *at
	}
	w.Unreadable = strings.Join(problems, "; ")
	return w
}

// SetQueueWindow stores w as the processing window of every daemon that
// shares the database (SetAt as given; now when zero); nil removes it, and
// each daemon follows its own configuration again. The pause is left as
// it is. The caller checks the schedule's text and the kinds.
func (s *Store) SetQueueWindow(ctx context.Context, w *QueueWindow) error {
	var sched, kinds, at any
	if w != nil {
		if w.SetAt.IsZero() {
			w.SetAt = time.Now()
		}
		k, err := json.Marshal(append([]string{}, w.Kinds...))
		if err != nil {
			return fmt.Errorf("store the queue's window: %w", err)
		}
		sched, kinds, at = w.Schedule, string(k), formatTime(w.SetAt)
	}
	_, err := s.wdb.ExecContext(ctx, "UPDATE queue_state SET schedule = ?, scheduled_kinds = ?, window_set_at = ? WHERE id = 1",
		sched, kinds, at)
	if err != nil {
		return fmt.Errorf("store the queue's window: %w", err)
	}
	return nil
}

// SetQueueState stores q (ChangedAt as given; now when zero).
func (s *Store) SetQueueState(ctx context.Context, q QueueState) error {
	if q.ChangedAt.IsZero() {
		q.ChangedAt = time.Now()
	}
	_, err := s.wdb.ExecContext(ctx, "UPDATE queue_state SET paused = ?, drain = ?, changed_at = ? WHERE id = 1",
		boolInt(q.Paused), boolInt(q.Paused && q.Drain), formatTime(q.ChangedAt))
	if err != nil {
		return fmt.Errorf("store queue state: %w", err)
	}
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// LastScan returns when the newest completed scan job of exactly root
// finished; ok is false when there is none (or retention removed it).
func (s *Store) LastScan(ctx context.Context, root string) (time.Time, bool, error) {
	var at sql.NullString
	err := s.rdb.QueryRowContext(ctx, `SELECT max(finished_at) FROM jobs
		WHERE kind = 'scan' AND status = 'completed' AND json_extract(payload, '$.path') = ?`, root).Scan(&at)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("last scan of %q: %w", root, err)
	}
	t, err := parseNullTime(at)
	if err != nil || t == nil {
		return time.Time{}, false, err
	}
	return *t, true, nil
}

// CancelQueuedApplies cancels the queued apply jobs of policy for files
// under root that were queued as unique jobs (by a library's watcher,
// rescans or hooks; not the applies an operator submitted), with msg as
// their error, and returns how many. A library removed from the
// configuration, or given another policy, calls it so that its pending
// work is not carried out after all. (An apply of a path given as
// path_b64, not UTF-8, is not matched.)
func (s *Store) CancelQueuedApplies(ctx context.Context, root, policy, msg string, now time.Time) (int, error) {
	lo, hi, err := underRoot(root)
	if err != nil {
		return 0, fmt.Errorf("cancel queued applies under %q: %w", root, err)
	}
	res, err := s.wdb.ExecContext(ctx, `UPDATE jobs SET status = 'cancelled', finished_at = ?1, error = ?2,
			cancel_requested = 1
		WHERE status = 'queued' AND kind = 'apply' AND unique_key IS NOT NULL
		  AND json_extract(payload, '$.policy') = ?3
		  AND json_extract(payload, '$.path') > ?4 AND json_extract(payload, '$.path') < ?5`,
		formatTime(now), msg, policy, lo, hi)
	if err != nil {
		return 0, fmt.Errorf("cancel queued applies of %q under %q: %w", policy, root, err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}
