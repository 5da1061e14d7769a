package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

const (
	driverName = "sqlite"

	// DefaultBusyTimeout is used when Options.BusyTimeout is zero.
	DefaultBusyTimeout = 5 * time.Second

	// readConns is the size of the read-only connection pool. WAL lets
	// readers run concurrently with the single writer.
	readConns = 4

	// walAutoCheckpointPages is how many WAL pages the writer accumulates
	// before it checkpoints them into the database file (SQLite's default
	// is 1000). A checkpoint costs two fsyncs and rewrites the hot pages
	// once however often they changed, so checkpointing less often nearly
	// halves the cost of a queue transition; the WAL file then stays below
	// about 32 MiB.
	walAutoCheckpointPages = 8192

	dirMode  = 0o750
	fileMode = 0o600
)

// Options tunes Open. The zero value is valid.
type Options struct {
	// BusyTimeout is how long a statement waits for a lock held by another
	// connection (in practice: another process) before failing with
	// SQLITE_BUSY. Default 5s.
	BusyTimeout time.Duration
	// Warn receives what Open notices but accepts (nil: discarded), such
	// as a write-ahead log it cannot vouch for.
	Warn func(msg string)
}

// Store is an open library database. It is safe for concurrent use.
type Store struct {
	path  string
	id    fileID            // the database file opened at path
	side  map[string]fileID // its -wal and -shm files as created at open
	pg    bool              // PostgreSQL (path is then the URL without its password)
	wdb   dbHandle          // SQLite: exactly one connection: all writes
	rdb   dbHandle          // SQLite: read-only connections; PostgreSQL: the same pool as wdb
	stmts stmts             // prepared on wdb
	// worker is the node ClaimJob acts for (SetNode).
	worker workerSlot
	// pgConfig is the PostgreSQL connection's (nil on SQLite), for the
	// connection ListenEvents opens; listenErr is told of its failures.
	pgConfig  *pgx.ConnConfig
	listenErr func(error)
}

// Open opens (creating if needed) the database at path, verifies it and
// brings its schema up to date. The parent directory is created with mode
// 0750 and a new database file with mode 0600. A database whose schema is
// newer than this binary knows is refused with ErrSchemaTooNew and left
// untouched. A database file this process may not read and write, or a
// write-ahead log next to it that belongs to another file (ErrForeignWAL),
// is refused and left untouched.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	s, err := open(ctx, path, opts)
	if err != nil {
		return nil, fmt.Errorf("open database %q: %w", path, err)
	}
	return s, nil
}

func open(ctx context.Context, path string, opts Options) (*Store, error) {
	if path == "" {
		return nil, fmt.Errorf("empty path: %w", ErrInvalid)
	}
	if opts.BusyTimeout < 0 {
		return nil, fmt.Errorf("negative busy timeout %s: %w", opts.BusyTimeout, ErrInvalid)
	}
	if opts.BusyTimeout == 0 {
		opts.BusyTimeout = DefaultBusyTimeout
	}
	if err := createFile(path); err != nil {
		return nil, err
	}
	// SQLite would open a read-only file read-only and fail every write
	// later; a daemon that cannot write its database cannot work.
	if err := syscall.Access(path, 0o6); err != nil { // R_OK|W_OK
		return nil, fmt.Errorf("database file is not readable and writable by this process: %w", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("stat database file: %w", unwrapPathError(err))
	}
	id, err := statID(path)
	if err != nil {
		return nil, fmt.Errorf("stat database file: %w", unwrapPathError(err))
	}
	unvouched, err := guardWAL(path, id, fi.Size())
	if err != nil {
		return nil, err
	}
	if unvouched && opts.Warn != nil {
		opts.Warn(fmt.Sprintf("replaying write-ahead log %q, which holds committed transactions but no record of the file it was written for "+
			"(%q is missing: written before this version of vpo, by another program, or the record was deleted); "+
			"if %q was just restored from a backup, stop vpo and check the data", path+walSuffix, path+ownerSuffix, path))
	}

	busy := strconv.FormatInt(opts.BusyTimeout.Milliseconds(), 10)
	base := fileURI(path) + "?_pragma=busy_timeout(" + busy + ")&_pragma=foreign_keys(1)"
	wdb, err := sql.Open(driverName, base+"&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)"+
		"&_pragma=wal_autocheckpoint("+strconv.Itoa(walAutoCheckpointPages)+")&_txlock=immediate")
	if err != nil {
		return nil, err
	}
	wdb.SetMaxOpenConns(1)
	wdb.SetMaxIdleConns(1)
	wdb.SetConnMaxLifetime(0)
	wdb.SetConnMaxIdleTime(0)

	s := &Store{path: path, id: id, wdb: dbHandle{db: wdb, writer: true}}
	if err := s.verify(ctx); err != nil {
		_ = wdb.Close()
		return nil, err
	}
	// The writer's first query created the log and shared-memory files.
	s.side = sideFiles(path)
	if walID, ok := s.side[path+walSuffix]; ok {
		if err := writeOwner(path, walOwner{db: id, wal: walID}); err != nil {
			_ = wdb.Close()
			return nil, err
		}
	}
	if err := s.migrate(ctx); err != nil {
		_ = wdb.Close()
		return nil, err
	}

	if err := s.stmts.prepare(ctx, s.wdb); err != nil {
		_ = s.stmts.close()
		_ = wdb.Close()
		return nil, err
	}

	rdb, err := sql.Open(driverName, base+"&_pragma=query_only(1)")
	if err != nil {
		_ = s.stmts.close()
		_ = wdb.Close()
		return nil, err
	}
	rdb.SetMaxOpenConns(readConns)
	rdb.SetMaxIdleConns(readConns)
	rdb.SetConnMaxLifetime(0)
	rdb.SetConnMaxIdleTime(0)
	s.rdb = dbHandle{db: rdb}
	if err := rdb.PingContext(ctx); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("open read connection: %w", err)
	}
	return s, nil
}

