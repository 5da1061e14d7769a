package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// leasedRunning restricts an UPDATE to the running job ?1 leased to owner
// ?2 under the claim with fencing token ?3.
const leasedRunning = " WHERE id = ?1 AND lease_owner = ?2 AND lease_token = ?3 AND status = 'running'"

// retryClearsProgress is the SET clause, for an UPDATE that puts a job
// whose attempts are not exhausted back to queued (unless its cancellation
// was requested), that clears the progress of the attempt that ended: the
// retry starts from nothing. A job that ends failed or cancelled keeps it,
// showing where it stopped. Like every expression of an UPDATE it reads the
// row as it was before.
const retryClearsProgress = `
		progress_percent = CASE WHEN cancel_requested = 0 AND attempts < max_attempts THEN 0 ELSE progress_percent END,
		progress_message = CASE WHEN cancel_requested = 0 AND attempts < max_attempts THEN '' ELSE progress_message END`

// Statements on the hot path of the queue, prepared once on the writer
// connection.
const (
	insertJobSQL = `INSERT INTO jobs (id, kind, payload, status, priority, attempts, max_attempts, created_at,
			parent_id, run_after, requires)
		VALUES (?, ?, ?, 'queued', ?, 0, ?, ?, ?, ?, ?)`

	renewLeaseSQL = "UPDATE jobs SET lease_expires_at = ?4" + leasedRunning + " RETURNING cancel_requested"

	completeJobSQL = `UPDATE jobs SET status = 'completed', finished_at = ?4, result = ?5, error = NULL,
		progress_percent = 100, eta_seconds = NULL, lease_owner = NULL, lease_expires_at = NULL` + leasedRunning

	failJobSQL = `UPDATE jobs SET
		status = CASE WHEN cancel_requested = 1 THEN 'cancelled'
		              WHEN attempts >= max_attempts THEN 'failed' ELSE 'queued' END,
		finished_at = CASE WHEN cancel_requested = 1 OR attempts >= max_attempts THEN ?4 END,
		error = ?5, eta_seconds = NULL, lease_owner = NULL, lease_expires_at = NULL,` + retryClearsProgress + leasedRunning

	failJobFinalSQL = `UPDATE jobs SET
		status = CASE WHEN cancel_requested = 1 THEN 'cancelled' ELSE 'failed' END,
		finished_at = ?4, error = ?5, eta_seconds = NULL, lease_owner = NULL, lease_expires_at = NULL` + leasedRunning

	finishCancelledSQL = `UPDATE jobs SET status = 'cancelled', finished_at = ?4, eta_seconds = NULL,
		lease_owner = NULL, lease_expires_at = NULL` + leasedRunning

	requeueSQL = `UPDATE jobs SET
		status = CASE WHEN cancel_requested = 1 THEN 'cancelled' ELSE 'queued' END,
		finished_at = CASE WHEN cancel_requested = 1 THEN ?4 END,
		attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, eta_seconds = NULL, lease_owner = NULL, lease_expires_at = NULL,
		progress_percent = CASE WHEN cancel_requested = 1 THEN progress_percent ELSE 0 END,
		progress_message = CASE WHEN cancel_requested = 1 THEN progress_message ELSE '' END` + leasedRunning

	updateProgressSQL = "UPDATE jobs SET progress_percent = ?4, progress_message = ?5, eta_seconds = ?6" + leasedRunning
)

// claimable is the condition on a job that a claim may take: queued, of
// one of the kinds, due, and requiring only tags the node offers. NOW,
// KINDS and TAGS stand for the parameters.
const claimable = `status = 'queued' AND kind IN (SELECT value FROM json_each(KINDS))
			AND (run_after IS NULL OR run_after <= NOW)
			AND (requires = '[]' OR NOT EXISTS (SELECT 1 FROM json_each(jobs.requires) AS r
				WHERE r.value NOT IN (SELECT value FROM json_each(TAGS))))`

var (
	claimableClaim = strings.NewReplacer("NOW", "?1", "KINDS", "?4", "TAGS", "?6").Replace(claimable)
	claimableProbe = strings.NewReplacer("NOW", "?1", "KINDS", "?2", "TAGS", "?3").Replace(claimable)
)

var (
	claimJobSQL = `UPDATE jobs SET
			status = 'running', attempts = attempts + 1, started_at = ?1, finished_at = NULL,
			lease_owner = ?2, lease_expires_at = ?3, lease_token = lease_token + 1,
			progress_percent = 0, progress_message = '', eta_seconds = NULL, node = ?5
		WHERE id = (SELECT id FROM jobs WHERE ` + claimableClaim + `
			ORDER BY priority, seq LIMIT 1) AND status = 'queued'
		RETURNING ` + jobColumns

	// claimProbeSQL tells whether claimJobSQL would find a job; its
	// arguments: now, the kinds, the tags.
	claimProbeSQL = `SELECT EXISTS (SELECT 1 FROM jobs WHERE ` + claimableProbe + `)`
)

type stmts struct {
	insertJob, claimJob, renewLease, completeJob, failJob, failJobFinal, finishCancelled, requeue, updateProgress *dbStmt
}

func (st *stmts) prepare(ctx context.Context, db dbHandle) error {
	for _, p := range []struct {
		dst  **dbStmt
		name string
		sql  string
	}{
		{&st.insertJob, "insert job", insertJobSQL},
		{&st.claimJob, "claim job", claimJobSQL},
		{&st.renewLease, "renew lease", renewLeaseSQL},
		{&st.completeJob, "complete job", completeJobSQL},
		{&st.failJob, "fail job", failJobSQL},
		{&st.failJobFinal, "fail job for good", failJobFinalSQL},
		{&st.finishCancelled, "finish cancelled", finishCancelledSQL},
		{&st.requeue, "requeue job", requeueSQL},
		{&st.updateProgress, "update progress", updateProgressSQL},
	} {
		stmt, err := db.PrepareContext(ctx, p.sql)
		if err != nil {
			return fmt.Errorf("prepare %s statement: %w", p.name, err)
		}
		*p.dst = stmt
	}
	// A lease renewal changes one row's lease_expires_at, which no trigger
	// watches (no event, no count) and no read-then-write depends on: on
	// PostgreSQL it runs without the cluster-wide write lock, so that a
	// node holding that lock while cut off (until PostgreSQL ends its
	// session) does not make the healthy nodes' renewals time out and
	// their jobs be given up. Row locks still order it with any write of
	// the same job.
	st.renewLease.h.writer = false
	return nil
}

func (st *stmts) close() error {
	var errs []error
	for _, s := range []*dbStmt{st.insertJob, st.claimJob, st.renewLease, st.completeJob,
		st.failJob, st.failJobFinal, st.finishCancelled, st.requeue, st.updateProgress} {
		if s != nil {
			errs = append(errs, s.Close())
		}
	}
	return errors.Join(errs...)
}
