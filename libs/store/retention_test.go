package store_test

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/vpo-project/vpo/libs/store"
)

const rowTime = "2006-01-02T15:04:05.000000000Z"

// insertJob writes a job row directly, with the given status and age.
// execer runs a statement on a database: a *sql.DB on a SQLite file, or
// a store's Raw().
type execer interface {
	Exec(q string, args ...any) (sql.Result, error)
}

func insertJob(t testing.TB, db execer, id, status string, created time.Time, finished *time.Time) {
	t.Helper()
	var fin any
	if finished != nil {
		fin = finished.UTC().Format(rowTime)
	}
	if _, err := db.Exec(`INSERT INTO jobs (id, kind, status, created_at, finished_at) VALUES (?, 'k', ?, ?, ?)`,
		id, status, created.UTC().Format(rowTime), fin); err != nil {
		t.Fatal(err)
	}
}

func TestDeleteFinishedJobs(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	cutoff := now.Add(-30 * 24 * time.Hour)
	old, recent := now.Add(-40*24*time.Hour), now.Add(-time.Hour)
	tests := []struct {
		id, status string
		finished   *time.Time
		kept       bool
	}{
		{"old-completed", store.StatusCompleted, &old, false},
		{"old-failed", store.StatusFailed, &old, false},
		{"old-cancelled", store.StatusCancelled, &old, false},
		{"recent-completed", store.StatusCompleted, &recent, true},
		{"recent-failed", store.StatusFailed, &recent, true},
		{"old-queued", store.StatusQueued, nil, true},
		{"old-running", store.StatusRunning, nil, true},
		{"old-queued-after-retry", store.StatusQueued, &old, true}, // defensive: a stale finished_at
	}
	s := openTestStore(t)
	for _, tt := range tests {
		insertJob(t, s.Raw(), tt.id, tt.status, old, tt.finished)
	}

	// Batches of 2: 3 old finished jobs take two batches, then none is left.
	var got []int
	for i := 0; i < 4; i++ {
		n, err := s.DeleteFinishedJobs(ctx, cutoff, 2)
		if err != nil {
			t.Fatalf("DeleteFinishedJobs: %v", err)
		}
		got = append(got, n)
	}
	if fmt.Sprint(got) != "[2 1 0 0]" {
		t.Errorf("deleted per batch = %v, want [2 1 0 0]", got)
	}
	for _, tt := range tests {
		_, err := s.GetJob(ctx, tt.id)
		switch {
		case tt.kept && err != nil:
			t.Errorf("%s: deleted (%v), want kept", tt.id, err)
		case !tt.kept && !errors.Is(err, store.ErrNotFound):
			t.Errorf("%s: GetJob = %v, want deleted", tt.id, err)
		}
	}
	for _, bad := range []int{0, -1, store.MaxRetentionBatch + 1} {
		if _, err := s.DeleteFinishedJobs(ctx, cutoff, bad); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("batch %d: err = %v, want ErrInvalid", bad, err)
		}
	}
}

func TestCountQueued(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	fillFinished(t, s.Raw(), 1000)
	addJobs(t, s, "k", 7)
	if n, err := s.CountQueued(ctx); err != nil || n != 7 {
		t.Errorf("CountQueued = %d, %v; want 7", n, err)
	}
}

// fillFinished inserts n completed jobs in one transaction.
func fillFinished(t testing.TB, db execer, n int) {
	t.Helper()
	if _, err := db.Exec(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
		INSERT INTO jobs (id, kind, status, created_at, finished_at)
		SELECT 'done-' || i, 'scan', 'completed', '2020-01-01T00:00:00.000000000Z', '2020-01-01T00:00:01.000000000Z' FROM n`, n); err != nil {
		t.Fatal(err)
	}
}

// fillQueued inserts n queued jobs of kind in one transaction.
func fillQueued(t testing.TB, db execer, kind string, n int) {
	t.Helper()
	if _, err := db.Exec(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
		INSERT INTO jobs (id, kind, status, created_at)
		SELECT 'waiting-' || i, ?, 'queued', '2020-01-01T00:00:00.000000000Z' FROM n`, n, kind); err != nil {
		t.Fatal(err)
	}
}

var (
	healthRows = flag.Int("store.health_rows", 1_000_000,
		"finished jobs in the database of BenchmarkHealthQuery (try 10000000)")
	healthQueued = flag.Int("store.health_queued", 500_000,
		"queued jobs (of a kind no worker runs) in the database of BenchmarkHealthQuery")
	retentionRows = flag.Int("store.retention_rows", 800_000,
		"old finished jobs in the database of BenchmarkDeleteFinishedJobs")
)

// BenchmarkHealthQuery measures what the /health database check costs
// (Ping and CountQueued) with many finished jobs kept and many jobs queued
// that no worker runs: its ns/op must stay far below the check's 50 ms
// budget (libs/health DefaultTimeout) at 1M and at 10M rows
// (-store.health_rows=10000000 -store.health_queued=10000000).
func BenchmarkHealthQuery(b *testing.B) {
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "library.db")
	s, err := store.Open(ctx, path, store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	fillFinished(b, rawDB(b, path), *healthRows)
	fillQueued(b, rawDB(b, path), "unregistered", *healthQueued)
	addJobs(b, s, "k", 100)
	want := *healthQueued + 100
	b.ResetTimer()
	for b.Loop() {
		if err := s.Ping(ctx); err != nil {
			b.Fatal(err)
		}
		if n, err := s.CountQueued(ctx); err != nil || n != want {
			b.Fatalf("CountQueued = %d, %v; want %d", n, err, want)
		}
	}
	b.ReportMetric(float64(*healthRows), "finished_rows")
	b.ReportMetric(float64(*healthQueued), "stuck_queued_rows")
}

// BenchmarkDeleteFinishedJobs measures retention: one op is one batch of
// 500 (the daemon's batch size) deleted from a table of
// -store.retention_rows old finished jobs; rows/s is the deletion rate. Run
// it with a -benchtime of at most rows/500 iterations, e.g. 400x.
func BenchmarkDeleteFinishedJobs(b *testing.B) {
	const batch = 500
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "library.db")
	s, err := store.Open(ctx, path, store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	fillFinished(b, rawDB(b, path), *retentionRows)
	addJobs(b, s, "k", 100)
	cutoff := time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC)
	deleted := 0
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		n, err := s.DeleteFinishedJobs(ctx, cutoff, batch)
		if err != nil || n != batch {
			b.Fatalf("DeleteFinishedJobs = %d, %v; want %d (raise -store.retention_rows or lower -benchtime)", n, err, batch)
		}
		deleted += n
	}
	b.ReportMetric(float64(deleted)/time.Since(start).Seconds(), "rows/s")
	b.ReportMetric(float64(*retentionRows), "table_rows")
}
