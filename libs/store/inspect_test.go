package store_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/vpo-project/vpo/libs/store"
)

func TestReadSchemaVersion(t *testing.T) {
	sqliteOnly(t)
	ctx := context.Background()
	dir := t.TempDir()

	// A database a daemon has open: its version, read while it runs.
	s, open := openTestStorePath(t)
	if _, err := s.CreateJob(ctx, store.NewJob{Kind: "k"}); err != nil {
		t.Fatal(err)
	}
	if v, err := store.ReadSchemaVersion(ctx, open); err != nil || v != store.LatestSchemaVersion() {
		t.Errorf("open database: %d, %v; want %d", v, err, store.LatestSchemaVersion())
	}

	// A newer database is read, not refused, and left as it was.
	newer := filepath.Join(dir, "newer.db")
	n, err := store.Open(ctx, newer, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	n.Close()
	if _, err := rawDB(t, newer).Exec("INSERT INTO schema_migrations (version, applied_at) VALUES (999, 'future')"); err != nil {
		t.Fatal(err)
	}
	if v, err := store.ReadSchemaVersion(ctx, newer); err != nil || v != 999 {
		t.Errorf("newer database: %d, %v; want 999", v, err)
	}

	// An empty SQLite file (no vpo yet) is version 0 and stays empty.
	empty := filepath.Join(dir, "empty.db")
	if _, err := rawDB(t, empty).Exec("CREATE TABLE other (x)"); err != nil {
		t.Fatal(err)
	}
	if v, err := store.ReadSchemaVersion(ctx, empty); err != nil || v != 0 {
		t.Errorf("empty database: %d, %v; want 0", v, err)
	}
	var tables int
	if err := rawDB(t, empty).QueryRow("SELECT count(*) FROM sqlite_master WHERE name = 'schema_migrations'").Scan(&tables); err != nil || tables != 0 {
		t.Errorf("ReadSchemaVersion migrated the file: %d tables, %v", tables, err)
	}

	// A missing file is not created.
	missing := filepath.Join(dir, "missing.db")
	if _, err := store.ReadSchemaVersion(ctx, missing); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want ErrNotExist", err)
	}
	if _, err := os.Stat(missing); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file was created: %v", err)
	}

	// Not a database: an error naming the path.
	junk := filepath.Join(dir, "junk.db")
	if err := os.WriteFile(junk, []byte("not a database, not at all, just some text of some length"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := store.ReadSchemaVersion(ctx, junk); err == nil {
		t.Error("junk file: no error")
	}
}
