package store

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"time"
)

// migrationFiles holds the schema migrations, named NNNN_description.sql:
// SQLite's in migrations/, numbered contiguously from 0001, and
// PostgreSQL's in pgmigrations/, numbered contiguously from the version
// PostgreSQL support starts at (its first file creates the whole schema of
// that version). Both end at the same version. It is read-only.
//
//go:embed migrations/*.sql pgmigrations/*.sql
var migrationFiles embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

// loadMigrations parses SQLite's embedded migrations and checks their
// numbering.
func loadMigrations() ([]migration, error) { return loadMigrationsIn("migrations", 1) }

// loadMigrationsIn parses the embedded migrations of dir, which must be
// numbered contiguously from first.
func loadMigrationsIn(dir string, first int) ([]migration, error) {
	entries, err := fs.ReadDir(migrationFiles, dir)
	if err != nil {
		return nil, fmt.Errorf("read embedded migrations: %w", err)
	}
	var ms []migration
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".sql") {
			continue
		}
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("embedded migration %q: name must be NNNN_description.sql", name)
		}
		body, err := fs.ReadFile(migrationFiles, dir+"/"+name)
		if err != nil {
			return nil, fmt.Errorf("read embedded migration %q: %w", name, err)
		}
		ms = append(ms, migration{version: v, name: name, sql: string(body)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != first+i {
			return nil, fmt.Errorf("embedded migration %s/%s: version %d, want %d", dir, m.name, m.version, first+i)
		}
	}
	return ms, nil
}

// LatestSchemaVersion is the schema version this binary migrates to.
func LatestSchemaVersion() int {
	ms, err := loadMigrations()
	if err != nil {
		return 0
	}
	return len(ms)
}

// migrate applies the pending migrations, each in its own BEGIN IMMEDIATE
// transaction together with its schema_migrations row. The current version
// is re-read inside every transaction, so processes opening the same file at
// once apply each migration exactly once.
func (s *Store) migrate(ctx context.Context) error {
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	if _, err := s.wdb.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER NOT NULL PRIMARY KEY,
		applied_at TEXT    NOT NULL
	)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	for {
		done, err := s.migrateStep(ctx, ms)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
	}
}

func (s *Store) migrateStep(ctx context.Context, ms []migration) (done bool, err error) {
	tx, err := s.wdb.BeginTx(ctx, nil) // BEGIN IMMEDIATE (_txlock=immediate)
	if err != nil {
		return false, fmt.Errorf("begin migration: %w", err)
	}
	defer func() {
		if err != nil || done {
			_ = tx.Rollback()
		}
	}()
	var cur sql.NullInt64
	if err := tx.QueryRowContext(ctx, "SELECT max(version) FROM schema_migrations").Scan(&cur); err != nil {
		return false, fmt.Errorf("read schema version: %w", err)
	}
	v := int(cur.Int64)
	if v > len(ms) {
		return false, fmt.Errorf("schema version %d, this binary knows up to %d: %w", v, len(ms), ErrSchemaTooNew)
	}
	if v == len(ms) {
		return true, nil
	}
	m := ms[v]
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return false, fmt.Errorf("apply migration %s: %w", m.name, err)
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
		m.version, formatTime(time.Now())); err != nil {
		return false, fmt.Errorf("record migration %s: %w", m.name, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("commit migration %s: %w", m.name, err)
	}
	return false, nil
}
