package store_test

import (
	"strings"
	"testing"

	"github.com/vpo-project/vpo/libs/store"
)

// queryPlan returns the EXPLAIN QUERY PLAN details of query, one per line.
func queryPlan(t *testing.T, path, query string, args ...any) string {
	t.Helper()
	rows, err := rawDB(t, path).Query("EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		t.Fatalf("EXPLAIN QUERY PLAN: %v", err)
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}

// TestRetentionSelectUsesFinishedAtIndex: the retention batch query reads
// the partial index jobs_finished_at, in its order, rather than sorting
// every finished job in a temporary B-tree on each batch.
func TestRetentionSelectUsesFinishedAtIndex(t *testing.T) {
	sqliteOnly(t)
	s, path := openTestStorePath(t)
	fillFinished(t, rawDB(t, path), 2000)
	addJobs(t, s, "k", 10)

	plan := queryPlan(t, path, store.RetentionSelectSQL, "2030-01-01T00:00:00.000000000Z", 500)
	if !strings.Contains(plan, "INDEX jobs_finished_at") {
		t.Errorf("retention query plan does not use jobs_finished_at:\n%s", plan)
	}
	if strings.Contains(plan, "TEMP B-TREE") {
		t.Errorf("retention query plan sorts in a temporary B-tree:\n%s", plan)
	}
}

// TestRetentionDeleteUsesPrimaryKey: the retention DELETE finds its rows by
// primary key, not by a range of an index that grows with the table.
func TestRetentionDeleteUsesPrimaryKey(t *testing.T) {
	sqliteOnly(t)
	_, path := openTestStorePath(t)
	fillFinished(t, rawDB(t, path), 2000)

	plan := queryPlan(t, path, store.RetentionDeleteSQL(3), "2030-01-01T00:00:00.000000000Z", 1, 2, 3)
	if !strings.Contains(plan, "INTEGER PRIMARY KEY (rowid=?)") {
		t.Errorf("retention DELETE plan does not look rows up by primary key:\n%s", plan)
	}
}
