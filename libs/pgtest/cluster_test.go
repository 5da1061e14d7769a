package pgtest_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/vpo-project/vpo/libs/pgtest"
)

// TestCluster starts a cluster, makes two databases, and checks that
// each is empty and separate, then stops it and finds its directory gone.
func TestCluster(t *testing.T) {
	ctx := context.Background()
	c, err := pgtest.Start(ctx, "")
	if errors.Is(err, pgtest.ErrNoPostgres) && os.Getenv("CI") == "" {
		t.Skip("PostgreSQL is not installed (apt-get install postgresql); skipped outside CI")
	}
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = c.Stop()
		}
	})
	var urls []string
	for range 2 {
		u, err := c.NewDatabase(ctx)
		if err != nil {
			t.Fatal(err)
		}
		urls = append(urls, u)
	}
	for i, u := range urls {
		db, err := sql.Open("pgx", u)
		if err != nil {
			t.Fatal(err)
		}
		var version string
		if err := db.QueryRowContext(ctx, "SHOW server_version").Scan(&version); err != nil {
			t.Fatalf("database %d (%s): %v", i, u, err)
		}
		if i == 0 {
			t.Logf("PostgreSQL %s (major %s)", version, c.Version())
			if _, err := db.ExecContext(ctx, "CREATE TABLE only_in_first (x int)"); err != nil {
				t.Fatal(err)
			}
		} else {
			var n int
			if err := db.QueryRowContext(ctx, "SELECT count(*) FROM pg_tables WHERE tablename = 'only_in_first'").Scan(&n); err != nil || n != 0 {
				t.Fatalf("the second database sees the first one's table (%d, %v)", n, err)
			}
		}
		_ = db.Close()
	}
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	stopped = true
	db, _ := sql.Open("pgx", urls[0])
	defer db.Close()
	if err := db.PingContext(ctx); err == nil {
		t.Error("the cluster still answers after Stop")
	}
}
