package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/google/uuid"
)

// Job statuses.
const (
	StatusQueued    = "queued"
	StatusRunning   = "running"
	StatusCompleted = "completed"
	StatusFailed    = "failed"
	StatusCancelled = "cancelled"
)

// Job limits and defaults.
const (
	MinPriority        = 0
	MaxPriority        = 1000
	DefaultMaxAttempts = 3
	DefaultListLimit   = 50
	MaxListLimit       = 1000
)

// Statuses lists every job status, in lifecycle order.
func Statuses() []string {
	return []string{StatusQueued, StatusRunning, StatusCompleted, StatusFailed, StatusCancelled}
}

// Job is one row of the durable job queue.
type Job struct {
	ID              string          `json:"id"`
	Kind            string          `json:"kind"`
	Payload         json.RawMessage `json:"payload,omitempty"`
	Status          string          `json:"status"`
	Priority        int             `json:"priority"`
	Attempts        int             `json:"attempts"`
	MaxAttempts     int             `json:"max_attempts"`
	CreatedAt       time.Time       `json:"created_at"`
	StartedAt       *time.Time      `json:"started_at,omitempty"` // start of the latest attempt
	FinishedAt      *time.Time      `json:"finished_at,omitempty"`
	LeaseOwner      string          `json:"lease_owner,omitempty"`
	LeaseExpiresAt  *time.Time      `json:"lease_expires_at,omitempty"`
	LeaseToken      int64           `json:"lease_token"` // fencing token of the latest claim (one higher at each claim)
	ProgressPercent float64         `json:"progress_percent"`
	ProgressMessage string          `json:"progress_message,omitempty"`
	// ETASeconds is the running job's estimate of the seconds left in its
	// current attempt; nil when unknown (and once the attempt is over).
	ETASeconds      *int64          `json:"eta_seconds,omitempty"`
	Error           string          `json:"error,omitempty"` // last failure
	Result          json.RawMessage `json:"result,omitempty"`
	CancelRequested bool            `json:"cancel_requested"`
	// ParentID is the job that spawned this one ("" for a top-level job).
	ParentID string `json:"parent_id,omitempty"`
	// AwaitingChildren is true while the job, its own run over, waits for
	// its children: it stays running, without a lease, until the last of
	// them finishes (see AwaitChildren).
	AwaitingChildren bool `json:"awaiting_children,omitempty"`
	// RunAfter, when set, is the earliest time the queued job is claimed.
	RunAfter *time.Time `json:"run_after,omitempty"`
	// Node is the node whose worker claimed the job last ("" when never
	// claimed).
	Node string `json:"node"`
	// Requires are the worker tags a node must offer to claim the job
	// (nil: any node).
	Requires []string `json:"requires,omitempty"`
}

// Lease names the claim that returned this job (see Lease).
func (j Job) Lease() Lease {
	return Lease{JobID: j.ID, Owner: j.LeaseOwner, Token: j.LeaseToken}
}

// Terminal reports whether the job is completed, failed or cancelled.
func (j Job) Terminal() bool {
	return j.Status == StatusCompleted || j.Status == StatusFailed || j.Status == StatusCancelled
}

// NewJob describes a job to enqueue.
type NewJob struct {
	Kind    string          // required
	Payload json.RawMessage // JSON; empty means {}
	// Priority 0..1000, lower runs first; jobs of equal priority run in
	// submission order.
	Priority int
	// MaxAttempts is how many times the job may be started; 0 means
	// DefaultMaxAttempts.
	MaxAttempts int
	// RunAfter, when not zero, delays the job: it is not claimed before.
	RunAfter time.Time
	// ParentID is set by AwaitChildren; CreateJob ignores it.
	ParentID string
	// UniqueKey, when set, is honoured by CreateUniqueJob (see there);
	// CreateJob ignores it.
	UniqueKey string
	// Requires are worker tags (ValidTag) a node must offer to claim the
	// job, e.g. "gpu"; empty: any node.
	Requires []string
}

// JobFilter selects and pages ListJobs results. Jobs are listed newest first
// (descending submission order). Next pages are requested by passing the
// cursor returned with the previous page; a cursor is opaque.
type JobFilter struct {
	Status string // optional exact status
	Kind   string // optional exact kind
	Parent string // optional: only the children of this job
	Limit  int    // 0 means DefaultListLimit; at most MaxListLimit
	Cursor string // "" for the first page
}

