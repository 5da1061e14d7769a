package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// copyTables are the tables CopyTo copies, in an order that keeps every
// row's references valid, each with its key (for ON CONFLICT) and the
// identity column PostgreSQL numbers new rows by, if any. job_counts is
// not copied: it is computed from the copied jobs. schema_migrations is
// the target's own. queue_state's one row exists in every database: the
// source's replaces it.
var copyTables = []struct {
	name, key, identity string
}{
	{"jobs", "id", "seq"},
	{"files", "path", ""},
	{"plans", "id", "id"},
	{"file_history", "id", "id"},
	{"applied_files", "path, policy", ""},
	{"queue_state", "id", ""},
	{"scan_dirs", "dir", ""},
	{"events", "id", "id"},
	{"job_logs", "job_id, seq", ""},
}

// TableCount is the number of rows of one table in the source and the
// target of CopyTo, after the copy.
type TableCount struct {
	Table          string
	Source, Target int64
	Copied         int64 // rows the copy added (0 when run again)
}

// CopyTo copies everything this SQLite store holds (jobs and their logs,
// files, plans, change history, applied states, the queue's pause,
// directory digests, events) into dst, a PostgreSQL store at the same
// schema version, keeping every id, in one transaction: a copy that fails
// leaves dst as it was. Rows dst already holds (by key) are left alone, so
// running it again adds nothing. It then checks that both hold the same
// number of rows in every table, and fails naming the first table that
// does not. The source is read in one read transaction; nothing should
// write it meanwhile (stop the daemon first).
func (s *Store) CopyTo(ctx context.Context, dst *Store) ([]TableCount, error) {
	if s.pg || !dst.pg {
		return nil, fmt.Errorf("copy database: from SQLite to PostgreSQL only: %w", ErrInvalid)
	}
	sv, err := s.SchemaVersion(ctx)
	if err != nil {
		return nil, err
	}
	dv, err := dst.SchemaVersion(ctx)
	if err != nil {
		return nil, err
	}
	if sv != dv {
		return nil, fmt.Errorf("copy database: source schema %d, target %d: %w", sv, dv, ErrInvalid)
	}
	src, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("copy database: %w", err)
	}
	defer func() { _ = src.Rollback() }()
	counts := make([]TableCount, len(copyTables))
	err = dst.wdb.inTx(ctx, func(tx *wtx) error {
		for _, t := range []string{"jobs", "files", "job_logs", "queue_state"} {
			// Copied rows are history, not new changes: no events, no
			// cascades. (Trigger switches are part of the transaction.)
			if _, err := tx.Tx.ExecContext(ctx, "ALTER TABLE "+t+" DISABLE TRIGGER USER"); err != nil {
				return err
			}
		}
		for i, t := range copyTables {
			n, err := copyTable(ctx, src, tx, t.name, t.key)
			if err != nil {
				return fmt.Errorf("table %s: %w", t.name, err)
			}
			counts[i] = TableCount{Table: t.name, Copied: n}
			if t.identity != "" {
				if _, err := tx.Tx.ExecContext(ctx, fmt.Sprintf(
					"SELECT setval(pg_get_serial_sequence('%s', '%s'), coalesce((SELECT max(%s) FROM %s), 0) + 1, false)",
					t.name, t.identity, t.identity, t.name)); err != nil {
					return fmt.Errorf("table %s: number new rows after the copied ones: %w", t.name, err)
				}
			}
		}
		if _, err := tx.Tx.ExecContext(ctx,
			"UPDATE job_counts SET n = (SELECT count(*) FROM jobs WHERE jobs.status = job_counts.status)"); err != nil {
			return err
		}
		for _, t := range []string{"jobs", "files", "job_logs", "queue_state"} {
			if _, err := tx.Tx.ExecContext(ctx, "ALTER TABLE "+t+" ENABLE TRIGGER USER"); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("copy database %s to %s: %w", s.path, dst.path, err)
	}
	for i, t := range copyTables {
		if err := src.QueryRowContext(ctx, "SELECT count(*) FROM "+t.name).Scan(&counts[i].Source); err != nil {
			return nil, fmt.Errorf("verify copy: count %s: %w", t.name, err)
		}
		if err := dst.rdb.QueryRowContext(ctx, "SELECT count(*) FROM "+t.name).Scan(&counts[i].Target); err != nil {
			return nil, fmt.Errorf("verify copy: count %s: %w", t.name, err)
		}
	}
	for _, c := range counts {
		if c.Source != c.Target {
			return counts, fmt.Errorf("verify copy: table %s holds %d rows in %s and %d in %s", c.Table, c.Source, s.path, c.Target, dst.path)
		}
	}
	return counts, nil
}

// copyBatchValues bounds the values of one INSERT of copyTable (PostgreSQL
// takes at most 65535 parameters).
const copyBatchValues = 8000

// copyTable copies the rows of table from src to dst, skipping those whose
// key dst holds, and returns how many it added.
func copyTable(ctx context.Context, src, dst *wtx, table, key string) (int64, error) {
	rows, err := src.QueryContext(ctx, "SELECT * FROM "+table)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return 0, err
	}
	perBatch := max(1, copyBatchValues/len(cols))
	onConflict := "DO NOTHING"
	if table == "queue_state" {
		onConflict = "DO UPDATE SET paused = excluded.paused, drain = excluded.drain, changed_at = excluded.changed_at " +
			"WHERE (queue_state.paused, queue_state.drain, queue_state.changed_at) IS DISTINCT FROM " +
			"(excluded.paused, excluded.drain, excluded.changed_at)"
	}
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ") + ")"
	insert := func(n int) string {
		return "INSERT INTO " + table + " (" + strings.Join(cols, ", ") + ") VALUES " +
			strings.TrimSuffix(strings.Repeat(row+", ", n), ", ") + " ON CONFLICT (" + key + ") " + onConflict
	}
	var (
		added int64
		batch []any
		n     int
	)
	flush := func() error {
		if n == 0 {
			return nil
		}
		res, err := dst.ExecContext(ctx, insert(n), batch...)
		if err != nil {
			return err
		}
		k, err := res.RowsAffected()
		added += k
		batch, n = batch[:0], 0
		return err
	}
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return added, err
		}
		batch = append(batch, vals...)
		if n++; n == perBatch {
			if err := flush(); err != nil {
				return added, err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return added, err
	}
	return added, flush()
}
