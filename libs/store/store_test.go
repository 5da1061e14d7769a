package store_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vpo-project/vpo/libs/store"
)

func openTestStore(t *testing.T) *store.Store {
	t.Helper()
	return openBackend(t)
}

// openTestStorePath opens a new SQLite store in a temporary directory,
// closed when the test ends, and returns it with its file's path.
func openTestStorePath(t testing.TB) (*store.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "library.db")
	s, err := store.Open(context.Background(), path, store.Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, path
}

// rawDB opens the file directly, bypassing the store.
func rawDB(t testing.TB, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func TestOpenCreatesDirectoryAndFile(t *testing.T) {
	sqliteOnly(t)
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "state", "vpo")
	path := filepath.Join(dir, "library.db")
	s, err := store.Open(ctx, path, store.Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()

	for _, c := range []struct {
		path string
		mode os.FileMode
	}{{dir, 0o750}, {path, 0o600}} {
		fi, err := os.Stat(c.path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != c.mode {
			t.Errorf("mode of %s = %o, want %o", c.path, got, c.mode)
		}
	}
	if s.Path() != path {
		t.Errorf("Path() = %q, want %q", s.Path(), path)
	}
	v, err := s.SchemaVersion(ctx)
	if err != nil || v != store.LatestSchemaVersion() || v < 1 {
		t.Errorf("SchemaVersion = %d, %v; want %d", v, err, store.LatestSchemaVersion())
	}
	res, err := s.IntegrityCheck(ctx)
	if err != nil || res != "ok" {
		t.Errorf("IntegrityCheck = %q, %v; want ok", res, err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}
	var mode string
	if err := rawDB(t, path).QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v; want wal", mode, err)
	}
}

func TestOpenKeepsExistingFileMode(t *testing.T) {
	sqliteOnly(t)
	path := filepath.Join(t.TempDir(), "vpo.db")
	if err := os.WriteFile(path, nil, 0o640); err != nil {
		t.Fatal(err)
	}
	s, err := store.Open(context.Background(), path, store.Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o640 {
		t.Errorf("mode = %o, want the existing 0640", fi.Mode().Perm())
	}
}

func TestMigrationsAppliedOnce(t *testing.T) {
	sqliteOnly(t)
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "vpo.db")
	for i := 0; i < 3; i++ {
		s, err := store.Open(ctx, path, store.Options{})
		if err != nil {
			t.Fatalf("Open #%d: %v", i, err)
		}
		if i == 0 {
			if _, err := s.CreateJob(ctx, store.NewJob{Kind: "k"}); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	db := rawDB(t, path)
	var rows, jobs int
	if err := db.QueryRow("SELECT count(*) FROM schema_migrations").Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != store.LatestSchemaVersion() {
		t.Errorf("schema_migrations has %d rows, want %d", rows, store.LatestSchemaVersion())
	}
	if err := db.QueryRow("SELECT count(*) FROM jobs").Scan(&jobs); err != nil || jobs != 1 {
		t.Errorf("jobs = %d, %v; want 1 (reopen must keep data)", jobs, err)
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	ctx := context.Background()
	open, path := newDatabase(t)
	s, err := open()
	if err != nil {
		t.Fatal(err)
	}
	j, err := s.CreateJob(ctx, store.NewJob{Kind: "k"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Raw().Exec("INSERT INTO schema_migrations (version, applied_at) VALUES (999, 'future')"); err != nil {
		t.Fatal(err)
	}
	s.Close()

	_, err = open()
	if !errors.Is(err, store.ErrSchemaTooNew) {
		t.Fatalf("Open = %v, want ErrSchemaTooNew", err)
	}
	if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "999") {
		t.Errorf("error %q should name the path and the version", err)
	}
	// What is stored is read by a store that skips the schema check.
	db := rawOpen(t, path)
	var id string
	var max int
	if err := db.QueryRow("SELECT id FROM jobs").Scan(&id); err != nil || id != j.ID {
		t.Errorf("job row after refused open: %q, %v", id, err)
	}
	if err := db.QueryRow("SELECT max(version) FROM schema_migrations").Scan(&max); err != nil || max != 999 {
		t.Errorf("schema version after refused open: %d, %v", max, err)
	}
}

func TestOpenErrorsNameThePath(t *testing.T) {
	sqliteOnly(t)
	tmp := t.TempDir()
	notDir := filepath.Join(tmp, "plainfile")
	if err := os.WriteFile(notDir, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	garbage := filepath.Join(tmp, "garbage.db")
	if err := os.WriteFile(garbage, []byte(strings.Repeat("this is not a database ", 200)), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path string
		want       []string
	}{
		{"parent is a file", filepath.Join(notDir, "sub", "vpo.db"), []string{"create directory", notDir}},
		{"not a database", garbage, []string{"not a database"}},
		{"empty path", "", []string{"empty path"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := store.Open(context.Background(), tc.path, store.Options{})
			if err == nil {
				t.Fatal("Open succeeded")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, `open database "`+tc.path+`": `) {
				t.Errorf("error %q does not start with the path", msg)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not mention %q", msg, w)
				}
			}
		})
	}
	// The garbage file must not have been modified.
	b, _ := os.ReadFile(garbage)
	if !strings.HasPrefix(string(b), "this is not a database") {
		t.Error("Open modified a file that is not a database")
	}
}

func TestOpenUnwritableDirectory(t *testing.T) {
	sqliteOnly(t)
	if os.Geteuid() == 0 {
		t.Skip("root ignores directory permissions")
	}
	ro := filepath.Join(t.TempDir(), "ro")
	if err := os.Mkdir(ro, 0o500); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(ro, "sub", "vpo.db")
	_, err := store.Open(context.Background(), path, store.Options{})
	if err == nil || !strings.Contains(err.Error(), path) || !errors.Is(err, os.ErrPermission) {
		t.Fatalf("Open = %v, want permission error naming %s", err, path)
	}
}

func TestPing(t *testing.T) {
	ctx := context.Background()
	open, _ := newDatabase(t)
	s, err := open()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Ping(ctx); err == nil {
		t.Error("Ping after Close succeeded")
	}

	if onPostgres() {
		return // the rest removes the database file
	}
	s2 := openTestStore(t)
	if err := os.Remove(s2.Path()); err != nil {
		t.Fatal(err)
	}
	if err := s2.Ping(ctx); err == nil || !strings.Contains(err.Error(), s2.Path()) {
		t.Errorf("Ping with the file removed = %v, want an error naming the path", err)
	}
}