const jobColumns = `id, kind, payload, status, priority, attempts, max_attempts, created_at,
	started_at, finished_at, lease_owner, lease_expires_at, progress_percent, progress_message,
	error, result, cancel_requested, lease_token, seq, parent_id, awaiting_children, run_after, eta_seconds,
	node, requires`

type rowScanner interface{ Scan(dest ...any) error }

func scanJob(r rowScanner) (Job, int64, error) {
	var (
		j                                    Job
		payload, created                     string
		started, finished, owner, leaseUntil sql.NullString
		errMsg, result, parent, runAfter     sql.NullString
		node                                 sql.NullString
		requires                             string
		cancel, awaiting                     int
		seq                                  int64
		eta                                  sql.NullInt64
	)
	if err := r.Scan(&j.ID, &j.Kind, &payload, &j.Status, &j.Priority, &j.Attempts, &j.MaxAttempts,
		&created, &started, &finished, &owner, &leaseUntil, &j.ProgressPercent, &j.ProgressMessage,
		&errMsg, &result, &cancel, &j.LeaseToken, &seq, &parent, &awaiting, &runAfter, &eta,
		&node, &requires); err != nil {
		return Job{}, 0, err
	}
	j.ParentID = parent.String
	j.Node = node.String
	if requires != "[]" && requires != "" {
		if err := json.Unmarshal([]byte(requires), &j.Requires); err != nil {
			return Job{}, 0, fmt.Errorf("job %s: stored requires %q: %w", j.ID, requires, err)
		}
	}
	j.AwaitingChildren = awaiting != 0
	var err error
	if j.CreatedAt, err = parseTime(created); err != nil {
		return Job{}, 0, err
	}
	if j.StartedAt, err = parseNullTime(started); err != nil {
		return Job{}, 0, err
	}
	if j.FinishedAt, err = parseNullTime(finished); err != nil {
		return Job{}, 0, err
	}
	if j.LeaseExpiresAt, err = parseNullTime(leaseUntil); err != nil {
		return Job{}, 0, err
	}
	if j.RunAfter, err = parseNullTime(runAfter); err != nil {
		return Job{}, 0, err
	}
	j.Payload = json.RawMessage(payload)
	j.LeaseOwner = owner.String
	j.Error = errMsg.String
	if result.Valid {
		j.Result = json.RawMessage(result.String)
	}
	j.CancelRequested = cancel != 0
	if eta.Valid {
		j.ETASeconds = &eta.Int64
	}
	return j, seq, nil
}

// CreateJob enqueues a job with status queued and returns it.
func (s *Store) CreateJob(ctx context.Context, nj NewJob) (Job, error) {
	nj.ParentID = ""
	j, payload, err := newJobRow(nj)
	if err != nil {
		return Job{}, err
	}
	if _, err := s.stmts.insertJob.ExecContext(ctx, insertJobArgs(j, payload)...); err != nil {
		return Job{}, fmt.Errorf("create job of kind %q: %w", nj.Kind, err)
	}
	return j, nil
}

// insertJobArgs returns the arguments of insertJobSQL for j.
func insertJobArgs(j Job, payload string) []any {
	var parent any
	if j.ParentID != "" {
		parent = j.ParentID
	}
	return []any{j.ID, j.Kind, payload, j.Priority, j.MaxAttempts, formatTime(j.CreatedAt), parent, nullTime(j.RunAfter),
		tagList(j.Requires)}
}

// newJobRow checks nj and returns the row to insert and its payload.
func newJobRow(nj NewJob) (Job, string, error) {
	if nj.Kind == "" {
		return Job{}, "", fmt.Errorf("create job: empty kind: %w", ErrInvalid)
	}
	if nj.Priority < MinPriority || nj.Priority > MaxPriority {
		return Job{}, "", fmt.Errorf("create job of kind %q: priority %d outside %d..%d: %w",
			nj.Kind, nj.Priority, MinPriority, MaxPriority, ErrInvalid)
	}
	if nj.MaxAttempts < 0 {
		return Job{}, "", fmt.Errorf("create job of kind %q: max_attempts %d is negative: %w", nj.Kind, nj.MaxAttempts, ErrInvalid)
	}
	if nj.MaxAttempts == 0 {
		nj.MaxAttempts = DefaultMaxAttempts
	}
	requires, err := CleanTags(nj.Requires)
	if err != nil {
		return Job{}, "", fmt.Errorf("create job of kind %q: requires: %w", nj.Kind, err)
	}
	payload := "{}"
	if len(nj.Payload) > 0 {
		if !json.Valid(nj.Payload) {
			return Job{}, "", fmt.Errorf("create job of kind %q: payload is not valid JSON: %w", nj.Kind, ErrInvalid)
		}
		payload = string(nj.Payload)
	}
	id, err := uuid.NewV7()
	if err != nil {
		return Job{}, "", fmt.Errorf("create job of kind %q: generate id: %w", nj.Kind, err)
	}
	j := Job{
		ID: id.String(), Kind: nj.Kind, Payload: json.RawMessage(payload), Status: StatusQueued,
		Priority: nj.Priority, MaxAttempts: nj.MaxAttempts, CreatedAt: time.Now().UTC(), ParentID: nj.ParentID,
		Requires: requires,
	}
	if !nj.RunAfter.IsZero() {
		at := nj.RunAfter.UTC()
		j.RunAfter = &at
	}
	return j, payload, nil
}

