package main

import (
	"context"
	"database/sql"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"time"

	_ "modernc.org/sqlite" // the same SQLite driver as libs/store
)

// queueResult is durable no-op jobs per second for one worker count.
type queueResult struct {
	Workers int
	JobsSec float64
}

var benchLine = regexp.MustCompile(`(?m)^BenchmarkQueueThroughput/workers=(\d+)\S*\s+\d+\s+.*?\s([0-9.]+) jobs/s`)

// measureQueue runs libs/jobs' BenchmarkQueueThroughput (submit → claim →
// run → complete through the real store and worker pool) and, as its
// baseline, the same three committed SQLite transactions per job on a bare
// table with the same pragmas and driver.
func measureQueue(ctx context.Context, o options, rep *report) error {
	cmd := exec.CommandContext(ctx, "go", "test", "-run", "^$", "-bench", "^BenchmarkQueueThroughput$",
		"-benchtime", fmt.Sprintf("%dx", o.queueJobs), "-count", "1", "./libs/jobs")
	cmd.Dir = o.repo
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go test -bench BenchmarkQueueThroughput: %w\n%s", err, out)
	}
	for _, m := range benchLine.FindAllStringSubmatch(string(out), -1) {
		w, _ := strconv.Atoi(m[1])
		v, _ := strconv.ParseFloat(m[2], 64)
		rep.queue = append(rep.queue, queueResult{Workers: w, JobsSec: v})
	}
	if len(rep.queue) == 0 {
		return fmt.Errorf("no jobs/s in the benchmark output:\n%s", out)
	}
	for _, q := range rep.queue {
		logf("queue: %d workers: %.0f jobs/s", q.Workers, q.JobsSec)
	}
	rep.queueFloor, err = sqliteFloor(ctx, filepath.Join(o.work, "floor.db"), o.queueJobs)
	if err != nil {
		return fmt.Errorf("bare SQLite baseline: %w", err)
	}
	logf("queue baseline: %.0f jobs/s (3 bare transactions per job)", rep.queueFloor)
	return nil
}

// sqliteFloor does per job what a durable queue must at least do: commit
// the job, commit its claim, commit its completion.
func sqliteFloor(ctx context.Context, path string, n int) (float64, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate")
	if err != nil {
		return 0, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, `CREATE TABLE jobs (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, status TEXT NOT NULL, payload TEXT, created_at TEXT, finished_at TEXT)`); err != nil {
		return 0, err
	}
	exec := func(q string, args ...any) error {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			_ = tx.Rollback()
			return err
		}
		return tx.Commit()
	}
	start := time.Now()
	for i := 1; i <= n; i++ {
		now := time.Now().UTC().Format(time.RFC3339Nano)
		if err := exec(`INSERT INTO jobs (id, kind, status, payload, created_at) VALUES (?, 'noop', 'queued', '{}', ?)`, i, now); err != nil {
			return 0, err
		}
		if err := exec(`UPDATE jobs SET status = 'running' WHERE id = ?`, i); err != nil {
			return 0, err
		}
		if err := exec(`UPDATE jobs SET status = 'completed', finished_at = ? WHERE id = ?`, now, i); err != nil {
			return 0, err
		}
	}
	return float64(n) / time.Since(start).Seconds(), nil
}
