package store_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/vpo-project/vpo/libs/store"
)

// statusCounts runs query, which returns (status, n) rows, on db; every
// status is present in the result.
// rowsLike is what statusCounts reads of the rows of a query.
type rowsLike interface {
	Next() bool
	Scan(dest ...any) error
	Close() error
	Err() error
}

func statusCounts[R rowsLike](t *testing.T, run func(q string, args ...any) (R, error), query string) map[string]int {
	t.Helper()
	rows, err := run(query)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[string]int{}
	for _, st := range store.Statuses() {
		got[st] = 0
	}
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			t.Fatal(err)
		}
		got[st] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return got
}

const (
	countedSQL = "SELECT status, n FROM job_counts"
	actualSQL  = "SELECT status, count(*) FROM jobs GROUP BY status"
)

// checkCounts compares job_counts and CountQueued with the jobs table.
func checkCounts[R rowsLike](t *testing.T, s *store.Store, query func(q string, args ...any) (R, error), when string) {
	t.Helper()
	counted, actual := statusCounts(t, query, countedSQL), statusCounts(t, query, actualSQL)
	if fmt.Sprint(counted) != fmt.Sprint(actual) {
		t.Fatalf("%s: job_counts = %v, jobs has %v", when, counted, actual)
	}
	if n, err := s.CountQueued(context.Background()); err != nil || n != actual[store.StatusQueued] {
		t.Fatalf("%s: CountQueued = %d, %v; want %d", when, n, err, actual[store.StatusQueued])
	}
}

// TestJobCountsStayExact runs random sequences of every operation that
// adds, removes or moves jobs (submit, claim, complete, fail, requeue,
// finish cancelled, cancel, retry, lease recovery, retention) and checks
// after each step that job_counts equals COUNT(*) GROUP BY status.
func TestJobCountsStayExact(t *testing.T) {
	for seed := uint64(1); seed <= 4; seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			ctx := context.Background()
			s := openTestStore(t)
			db := s.Raw()
			rng := rand.New(rand.NewPCG(seed, 0))
			now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			var running []store.Job // claimed, maybe finished or recovered since
			var ids []string
			pick := func() string { return ids[rng.IntN(len(ids))] }
			takeRunning := func() (store.Job, bool) {
				if len(running) == 0 {
					return store.Job{}, false
				}
				i := rng.IntN(len(running))
				j := running[i]
				running = append(running[:i], running[i+1:]...)
				return j, true
			}
			ops := []struct {
				name string
				run  func() error
			}{
				{"submit", func() error {
					j, err := s.CreateJob(ctx, store.NewJob{Kind: "k", MaxAttempts: 1 + rng.IntN(3)})
					ids = append(ids, j.ID)
					return err
				}},
				{"claim", func() error {
					j, ok, err := s.ClaimJob(ctx, "w", []string{"k"}, time.Minute, now)
					if ok {
						running = append(running, j)
					}
					return err
				}},
				{"complete", func() error {
					if j, ok := takeRunning(); ok {
						return ignoreConflict(s.CompleteJob(ctx, j.Lease(), nil, now))
					}
					return nil
				}},
				{"fail", func() error {
					if j, ok := takeRunning(); ok {
						return ignoreConflict(s.FailJob(ctx, j.Lease(), "boom", now))
					}
					return nil
				}},
				{"requeue", func() error {
					if j, ok := takeRunning(); ok {
						return ignoreConflict(s.RequeueInterrupted(ctx, j.Lease(), now))
					}
					return nil
				}},
				{"finish cancelled", func() error {
					if j, ok := takeRunning(); ok {
						return ignoreConflict(s.FinishCancelled(ctx, j.Lease(), now))
					}
					return nil
				}},
				{"cancel", func() error {
					if len(ids) == 0 {
						return nil
					}
					_, err := s.CancelJob(ctx, pick(), now)
					return ignoreConflict(err)
				}},
				{"retry", func() error {
					if len(ids) == 0 {
						return nil
					}
					_, err := s.RetryJob(ctx, pick())
					return ignoreConflict(err)
				}},
				{"recover", func() error {
					_, _, err := s.RecoverExpired(ctx, now.Add(2*time.Minute))
					return err
				}},
				{"retention", func() error {
					_, err := s.DeleteFinishedJobs(ctx, now.Add(-30*time.Second), 1+rng.IntN(5))
					return err
				}},
			}
			moved := map[string]bool{} // ops that changed the counts at least once
			for step := 0; step < 400; step++ {
				op := ops[rng.IntN(len(ops))]
				if step < 20 {
					op = ops[0]
				}
				before := statusCounts(t, db.Query, actualSQL)
				if err := op.run(); err != nil {
					t.Fatalf("step %d, %s: %v", step, op.name, err)
				}
				checkCounts(t, s, db.Query, fmt.Sprintf("step %d, after %s", step, op.name))
				if fmt.Sprint(before) != fmt.Sprint(statusCounts(t, db.Query, actualSQL)) {
					moved[op.name] = true
				}
				now = now.Add(time.Second)
			}
			for _, op := range ops {
				if !moved[op.name] {
					t.Errorf("%s never changed a job's status: the sequence did not exercise it", op.name)
				}
			}
		})
	}
}