// GetJob returns the job with the given id, or an error wrapping ErrNotFound.
func (s *Store) GetJob(ctx context.Context, id string) (Job, error) {
	j, _, err := scanJob(s.rdb.QueryRowContext(ctx, "SELECT "+jobColumns+" FROM jobs WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return Job{}, fmt.Errorf("job %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Job{}, fmt.Errorf("get job %s: %w", id, err)
	}
	return j, nil
}

// ListJobs returns one page of jobs matching f, newest first, and the cursor
// of the next page ("" when this is the last page).
func (s *Store) ListJobs(ctx context.Context, f JobFilter) ([]Job, string, error) {
	limit, before, err := page(f.Limit, f.Cursor)
	if err != nil {
		return nil, "", fmt.Errorf("list jobs: %w", err)
	}
	q := "SELECT " + jobColumns + " FROM jobs WHERE seq < ?"
	args := []any{before}
	if f.Status != "" {
		if !validStatus(f.Status) {
			return nil, "", fmt.Errorf("list jobs: unknown status %q: %w", f.Status, ErrInvalid)
		}
		q += " AND status = ?"
		args = append(args, f.Status)
	}
	if f.Kind != "" {
		q += " AND kind = ?"
		args = append(args, f.Kind)
	}
	if f.Parent != "" {
		q += " AND parent_id = ?"
		args = append(args, f.Parent)
	}
	q += " ORDER BY seq DESC LIMIT ?"
	args = append(args, limit+1)
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, "", fmt.Errorf("list jobs: %w", err)
	}
	defer rows.Close()
	jobs := make([]Job, 0, limit)
	var lastSeq int64
	next := ""
	for rows.Next() {
		if len(jobs) == limit {
			next = strconv.FormatInt(lastSeq, 10)
			break
		}
		j, seq, err := scanJob(rows)
		if err != nil {
			return nil, "", fmt.Errorf("list jobs: %w", err)
		}
		jobs = append(jobs, j)
		lastSeq = seq
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("list jobs: %w", err)
	}
	return jobs, next, nil
}

// page reads a request for one page: its limit (see pageLimit) and the
// key its rows lie below, from the cursor ("" is the first page).
func page(limit int, cursor string) (int, int64, error) {
	n, err := pageLimit(limit)
	if err != nil {
		return 0, 0, err
	}
	before := int64(math.MaxInt64)
	if cursor != "" {
		before, err = strconv.ParseInt(cursor, 10, 64)
		if err != nil || before <= 0 {
			return 0, 0, fmt.Errorf("malformed cursor %q: %w", cursor, ErrInvalid)
		}
	}
	return n, before, nil
}

func pageLimit(n int) (int, error) {
	switch {
	case n < 0:
		return 0, fmt.Errorf("negative limit %d: %w", n, ErrInvalid)
	case n == 0:
		return DefaultListLimit, nil
	case n > MaxListLimit:
		return MaxListLimit, nil
	}
	return n, nil
}

func validStatus(st string) bool {
	for _, v := range Statuses() {
		if v == st {
			return true
		}
	}
	return false
}

