package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Plan statuses.
const (
	PlanPlanned    = "planned"    // a dry run: recorded, never to be applied
	PlanPending    = "pending"    // waits for approval
	PlanApproved   = "approved"   // approved; its apply job is queued or running
	PlanRejected   = "rejected"   // refused by a user
	PlanApplied    = "applied"    // done
	PlanFailed     = "failed"     // its apply failed
	PlanSuperseded = "superseded" // the file changed after planning; a new plan replaced it
)

// PlanStatuses lists every plan status.
func PlanStatuses() []string {
	return []string{PlanPlanned, PlanPending, PlanApproved, PlanRejected, PlanApplied, PlanFailed, PlanSuperseded}
}

// Plan is one stored plan: what a policy does (or would do) to one file.
type Plan struct {
	ID        int64     `json:"id"`
	JobID     string    `json:"job_id"`
	Policy    string    `json:"policy"`
	Path      string    `json:"path"`
	Status    string    `json:"status"`
	DryRun    bool      `json:"dry_run"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// Plan is the policy's plan (policy.Plan) as JSON.
	Plan json.RawMessage `json:"plan"`
	// FileSize and FileMTime are those of the file the plan was made from.
	FileSize   int64     `json:"file_size"`
	FileMTime  time.Time `json:"file_mtime"`
	Error      string    `json:"error"`
	ApplyJobID string    `json:"apply_job_id"`
}

// PlanFilter selects and pages ListPlans results (newest first).
type PlanFilter struct {
	Status, Path, Policy, JobID string // optional exact matches
	Limit                       int    // 0 means DefaultListLimit; at most MaxListLimit
	Cursor                      string // "" for the first page
}

const planColumns = `id, job_id, policy, path, status, dry_run, created_at, updated_at, plan,
	file_size, file_mtime, error, apply_job_id`

func scanPlan(r rowScanner) (Plan, error) {
	var (
		p                       Plan
		created, updated, mtime string
		plan                    string
		dry                     int
	)
	if err := r.Scan(&p.ID, &p.JobID, &p.Policy, &p.Path, &p.Status, &dry, &created, &updated, &plan,
		&p.FileSize, &mtime, &p.Error, &p.ApplyJobID); err != nil {
		return Plan{}, err
	}
	var err error
	if p.CreatedAt, err = parseTime(created); err != nil {
		return Plan{}, err
	}
	if p.UpdatedAt, err = parseTime(updated); err != nil {
		return Plan{}, err
	}
	if mtime != "" {
		if p.FileMTime, err = parseTime(mtime); err != nil {
			return Plan{}, err
		}
	}
	p.DryRun = dry != 0
	p.Plan = json.RawMessage(plan)
	return p, nil
}

func validPlanStatus(st string) bool {
	for _, v := range PlanStatuses() {
		if v == st {
			return true
		}
	}
	return false
}

// insertPlanSQL inserts one plan; its arguments are those of planArgs.
const insertPlanSQL = `INSERT INTO plans (job_id, policy, path, status, dry_run, created_at,
		updated_at, plan, file_size, file_mtime, error, apply_job_id)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// planArgs checks p and returns the arguments of insertPlanSQL.
func planArgs(p Plan, now time.Time) ([]any, error) {
	switch {
	case p.Path == "" || p.Policy == "":
		return nil, fmt.Errorf("empty path or policy: %w", ErrInvalid)
	case !validPlanStatus(p.Status):
		return nil, fmt.Errorf("plan for %q: unknown status %q: %w", p.Path, p.Status, ErrInvalid)
	case !json.Valid(p.Plan):
		return nil, fmt.Errorf("plan for %q: plan is not valid JSON: %w", p.Path, ErrInvalid)
	}
	dry := 0
	if p.DryRun {
		dry = 1
	}
	at := formatTime(now)
	return []any{p.JobID, p.Policy, p.Path, p.Status, dry, at, at, string(p.Plan), p.FileSize, nullTimeText(p.FileMTime),
		p.Error, p.ApplyJobID}, nil
}

// CreatePlan stores p (its ID, CreatedAt and UpdatedAt are set here) and
// returns it as stored.
func (s *Store) CreatePlan(ctx context.Context, p Plan, now time.Time) (Plan, error) {
	args, err := planArgs(p, now)
	if err != nil {
		return Plan{}, fmt.Errorf("create plan: %w", err)
	}
	out, err := scanPlan(s.wdb.QueryRowContext(ctx, insertPlanSQL+" RETURNING "+planColumns, args...))
	if err != nil {
		return Plan{}, fmt.Errorf("create plan for %q: %w", p.Path, err)
	}
	return out, nil
}

// CreatePlans stores plans in one transaction, as CreatePlan does for
// each (a directory dry run stores its plans in batches this way). Either
// all are stored or none: a plan with an empty path or policy, an unknown
// status or invalid JSON fails the whole call with ErrInvalid, naming its
// index and path, before anything is written.
func (s *Store) CreatePlans(ctx context.Context, plans []Plan, now time.Time) error {
	args := make([][]any, len(plans))
	for i, p := range plans {
		a, err := planArgs(p, now)
		if err != nil {
			return fmt.Errorf("create plans: item %d: %w", i, err)
		}
		args[i] = a
	}
	if err := s.insertPlans(ctx, args); err != nil {
		return fmt.Errorf("create %d plans: %w", len(plans), err)
	}
	return nil
}

// plansPerInsert is how many plans one INSERT statement of CreatePlans
// stores (12 parameters each, far below SQLite's limit of 32766): one
// statement per row would cost a statement step per row.
const plansPerInsert = 64

// insertPlans inserts the rows of args (each from planArgs) in one
// transaction, plansPerInsert rows per statement.
func (s *Store) insertPlans(ctx context.Context, args [][]any) error {
	if len(args) == 0 {
		return nil
	}
	return s.inWriteTx(ctx, func(tx *wtx) error { return insertPlanChunks(ctx, tx, args) })
}

// insertPlanChunks is insertPlans in tx.
func insertPlanChunks(ctx context.Context, tx *wtx, args [][]any) (err error) {
	var full *dbStmt
	for start := 0; start < len(args); start += plansPerInsert {
		chunk := args[start:min(start+plansPerInsert, len(args))]
		flat := make([]any, 0, len(chunk)*len(chunk[0]))
		for _, a := range chunk {
			flat = append(flat, a...)
		}
		if len(chunk) < plansPerInsert {
			_, err = tx.ExecContext(ctx, multiRowInsert(len(chunk)), flat...)
		} else {
			if full == nil {
				if full, err = tx.PrepareContext(ctx, multiRowInsert(plansPerInsert)); err != nil {
					return err
				}
				defer full.Close()
			}
			_, err = full.ExecContext(ctx, flat...)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// multiRowInsert is insertPlanSQL with n rows of values.
func multiRowInsert(n int) string {
	const row = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
	return strings.TrimSuffix(insertPlanSQL, row) + strings.Repeat(row+", ", n-1) + row
}

func nullTimeText(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return formatTime(t)
}

// GetPlan returns the plan with id, or an error wrapping ErrNotFound.
func (s *Store) GetPlan(ctx context.Context, id int64) (Plan, error) {
	p, err := scanPlan(s.rdb.QueryRowContext(ctx, "SELECT "+planColumns+" FROM plans WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return Plan{}, fmt.Errorf("plan %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return Plan{}, fmt.Errorf("get plan %d: %w", id, err)
	}
	return p, nil
}

// ListPlans returns one page of plans matching f, newest first, and the
// cursor of the next page ("" when this is the last page).
func (s *Store) ListPlans(ctx context.Context, f PlanFilter) ([]Plan, string, error) {
	limit, before, err := page(f.Limit, f.Cursor)
	if err != nil {
		return nil, "", fmt.Errorf("list plans: %w", err)
	}
	if f.Status != "" && !validPlanStatus(f.Status) {
		return nil, "", fmt.Errorf("list plans: unknown status %q: %w", f.Status, ErrInvalid)
	}
	q := "SELECT " + planColumns + " FROM plans WHERE id < ?"
	args := []any{before}
	for _, c := range []struct{ col, v string }{
		{"status", f.Status}, {"path", f.Path}, {"policy", f.Policy},
	} {
		if c.v != "" {
			q += " AND " + c.col + " = ?"
			args = append(args, c.v)
		}
	}
	if f.JobID != "" {
		// A directory job's plans are its own (a dry run plans scanned
		// files itself) and its children's.
		q += " AND (job_id = ? OR job_id IN (SELECT id FROM jobs WHERE parent_id = ?))"
		args = append(args, f.JobID, f.JobID)
	}
	q += " ORDER BY id DESC LIMIT ?"
	args = append(args, limit+1)
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, "", fmt.Errorf("list plans: %w", err)
	}
	defer rows.Close()
	plans := make([]Plan, 0, limit)
	next := ""
	for rows.Next() {
		if len(plans) == limit {
			next = strconv.FormatInt(plans[len(plans)-1].ID, 10)
			break
		}
		p, err := scanPlan(rows)
		if err != nil {
			return nil, "", fmt.Errorf("list plans: %w", err)
		}
		plans = append(plans, p)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("list plans: %w", err)
	}
	return plans, next, nil
}

// SetPlanStatus moves plan id from one of the statuses from to status,
// with errMsg. It fails with ErrNotFound for an unknown plan and with
// ErrConflict when the plan is in another status.
func (s *Store) SetPlanStatus(ctx context.Context, id int64, from []string, status, errMsg string, now time.Time) (Plan, error) {
	return s.setPlanStatus(ctx, s.wdb, id, from, status, errMsg, "", now)
}

type queryer interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *dbRow
}

func (s *Store) setPlanStatus(ctx context.Context, q queryer, id int64, from []string, status, errMsg, applyJob string, now time.Time) (Plan, error) {
	if !validPlanStatus(status) {
		return Plan{}, fmt.Errorf("set plan %d status: unknown status %q: %w", id, status, ErrInvalid)
	}
	fromJSON, err := json.Marshal(from)
	if err != nil {
		return Plan{}, fmt.Errorf("set plan %d status: %w", id, err)
	}
	p, err := scanPlan(q.QueryRowContext(ctx, `UPDATE plans SET status = ?2, error = ?3, updated_at = ?4,
			apply_job_id = CASE WHEN ?5 = '' THEN apply_job_id ELSE ?5 END
		WHERE id = ?1 AND status IN (SELECT value FROM json_each(?6)) RETURNING `+planColumns,
		id, status, errMsg, formatTime(now), applyJob, string(fromJSON)))
	if errors.Is(err, sql.ErrNoRows) {
		cur, gerr := s.GetPlan(ctx, id)
		if gerr != nil {
			return Plan{}, gerr
		}
		return Plan{}, fmt.Errorf("plan %d is %s, not %v: %w", id, cur.Status, from, ErrConflict)
	}
	if err != nil {
		return Plan{}, fmt.Errorf("set plan %d status: %w", id, err)
	}
	return p, nil
}

// ApprovePlan approves the pending plan id and enqueues nj, the job that
// applies it, in one transaction; the plan records the job's id. It fails
// with ErrNotFound for an unknown plan and ErrConflict when the plan is not
// pending (nothing is enqueued then).
func (s *Store) ApprovePlan(ctx context.Context, id int64, nj NewJob, now time.Time) (p Plan, j Job, err error) {
	nj.ParentID = ""
	j, payload, err := newJobRow(nj)
	if err != nil {
		return Plan{}, Job{}, fmt.Errorf("approve plan %d: %w", id, err)
	}
	tx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return Plan{}, Job{}, fmt.Errorf("approve plan %d: %w", id, err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	p, err = s.setPlanStatus(ctx, tx, id, []string{PlanPending}, PlanApproved, "", j.ID, now)
	if err != nil {
		return Plan{}, Job{}, err
	}
	if _, err = tx.ExecContext(ctx, insertJobSQL, insertJobArgs(j, payload)...); err != nil {
		return Plan{}, Job{}, fmt.Errorf("approve plan %d: enqueue: %w", id, err)
	}
	if err = tx.Commit(); err != nil {
		return Plan{}, Job{}, fmt.Errorf("approve plan %d: %w", id, err)
	}
	return p, j, nil
}
