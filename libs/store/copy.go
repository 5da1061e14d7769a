package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
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
	Copied         int64 // rows the copy wrote: added, or brought in line with the source (0 when run again on an unchanged source)
}

// CopyTo copies everything this SQLite store holds (jobs and their logs,
// files, plans, change history, applied states, the queue's pause,
// directory digests, events) into dst, a PostgreSQL store at the same
// schema version, keeping every id, in one transaction: a copy that fails
// leaves dst as it was. A row dst already holds (by key) is brought in
// line with the source, so running it again after the source changed
// copies the changes, and running it again on an unchanged source writes
// nothing. Before committing it checks that both hold the same number of
// rows in every table, and fails (changing nothing) naming the first table
// that does not: dst held other data. The source must pass SQLite's
// integrity check and have no running job (a daemon still using it: stop
// it first); it is read in one read transaction.
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
	if ok, err := s.IntegrityCheck(ctx); err != nil {
		return nil, err
	} else if ok != "ok" {
		return nil, fmt.Errorf("copy database: %s fails SQLite's integrity check (%s): repair or restore it first: %w", s.path, firstLine(ok), ErrInvalid)
	}
	src, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("copy database: %w", err)
	}
	defer func() { _ = src.Rollback() }()
	var running int
	if err := src.QueryRowContext(ctx, "SELECT count(*) FROM jobs WHERE status = 'running'").Scan(&running); err != nil {
		return nil, fmt.Errorf("copy database: %w", err)
	}
	if running > 0 {
		return nil, fmt.Errorf("copy database: %s has %d running jobs: stop the daemon that uses it first (a stopped daemon leaves none): %w",
			s.path, running, ErrInvalid)
	}
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
		for i, t := range copyTables {
			if err := src.QueryRowContext(ctx, "SELECT count(*) FROM "+t.name).Scan(&counts[i].Source); err != nil {
				return fmt.Errorf("verify copy: count %s: %w", t.name, err)
			}
			if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM "+t.name).Scan(&counts[i].Target); err != nil {
				return fmt.Errorf("verify copy: count %s: %w", t.name, err)
			}
			if c := counts[i]; c.Source != c.Target {
				return fmt.Errorf("verify copy: table %s would hold %d rows in %s and %d in %s: the target holds other data; copy into a new, empty database: %w",
					c.Table, c.Source, s.path, c.Target, dst.path, ErrInvalid)
			}
		}
		for _, t := range []string{"jobs", "files", "job_logs", "queue_state"} {
			if _, err := tx.Tx.ExecContext(ctx, "ALTER TABLE "+t+" ENABLE TRIGGER USER"); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "23505" { // unique_violation
			err = fmt.Errorf("%w: the target holds other data under the same ids; copy into a new, empty database", err)
		}
		return counts, fmt.Errorf("copy database %s to %s: %w", s.path, dst.path, err)
	}
	return counts, nil
}

// firstLine is the first line of s.
func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
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
	// A row the target holds is updated where it differs (a second run
	// after the source changed); an unchanged one is not written.
	keys := strings.Split(strings.ReplaceAll(key, " ", ""), ",")
	var set, mine, theirs []string
	for _, c := range cols {
		if slices.Contains(keys, c) {
			continue
		}
		set = append(set, c+" = excluded."+c)
		mine, theirs = append(mine, table+"."+c), append(theirs, "excluded."+c)
	}
	onConflict := "DO NOTHING"
	if len(set) > 0 {
		onConflict = "DO UPDATE SET " + strings.Join(set, ", ") + " WHERE (" + strings.Join(mine, ", ") +
			") IS DISTINCT FROM (" + strings.Join(theirs, ", ") + ")"
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