// ClaimJob atomically takes the next queued job (lowest priority value, then
// oldest) whose kind is one of kinds, for owner: it becomes running, its
// attempts count goes up by one, it gets a new fencing token (Job.Lease) and
// it is leased to owner until now+lease. Jobs of other kinds are not
// touched. ok is false when no such job is queued.
func (s *Store) ClaimJob(ctx context.Context, owner string, kinds []string, lease time.Duration, now time.Time) (Job, bool, error) {
	if owner == "" || lease <= 0 {
		return Job{}, false, fmt.Errorf("claim job: empty owner or non-positive lease: %w", ErrInvalid)
	}
	if len(kinds) == 0 {
		return Job{}, false, nil
	}
	kindList, err := json.Marshal(kinds)
	if err != nil {
		return Job{}, false, fmt.Errorf("claim job: %w", err)
	}
	w := s.identity()
	if s.pg {
		// On PostgreSQL a claim is a write transaction under the write
		// lock, which every node's idle workers would take in turn at
		// each wake-up: a read first tells whether there is anything to
		// claim.
		var found bool
		if err := s.rdb.QueryRowContext(ctx, claimProbeSQL, formatTime(now), string(kindList), w.tags).Scan(&found); err != nil {
			return Job{}, false, fmt.Errorf("claim job: %w", err)
		}
		if !found {
			return Job{}, false, nil
		}
	}
	var node any
	if w.node != "" {
		node = w.node
	}
	row := s.stmts.claimJob.QueryRowContext(ctx, formatTime(now), owner, formatTime(now.Add(lease)), string(kindList), node, w.tags)
	j, _, err := scanJob(row)
	if errors.Is(err, sql.ErrNoRows) {
		return Job{}, false, nil
	}
	if err != nil {
		return Job{}, false, fmt.Errorf("claim job: %w", err)
	}
	return j, true, nil
}

// leaseLost builds the error for a lease-checked update that matched no
// row: ErrNotFound when the job does not exist, ErrLeaseLost otherwise.
func (s *Store) leaseLost(ctx context.Context, op string, l Lease) error {
	var (
		status string
		owner  sql.NullString
		token  int64
	)
	err := s.rdb.QueryRowContext(ctx, "SELECT status, lease_owner, lease_token FROM jobs WHERE id = ?", l.JobID).
		Scan(&status, &owner, &token)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("%s job %s: %w", op, l.JobID, ErrNotFound)
	case err != nil:
		return fmt.Errorf("%s %s: %w", op, l, err)
	}
	now := fmt.Sprintf("job is %s", status)
	if status == StatusRunning {
		now = fmt.Sprintf("job is running under owner %q, token %d", owner.String, token)
	}
	return fmt.Errorf("%s %s: %s: %w", op, l, now, ErrLeaseLost)
}

