package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver of rawOpen
	"github.com/vpo-project/vpo/libs/pgtest"
	"github.com/vpo-project/vpo/libs/store"
)

// backendEnv selects the backend the suite runs against: unset or
// "sqlite" for SQLite files, "postgres" for a PostgreSQL cluster started
// by TestMain (Debian's postgresql package, as an unprivileged user, in a
// temporary directory), one fresh database per test.
const backendEnv = "VPO_TEST_BACKEND"

// cluster is the PostgreSQL cluster of a "postgres" run (nil otherwise).
var cluster *pgtest.Cluster

func TestMain(m *testing.M) {
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) int {
	switch b := os.Getenv(backendEnv); b {
	case "", "sqlite":
		fmt.Println("store suite on SQLite")
		return m.Run()
	case "postgres":
		c, err := pgtest.Start(context.Background(), os.TempDir())
		if err != nil {
			fmt.Fprintf(os.Stderr, "start PostgreSQL for the store suite: %v\n", err)
			return 1
		}
		defer func() { _ = c.Stop() }()
		cluster = c
		fmt.Printf("store suite on PostgreSQL %s\n", c.Version())
		return m.Run()
	default:
		fmt.Fprintf(os.Stderr, "%s=%q: want sqlite or postgres\n", backendEnv, b)
		return 2
	}
}

// onPostgres tells whether this run is on PostgreSQL.
func onPostgres() bool { return cluster != nil }

// sqliteOnly ends a test of what only SQLite has (a database file, its
// write-ahead log, its query plans) when the run is on PostgreSQL.
func sqliteOnly(t testing.TB) {
	t.Helper()
	if onPostgres() {
		t.Skip("tests the SQLite database file: not applicable to the PostgreSQL run")
	}
}

// openBackend opens a store on a new, empty database of the run's backend,
// closed when the test ends.
func openBackend(t testing.TB) *store.Store {
	t.Helper()
	if !onPostgres() {
		s, _ := openTestStorePath(t)
		return s
	}
	url, err := cluster.NewDatabase(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	s, err := store.OpenPostgres(context.Background(), url, store.Options{})
	if err != nil {
		t.Fatalf("OpenPostgres: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// newDatabase returns a function that opens a store on one new database of
// the run's backend (each call a new Store on the same database) and the
// name errors give that database (its path, or its URL).
func newDatabase(t testing.TB) (open func() (*store.Store, error), name string) {
	t.Helper()
	ctx := context.Background()
	if !onPostgres() {
		path := filepath.Join(t.TempDir(), "library.db")
		return func() (*store.Store, error) { return store.Open(ctx, path, store.Options{}) }, path
	}
	url, err := cluster.NewDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return func() (*store.Store, error) { return store.OpenPostgres(ctx, url, store.Options{}) }, store.RedactURL(url)
}

// openNamed opens a store on a new database of the run's backend, closed
// when the test ends, and returns the name rawOpen takes.
func openNamed(t testing.TB) (*store.Store, string) {
	t.Helper()
	open, name := newDatabase(t)
	s, err := open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, name
}

// rawOpen opens the database newDatabase named, bypassing the store
// (statements in the backend's own dialect).
func rawOpen(t testing.TB, name string) *sql.DB {
	t.Helper()
	if !onPostgres() {
		return rawDB(t, name)
	}
	db, err := sql.Open("pgx", name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}
