package store

import (
	"context"
	"database/sql"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// The store's statements are written once, in SQLite's dialect, and run on
// PostgreSQL through the handles below, which translate them (pgRewrite and
// rebind) and the text they carry (encodeText, decodeText). On SQLite the
// handles pass everything through unchanged.

// writeLockKey is the PostgreSQL advisory lock every write transaction of
// the store holds from its start to its end: writes are serialized across
// all nodes as SQLite serializes them in one file, so that what SQLite's
// single writer guarantees holds on PostgreSQL too (event ids grow in
// commit order, a read-then-write in one transaction sees no interleaved
// write, a new file's id is the highest plus one). Migrations hold it too.
const writeLockKey = 0x76706f01 // "vpo" 1

// lockSQL takes writeLockKey until the end of the transaction.
var lockSQL = "SELECT pg_advisory_xact_lock(" + strconv.Itoa(writeLockKey) + ")"

// pgRewrites are the textual differences between the dialects, applied to
// every statement run on PostgreSQL before its parameters are renumbered.
// The schema (pgmigrations) defines vpo_json_each and json_extract.
var pgRewrites = strings.NewReplacer(
	"json_each(", "vpo_json_each(",
	// Claims: PostgreSQL locks the row it picks and skips rows other
	// transactions hold.
	"ORDER BY priority, seq LIMIT 1)", "ORDER BY priority, seq LIMIT 1 FOR UPDATE SKIP LOCKED)",
	" INDEXED BY jobs_finished_at", "",
	// SQLite's LIKE ignores ASCII case.
	" LIKE ? ESCAPE ", " ILIKE ? ESCAPE ",
)

// pgQueries caches the PostgreSQL form of each statement a store ran
// (one per PostgreSQL store; its handles and transactions share it).
type pgQueries struct {
	m sync.Map // string → string
}

// pgQuery returns q in PostgreSQL's dialect (cached in c unless nil).
func (c *pgQueries) pgQuery(q string) string {
	if c == nil {
		return rebind(pgRewrites.Replace(q))
	}
	if v, ok := c.m.Load(q); ok {
		return v.(string)
	}
	out := rebind(pgRewrites.Replace(q))
	c.m.Store(q, out)
	return out
}

// rebind turns SQLite's parameters (?NNN, and ? for one more than the
// highest so far) into PostgreSQL's $NNN, leaving string literals, quoted
// names and comments alone.
func rebind(q string) string {
	var b strings.Builder
	b.Grow(len(q) + 8)
	highest := 0
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case c == '\'' || c == '"':
			j := i + 1
			for j < len(q) && q[j] != c {
				j++
			}
			// A doubled quote inside a literal is two literals back to
			// back: copying them one after the other gives the same text.
			b.WriteString(q[i:min(j+1, len(q))])
			i = j
		case c == '-' && i+1 < len(q) && q[i+1] == '-':
			j := strings.IndexByte(q[i:], '\n')
			if j < 0 {
				j = len(q) - i
			}
			b.WriteString(q[i : i+j])
			i += j - 1
		case c == '?':
			j := i + 1
			for j < len(q) && q[j] >= '0' && q[j] <= '9' {
				j++
			}
			n := highest + 1
			if j > i+1 {
				n, _ = strconv.Atoi(q[i+1 : j])
			}
			highest = max(highest, n)
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			i = j - 1
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// textEscape starts an escape in text stored on PostgreSQL, whose text
// holds neither NUL bytes nor bytes that are not UTF-8, which file names
// may hold (SQLite stores any bytes). U+FDD0 is a noncharacter: no name or
// message has it in practice, and one that does is escaped too.
const textEscape = "\uFDD0"

// encodeText returns s as PostgreSQL stores it: s itself when it is valid
// UTF-8 without NUL and without textEscape; otherwise each NUL, each byte
// that is not part of valid UTF-8 becomes textEscape followed by its two
// lowercase hex digits, and each textEscape becomes textEscape + "--". The
// encoding keeps every ASCII byte where it was, so a path's directory part
// encodes to the encoded path's directory part, and ranges and prefixes
// of paths hold in the encoded form.
func encodeText(s string) string {
	if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 && !strings.Contains(s, textEscape) {
		return s
	}
	const hex = "0123456789abcdef"
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case (r == utf8.RuneError && n == 1) || r == 0:
			b.WriteString(textEscape)
			b.WriteByte(hex[s[i]>>4])
			b.WriteByte(hex[s[i]&0xf])
		case s[i:i+n] == textEscape:
			b.WriteString(textEscape + "--")
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// decodeText reverses encodeText.
func decodeText(s string) string {
	if !strings.Contains(s, textEscape) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for {
		i := strings.Index(s, textEscape)
		if i < 0 || i+len(textEscape)+2 > len(s) {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		code := s[i+len(textEscape) : i+len(textEscape)+2]
		if code == "--" {
			b.WriteString(textEscape)
		} else if v, err := strconv.ParseUint(code, 16, 8); err == nil {
			b.WriteByte(byte(v))
		} else {
			b.WriteString(textEscape + code)
		}
		s = s[i+len(textEscape)+2:]
	}
}

// encodeArgs returns args with every string encoded (a copy, only when one
// needs it).
func encodeArgs(args []any) []any {
	var out []any
	for i, a := range args {
		s, ok := a.(string)
		if !ok {
			continue
		}
		e := encodeText(s)
		if e == s {
			continue
		}
		if out == nil {
			out = append([]any(nil), args...)
		}
		out[i] = e
	}
	if out == nil {
		return args
	}
	return out
}

// decodeDest decodes the strings Scan stored in dest.
func decodeDest(dest []any) {
	for _, d := range dest {
		switch p := d.(type) {
		case *string:
			*p = decodeText(*p)
		case *sql.NullString:
			p.String = decodeText(p.String)
		}
	}
}

// dbHandle is a pool of connections: the store's writer or its readers.
// On PostgreSQL a writer runs every statement in a transaction that holds
// the write lock.
type dbHandle struct {
	db      *sql.DB
	pg      bool
	writer  bool
	queries *pgQueries // PostgreSQL: the store's cache of rewritten statements
}

func (h dbHandle) q(query string) string {
	if h.pg {
		return h.queries.pgQuery(query)
	}
	return query
}

func (h dbHandle) args(args []any) []any {
	if h.pg {
		return encodeArgs(args)
	}
	return args
}

func (h dbHandle) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if !h.pg || !h.writer {
		return h.db.ExecContext(ctx, h.q(query), h.args(args)...)
	}
	var res sql.Result
	err := h.inTx(ctx, func(tx *wtx) error {
		var err error
		res, err = tx.ExecContext(ctx, query, args...)
		return err
	})
	return res, err
}

func (h dbHandle) QueryContext(ctx context.Context, query string, args ...any) (*dbRows, error) {
	if !h.pg || !h.writer {
		r, err := h.db.QueryContext(ctx, h.q(query), h.args(args)...)
		if err != nil {
			return nil, err
		}
		return &dbRows{Rows: r, pg: h.pg}, nil
	}
	tx, err := h.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	r, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		_ = tx.Rollback()
		return nil, err
	}
	r.tx = tx.Tx
	return r, nil
}

func (h dbHandle) QueryRowContext(ctx context.Context, query string, args ...any) *dbRow {
	if !h.pg || !h.writer {
		return &dbRow{row: h.db.QueryRowContext(ctx, h.q(query), h.args(args)...), pg: h.pg}
	}
	tx, err := h.BeginTx(ctx, nil)
	if err != nil {
		return &dbRow{err: err}
	}
	r := tx.QueryRowContext(ctx, query, args...)
	r.tx = tx.Tx
	return r
}

// BeginTx begins a transaction; on a PostgreSQL writer it first takes the
// write lock.
func (h dbHandle) BeginTx(ctx context.Context, opts *sql.TxOptions) (*wtx, error) {
	tx, err := h.db.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	if h.pg && h.writer {
		if _, err := tx.ExecContext(ctx, lockSQL); err != nil {
			_ = tx.Rollback()
			return nil, err
		}
	}
	return &wtx{Tx: tx, pg: h.pg, queries: h.queries}, nil
}

func (h dbHandle) inTx(ctx context.Context, fn func(tx *wtx) error) error {
	tx, err := h.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		_ = tx.Rollback()
		return err
	}
	return nil
}

// PrepareContext prepares a statement on the pool.
func (h dbHandle) PrepareContext(ctx context.Context, query string) (*dbStmt, error) {
	st, err := h.db.PrepareContext(ctx, h.q(query))
	if err != nil {
		return nil, err
	}
	return &dbStmt{stmt: st, h: h}, nil
}

// wtx is a transaction of the store.
type wtx struct {
	*sql.Tx
	pg      bool
	queries *pgQueries
}

func (t *wtx) q(query string) string {
	if t.pg {
		return t.queries.pgQuery(query)
	}
	return query
}

func (t *wtx) args(args []any) []any {
	if t.pg {
		return encodeArgs(args)
	}
	return args
}

func (t *wtx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return t.Tx.ExecContext(ctx, t.q(query), t.args(args)...)
}

func (t *wtx) QueryContext(ctx context.Context, query string, args ...any) (*dbRows, error) {
	r, err := t.Tx.QueryContext(ctx, t.q(query), t.args(args)...)
	if err != nil {
		return nil, err
	}
	return &dbRows{Rows: r, pg: t.pg}, nil
}

func (t *wtx) QueryRowContext(ctx context.Context, query string, args ...any) *dbRow {
	return &dbRow{row: t.Tx.QueryRowContext(ctx, t.q(query), t.args(args)...), pg: t.pg}
}

func (t *wtx) PrepareContext(ctx context.Context, query string) (*dbStmt, error) {
	st, err := t.Tx.PrepareContext(ctx, t.q(query))
	if err != nil {
		return nil, err
	}
	return &dbStmt{stmt: st, h: dbHandle{pg: t.pg, queries: t.queries}}, nil
}

// dbStmt is a prepared statement. On a PostgreSQL writer each execution
// runs in a transaction holding the write lock.
type dbStmt struct {
	stmt *sql.Stmt
	h    dbHandle
}

func (s *dbStmt) Close() error { return s.stmt.Close() }

func (s *dbStmt) ExecContext(ctx context.Context, args ...any) (sql.Result, error) {
	if !s.h.pg || !s.h.writer {
		return s.stmt.ExecContext(ctx, s.h.args(args)...)
	}
	var res sql.Result
	err := s.h.inTx(ctx, func(tx *wtx) error {
		var err error
		res, err = tx.StmtContext(ctx, s.stmt).ExecContext(ctx, encodeArgs(args)...)
		return err
	})
	return res, err
}

func (s *dbStmt) QueryRowContext(ctx context.Context, args ...any) *dbRow {
	if !s.h.pg || !s.h.writer {
		return &dbRow{row: s.stmt.QueryRowContext(ctx, s.h.args(args)...), pg: s.h.pg}
	}
	tx, err := s.h.BeginTx(ctx, nil)
	if err != nil {
		return &dbRow{err: err}
	}
	return &dbRow{row: tx.StmtContext(ctx, s.stmt).QueryRowContext(ctx, encodeArgs(args)...), pg: true, tx: tx.Tx}
}

// dbRows are the rows of a query; Close ends the transaction the query
// ran in, if it had one of its own (committed when every row was read
// without error).
type dbRows struct {
	*sql.Rows
	pg bool
	tx *sql.Tx
}

func (r *dbRows) Scan(dest ...any) error {
	if err := r.Rows.Scan(dest...); err != nil {
		return err
	}
	if r.pg {
		decodeDest(dest)
	}
	return nil
}

func (r *dbRows) Close() error {
	err := r.Rows.Close()
	if r.tx != nil {
		if err == nil && r.Rows.Err() == nil {
			err = r.tx.Commit()
		} else {
			_ = r.tx.Rollback()
		}
		r.tx = nil
	}
	return err
}

// dbRow is the row of QueryRowContext; Scan ends the transaction the
// query ran in, if it had one of its own (committed unless the query
// failed).
type dbRow struct {
	row *sql.Row
	err error
	pg  bool
	tx  *sql.Tx
}

func (r *dbRow) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	err := r.row.Scan(dest...)
	if r.tx != nil {
		if err == nil || err == sql.ErrNoRows {
			if cerr := r.tx.Commit(); cerr != nil {
				err = cerr
			}
		} else {
			_ = r.tx.Rollback()
		}
	}
	if err == nil && r.pg {
		decodeDest(dest)
	}
	return err
}