// execLeased runs an UPDATE whose WHERE clause checks id (?1), owner (?2)
// and token (?3) of a running job and maps "no row" to ErrLeaseLost /
// ErrNotFound.
func (s *Store) execLeased(ctx context.Context, op string, l Lease, stmt *dbStmt, args ...any) error {
	res, err := stmt.ExecContext(ctx, append([]any{l.JobID, l.Owner, l.Token}, args...)...)
	if err != nil {
		return fmt.Errorf("%s %s: %w", op, l, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("%s %s: %w", op, l, err)
	}
	if n == 0 {
		return s.leaseLost(ctx, op, l)
	}
	return nil
}

// RenewLease extends the lease l to now+lease and reports whether a
// cancellation was requested. It fails with ErrLeaseLost when the job is no
// longer running under l.
func (s *Store) RenewLease(ctx context.Context, l Lease, lease time.Duration, now time.Time) (bool, error) {
	var cancel int
	err := s.stmts.renewLease.QueryRowContext(ctx, l.JobID, l.Owner, l.Token, formatTime(now.Add(lease))).Scan(&cancel)
	if errors.Is(err, sql.ErrNoRows) {
		return false, s.leaseLost(ctx, "renew lease of", l)
	}
	if err != nil {
		return false, fmt.Errorf("renew lease of %s: %w", l, err)
	}
	return cancel != 0, nil
}

// CompleteJob marks the job running under l completed with result (JSON,
// may be empty).
func (s *Store) CompleteJob(ctx context.Context, l Lease, result json.RawMessage, now time.Time) error {
	var res any
	if len(result) > 0 {
		if !json.Valid(result) {
			return fmt.Errorf("complete %s: result is not valid JSON: %w", l, ErrInvalid)
		}
		res = string(result)
	}
	return s.execLeased(ctx, "complete", l, s.stmts.completeJob, formatTime(now), res)
}

// FailJob records a failed attempt of the job running under l. The job goes
// back to queued while attempts < max_attempts, and becomes failed
// otherwise; a job whose cancellation was requested becomes cancelled
// instead of being retried.
func (s *Store) FailJob(ctx context.Context, l Lease, msg string, now time.Time) error {
	return s.execLeased(ctx, "fail", l, s.stmts.failJob, formatTime(now), msg)
}

// FailJobFinal records a failure of the job running under l that another
// attempt cannot mend (bad input): the job becomes failed whatever
// attempts it has left, or cancelled when its cancellation was requested.
func (s *Store) FailJobFinal(ctx context.Context, l Lease, msg string, now time.Time) error {
	return s.execLeased(ctx, "fail", l, s.stmts.failJobFinal, formatTime(now), msg)
}

// FinishCancelled marks the job running under l cancelled (its handler
// stopped after a cancellation request).
func (s *Store) FinishCancelled(ctx context.Context, l Lease, now time.Time) error {
	return s.execLeased(ctx, "finish cancelled", l, s.stmts.finishCancelled, formatTime(now))
}

// RequeueInterrupted puts the job running under l back to queued because
// the worker is shutting down. The interruption does not count as an
// attempt. A job whose cancellation was requested becomes cancelled
// instead.
func (s *Store) RequeueInterrupted(ctx context.Context, l Lease, now time.Time) error {
	return s.execLeased(ctx, "requeue", l, s.stmts.requeue, formatTime(now))
}

// UpdateProgress records the progress of the job running under l. percent
// is clamped to 0..100. eta is the estimated time left, stored in whole
// seconds (rounded); eta < 0 means unknown.
func (s *Store) UpdateProgress(ctx context.Context, l Lease, percent float64, msg string, eta time.Duration) error {
	if math.IsNaN(percent) {
		return fmt.Errorf("update progress of %s: percent is NaN: %w", l, ErrInvalid)
	}
	percent = math.Max(0, math.Min(100, percent))
	var etaSeconds any
	if eta >= 0 {
		etaSeconds = int64(eta.Round(time.Second) / time.Second)
	}
	return s.execLeased(ctx, "update progress of", l, s.stmts.updateProgress, percent, msg, etaSeconds)
}

// CancelJob cancels a job: a queued job becomes cancelled at once, a running
// job gets cancel_requested set (its worker stops it and finishes it as
// cancelled). Cancelling a job in a terminal status fails with ErrConflict.
// Cancelling a running job twice is not an error.
func (s *Store) CancelJob(ctx context.Context, id string, now time.Time) (Job, error) {
	row := s.wdb.QueryRowContext(ctx, `UPDATE jobs SET
			status = CASE WHEN status = 'queued' THEN 'cancelled' ELSE status END,
			finished_at = CASE WHEN status = 'queued' THEN ?2 ELSE finished_at END,
			cancel_requested = 1
		WHERE id = ?1 AND status IN ('queued', 'running')
		RETURNING `+jobColumns, id, formatTime(now))
	j, _, err := scanJob(row)
	if errors.Is(err, sql.ErrNoRows) {
		return Job{}, s.statusConflict(ctx, "cancel", id)
	}
	if err != nil {
		return Job{}, fmt.Errorf("cancel job %s: %w", id, err)
	}
	return j, nil
}

// RetryJob puts a failed or cancelled job back to queued with its attempts
// reset to zero (it keeps its place in submission order). Other statuses
// fail with ErrConflict.
func (s *Store) RetryJob(ctx context.Context, id string) (Job, error) {
	row := s.wdb.QueryRowContext(ctx, `UPDATE jobs SET status = 'queued', attempts = 0, cancel_requested = 0,
			started_at = NULL, finished_at = NULL, error = NULL, result = NULL,
			progress_percent = 0, progress_message = '', eta_seconds = NULL, lease_owner = NULL, lease_expires_at = NULL
		WHERE id = ?1 AND status IN ('failed', 'cancelled')
		RETURNING `+jobColumns, id)
	j, _, err := scanJob(row)
	if errors.Is(err, sql.ErrNoRows) {
		return Job{}, s.statusConflict(ctx, "retry", id)
	}
	if err != nil {
		return Job{}, fmt.Errorf("retry job %s: %w", id, err)
	}
	return j, nil
}

func (s *Store) statusConflict(ctx context.Context, op, id string) error {
	var status string
	err := s.rdb.QueryRowContext(ctx, "SELECT status FROM jobs WHERE id = ?", id).Scan(&status)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("%s job %s: %w", op, id, ErrNotFound)
	case err != nil:
		return fmt.Errorf("%s job %s: %w", op, id, err)
	}
	return fmt.Errorf("%s job %s: job is %s: %w", op, id, status, ErrConflict)
}

