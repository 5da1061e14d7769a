package store

import (
	"context"
	"database/sql"
	"fmt"
	"os"
)

// ReadSchemaVersion opens the database at path read-only and returns its
// schema version: 0 for a file no vpo has migrated yet. Nothing is created,
// migrated or written, so it is safe on a database a daemon is using (for
// `vpo doctor`). A missing file is an error wrapping fs.ErrNotExist.
func ReadSchemaVersion(ctx context.Context, path string) (int, error) {
	if _, err := os.Stat(path); err != nil {
		return 0, fmt.Errorf("read schema version of %q: %w", path, unwrapPathError(err))
	}
	db, err := sql.Open(driverName, fileURI(path)+"?mode=ro&_pragma=busy_timeout(1000)")
	if err != nil {
		return 0, fmt.Errorf("read schema version of %q: %w", path, err)
	}
	defer db.Close()
	var tables int
	if err := db.QueryRowContext(ctx,
		"SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").Scan(&tables); err != nil {
		return 0, fmt.Errorf("read schema version of %q: %w", path, err)
	}
	if tables == 0 {
		return 0, nil
	}
	var v sql.NullInt64
	if err := db.QueryRowContext(ctx, "SELECT max(version) FROM schema_migrations").Scan(&v); err != nil {
		return 0, fmt.Errorf("read schema version of %q: %w", path, err)
	}
	return int(v.Int64), nil
}