// createFile creates the parent directory and an empty database file with
// restrictive modes, so that SQLite (which would use 0644) opens a file
// whose mode we chose. SQLite gives the -wal and -shm files the same mode.
func createFile(path string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, dirMode); err != nil {
		return fmt.Errorf("create directory %q: %w", dir, unwrapPathError(err))
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, fileMode)
	switch {
	case err == nil:
		if err := f.Close(); err != nil {
			return fmt.Errorf("create file: %w", err)
		}
	case errors.Is(err, fs.ErrExist):
		// Existing database (or created concurrently by another process).
	default:
		return fmt.Errorf("create file: %w", unwrapPathError(err))
	}
	return nil
}

// unwrapPathError drops the *fs.PathError wrapper (whose text repeats the
// path) so that messages name each path exactly once.
func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// fileURI returns the SQLite "file:" URI of path. An absolute path gets an
// empty authority ("file:///..."), so that a path beginning with "//" is not
// taken for "file://host/...".
func fileURI(path string) string {
	if strings.HasPrefix(path, "/") {
		return "file://" + escapeURIPath(path)
	}
	return "file:" + escapeURIPath(path)
}

// escapeURIPath escapes the characters that would end or corrupt the path
// part of a SQLite "file:" URI.
func escapeURIPath(p string) string {
	return strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(p)
}

// verify checks that the file is a usable SQLite database in WAL mode.
func (s *Store) verify(ctx context.Context) error {
	var mode string
	if err := s.wdb.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fmt.Errorf("verify database: %w", err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("verify database: journal_mode is %q, want wal", mode)
	}
	var n int
	if err := s.wdb.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema").Scan(&n); err != nil {
		return fmt.Errorf("verify database: %w", err)
	}
	return nil
}

// Path returns the database file path as given to Open.
func (s *Store) Path() string { return s.path }

// Ping checks, without side effects, that the database file still exists,
// that this process may read and write it, and that it answers a query that
// reads it.
func (s *Store) Ping(ctx context.Context) error {
	// access(2) opens no descriptor: closing one would drop SQLite's POSIX
	// locks on the file.
	if !s.pg {
		if err := syscall.Access(s.path, 0o6); err != nil { // R_OK|W_OK
			return fmt.Errorf("ping database %q: %w", s.path, err)
		}
	}
	var v sql.NullInt64
	if err := s.rdb.QueryRowContext(ctx, "SELECT max(version) FROM schema_migrations").Scan(&v); err != nil {
		return fmt.Errorf("ping database %q: %w", s.path, err)
	}
	return nil
}

// Close closes all connections. Further calls fail.
//
// When the path no longer holds the file Open opened (it was deleted, moved
// away or replaced), SQLite neither checkpoints nor removes the write-ahead
// log on close, and the log would later be replayed into whatever file is
// put at the path. Close then checkpoints the log into the file it holds
// and removes the log and shared-memory files that belong to it.
func (s *Store) Close() error {
	errs := []error{s.stmts.close()}
	if s.pg {
		return s.closePostgres(errs)
	}
	if s.rdb.db != nil {
		errs = append(errs, s.rdb.db.Close())
	}
	orphaned := false
	if cur, err := statID(s.path); err != nil || !cur.sameFile(s.id) {
		orphaned = s.checkpointAll()
	}
	errs = append(errs, s.wdb.db.Close())
	if orphaned {
		errs = append(errs, removeSideFiles(s.side))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close database %q: %w", s.path, err)
	}
	return nil
}