// RecoverExpired takes back the running jobs whose lease expired before now
// (their worker died or lost the database). A job with attempts left goes
// back to queued (the lost attempt counts); an exhausted job becomes failed,
// and a job whose cancellation was requested becomes cancelled. requeued
// counts the jobs put back to queued, failed the ones that reached a
// terminal status. The jobs named in keep are left alone: their worker is
// alive and still holds them (it may be writing their outcome right now,
// after a pause longer than the lease).
func (s *Store) RecoverExpired(ctx context.Context, now time.Time, keep ...string) (requeued, failed int, err error) {
	kept, err := json.Marshal(append([]string{}, keep...))
	if err != nil {
		return 0, 0, fmt.Errorf("recover expired jobs: %w", err)
	}
	rows, err := s.wdb.QueryContext(ctx, `UPDATE jobs SET
			status = CASE WHEN cancel_requested = 1 THEN 'cancelled'
			              WHEN attempts >= max_attempts THEN 'failed' ELSE 'queued' END,
			finished_at = CASE WHEN cancel_requested = 1 OR attempts >= max_attempts THEN ?1 END,
			error = 'lease of worker ' || coalesce(lease_owner, '?') || ' expired at ' || coalesce(lease_expires_at, '?')
				|| ' (the worker stopped, or could not reach the database to renew it)',
			eta_seconds = NULL, lease_owner = NULL, lease_expires_at = NULL,`+retryClearsProgress+`
		WHERE status = 'running' AND lease_expires_at < ?1 AND id NOT IN (SELECT value FROM json_each(?2))
		RETURNING status`, formatTime(now), string(kept))
	if err != nil {
		return 0, 0, fmt.Errorf("recover expired jobs: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var st string
		if err := rows.Scan(&st); err != nil {
			return 0, 0, fmt.Errorf("recover expired jobs: %w", err)
		}
		if st == StatusQueued {
			requeued++
		} else {
			failed++
		}
	}
	if err := rows.Err(); err != nil {
		return 0, 0, fmt.Errorf("recover expired jobs: %w", err)
	}
	return requeued, failed, nil
}

// CanonicalJobID returns id in the canonical spelling the store uses
// (lower case, hyphenated): upper case, braces, an urn:uuid: prefix or no
// hyphens name the same job. ok is false when id is not a UUID.
func CanonicalJobID(id string) (string, bool) {
	u, err := uuid.Parse(id)
	// uuid.Parse takes any 38-character string as {uuid} without looking at
	// the first and last characters: only braces are a spelling of a UUID.
	if err != nil || (len(id) == 38 && (id[0] != '{' || id[37] != '}')) {
		return "", false
	}
	return u.String(), true
}

// JobCount is the number of jobs of one kind in one status.
type JobCount struct {
	Status, Kind string
	N            int
}

// CountJobsByKind counts the jobs by status and kind (the job metrics);
// it reads every job, through the index on status.
func (s *Store) CountJobsByKind(ctx context.Context) ([]JobCount, error) {
	rows, err := s.rdb.QueryContext(ctx, "SELECT status, kind, count(*) FROM jobs GROUP BY status, kind ORDER BY status, kind")
	if err != nil {
		return nil, fmt.Errorf("count jobs by kind: %w", err)
	}
	defer rows.Close()
	var out []JobCount
	for rows.Next() {
		var c JobCount
		if err := rows.Scan(&c.Status, &c.Kind, &c.N); err != nil {
			return nil, fmt.Errorf("count jobs by kind: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count jobs by kind: %w", err)
	}
	return out, nil
}

// CountJobs returns the number of jobs per status; every status is present.
func (s *Store) CountJobs(ctx context.Context) (map[string]int, error) {
	// job_counts is kept equal to the GROUP BY over jobs by triggers
	// (migration 0005): five rows, whatever the number of jobs.
	rows, err := s.rdb.QueryContext(ctx, "SELECT status, n FROM job_counts")
	if err != nil {
		return nil, fmt.Errorf("count jobs: %w", err)
	}
	defer rows.Close()
	counts := make(map[string]int, 5)
	for _, st := range Statuses() {
		counts[st] = 0
	}
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, fmt.Errorf("count jobs: %w", err)
		}
		counts[st] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count jobs: %w", err)
	}
	return counts, nil
}