// ignoreConflict treats a refused transition (a stale lease, a terminal
// job cancelled, a queued job retried) as a no-op of the random sequence.
func ignoreConflict(err error) error {
	if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrLeaseLost) {
		return nil
	}
	return err
}

// TestJobCountsMigration: migration 0005 counts the jobs already in the
// table when it runs.
func TestJobCountsMigration(t *testing.T) {
	sqliteOnly(t)
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "library.db")
	s, err := store.Open(ctx, path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	// Back to schema 4, then rows written by a binary without the triggers.
	db := rawDB(t, path)
	for _, q := range []string{
		// 0014, then 0013 (files_assign_id, which 0006 made, is gone), then 0012
		"DROP TRIGGER events_queue_window", "ALTER TABLE queue_state DROP COLUMN schedule",
		"ALTER TABLE queue_state DROP COLUMN scheduled_kinds", "ALTER TABLE queue_state DROP COLUMN window_set_at",
		"DROP TABLE nodes", "ALTER TABLE jobs DROP COLUMN node", "ALTER TABLE jobs DROP COLUMN requires",
		// then 0011
		"DROP INDEX files_missing_path", "DROP INDEX files_probe_failed_path",
		// then 0010
		"DROP TRIGGER events_job_created", "DROP TRIGGER events_job_status", "DROP TRIGGER events_job_progress",
		"DROP TRIGGER events_job_cancel_requested", "DROP TRIGGER events_queue_state", "DROP TRIGGER events_job_log", "DROP TRIGGER events_library_scan",
		"DROP TRIGGER job_logs_delete", "DROP TABLE job_logs", "DROP TABLE events",
		// then 0009
		"DROP TRIGGER files_drop_dir_digest_update",
		"DROP TRIGGER files_drop_dir_digest_delete", "DROP TABLE scan_dirs",
		"DROP TRIGGER job_counts_insert", "DROP TRIGGER job_counts_delete", "DROP TRIGGER job_counts_update",
		"DROP TABLE job_counts", "DELETE FROM schema_migrations WHERE version >= 5",
		// and undo 0006, which comes after
		"DROP TRIGGER jobs_child_finished", "DROP TRIGGER jobs_child_reopened", "DROP TRIGGER jobs_parent_cancelled",
		"DROP INDEX jobs_parent_seq", "DROP INDEX files_id", "DROP TABLE plans", "DROP TABLE file_history",
		"ALTER TABLE jobs DROP COLUMN parent_id", "ALTER TABLE jobs DROP COLUMN awaiting_children",
		"ALTER TABLE jobs DROP COLUMN run_after", "ALTER TABLE jobs DROP COLUMN children_pending", "ALTER TABLE files DROP COLUMN id",
		// and 0007
		"ALTER TABLE jobs DROP COLUMN eta_seconds",
		// and 0008
		"DROP INDEX jobs_unique_queued", "DROP INDEX jobs_unique_running", "ALTER TABLE jobs DROP COLUMN unique_key",
		"DROP TABLE applied_files", "DROP TABLE queue_state",
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	_ = db.Close()
	fillFinished(t, rawDB(t, path), 30)
	fillQueued(t, rawDB(t, path), "other", 12)
	insertJob(t, rawDB(t, path), "r1", store.StatusRunning, time.Now(), nil)
	insertJob(t, rawDB(t, path), "f1", store.StatusFailed, time.Now(), nil)

	s, err = store.Open(ctx, path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	db = rawDB(t, path)
	checkCounts(t, s, db.Query, "after migration 0005")
	if got := statusCounts(t, db.Query, countedSQL); fmt.Sprint(got) != fmt.Sprint(map[string]int{
		"queued": 12, "running": 1, "completed": 30, "failed": 1, "cancelled": 0,
	}) {
		t.Errorf("job_counts = %v", got)
	}
}