// checkpointAll copies the whole write-ahead log into the database file
// and truncates the log; it reports whether that completed.
func (s *Store) checkpointAll() bool {
	var busy, logFrames, done int
	err := s.wdb.db.QueryRow("PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &logFrames, &done)
	return err == nil && busy == 0
}

// SchemaVersion returns the highest applied migration version.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v sql.NullInt64
	if err := s.rdb.QueryRowContext(ctx, "SELECT max(version) FROM schema_migrations").Scan(&v); err != nil {
		return 0, fmt.Errorf("read schema version of %q: %w", s.path, err)
	}
	return int(v.Int64), nil
}

// IntegrityCheck runs PRAGMA integrity_check and returns its result, "ok"
// for a healthy database (several problems are joined by newlines).
func (s *Store) IntegrityCheck(ctx context.Context) (string, error) {
	if s.pg {
		// PostgreSQL checks its pages itself (data checksums) and has
		// no whole-database check to run from a client.
		return "ok", nil
	}
	rows, err := s.rdb.QueryContext(ctx, "PRAGMA integrity_check")
	if err != nil {
		return "", fmt.Errorf("integrity check of %q: %w", s.path, err)
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return "", fmt.Errorf("integrity check of %q: %w", s.path, err)
		}
		lines = append(lines, line)
	}
	if err := rows.Err(); err != nil {
		return "", fmt.Errorf("integrity check of %q: %w", s.path, err)
	}
	return strings.Join(lines, "\n"), nil
}

// timeLayout is RFC 3339 with a fixed-width fraction, so that stored
// timestamps compare correctly as strings.
const timeLayout = "2006-01-02T15:04:05.000000000Z"

// formatTime writes t in timeLayout, in UTC. It is written out by hand
// because it runs for every row a scan records (time.Format interprets
// its layout on each call, several times slower); years outside 0-9999
// go through time.Format.
func formatTime(t time.Time) string {
	t = t.UTC()
	y, mo, d := t.Date()
	if y < 0 || y > 9999 {
		return t.Format(timeLayout)
	}
	h, mi, sec := t.Clock()
	var b [len(timeLayout)]byte
	putDigits(b[0:4], y)
	b[4] = '-'
	putDigits(b[5:7], int(mo))
	b[7] = '-'
	putDigits(b[8:10], d)
	b[10] = 'T'
	putDigits(b[11:13], h)
	b[13] = ':'
	putDigits(b[14:16], mi)
	b[16] = ':'
	putDigits(b[17:19], sec)
	b[19] = '.'
	putDigits(b[20:29], t.Nanosecond())
	b[29] = 'Z'
	return string(b[:])
}

// putDigits writes v in decimal into all of b, zero-padded on the left.
func putDigits(b []byte, v int) {
	for i := len(b) - 1; i >= 0; i-- {
		b[i] = byte('0' + v%10)
		v /= 10
	}
}

// parseStoredTime is parseTime, faster for a time in timeLayout (what the
// store writes).
func parseStoredTime(s string) (time.Time, error) {
	if len(s) != len(timeLayout) || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' ||
		s[19] != '.' || s[29] != 'Z' {
		return parseTime(s)
	}
	num := func(from, to int) int {
		n := 0
		for _, c := range []byte(s[from:to]) {
			if c < '0' || c > '9' {
				return -1
			}
			n = n*10 + int(c-'0')
		}
		return n
	}
	y, mo, d, h, mi, sec, ns := num(0, 4), num(5, 7), num(8, 10), num(11, 13), num(14, 16), num(17, 19), num(20, 29)
	if y < 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 59 || ns < 0 {
		return parseTime(s)
	}
	t := time.Date(y, time.Month(mo), d, h, mi, sec, ns, time.UTC)
	if t.Day() != d { // 31 April and the like: let parseTime say so
		return parseTime(s)
	}
	return t, nil
}

func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("parse stored time %q: %w", s, err)
	}
	return t.UTC(), nil
}

func nullTime(t *time.Time) any {
	if t == nil || t.IsZero() {
		return nil
	}
	return formatTime(*t)
}

func parseNullTime(ns sql.NullString) (*time.Time, error) {
	if !ns.Valid || ns.String == "" {
		return nil, nil
	}
	t, err := parseTime(ns.String)
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// inWriteTx runs fn in a write transaction (BEGIN IMMEDIATE) and commits
// it; when fn or the commit fails, the transaction is rolled back and the
// error returned.
func (s *Store) inWriteTx(ctx context.Context, fn func(tx *wtx) error) error {
	return s.wdb.inTx(ctx, fn)
}
