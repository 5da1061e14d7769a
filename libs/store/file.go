package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// File is what the scanner knows about one media file. Its JSON form is
// written by MarshalJSON (see there for paths that are not UTF-8).
type File struct {
	// ID is the file's stable number, given when its row is first written
	// (0 in a File not read from the store).
	ID        int64     `json:"id"`
	Path      string    `json:"path"`
	Size      int64     `json:"size"`
	ModTime   time.Time `json:"mtime"`
	Container string    `json:"container,omitempty"`
	// LastScannedAt is when the row last changed by a scan or an apply
	// (the start of the scan that recorded the file as new, changed,
	// probed again or back after it was missing): a scan that finds the
	// file unchanged writes nothing, so it is not when a scan last saw it.
	LastScannedAt   time.Time       `json:"last_scanned_at"`
	Missing         bool            `json:"missing"`
	Probe           json.RawMessage `json:"probe,omitempty"` // stream info as JSON, may be empty
	Codec           string          `json:"codec,omitempty"`
	DurationSeconds float64         `json:"duration_seconds"`
	Tracks          int             `json:"tracks"`
	// ProbedAt is when the stored probe of the file was taken: when the
	// ffprobe run started (a scan) or no earlier than when it read the
	// file (an apply); zero when ffprobe never ran (it was not installed).
	// A row whose probe started before the stored one's ProbedAt never
	// replaces it (see UpsertFile).
	ProbedAt time.Time `json:"probed_at"`
	// ProbeError is the error of that run, "" when it worked.
	ProbeError string `json:"probe_error"`
}

// Probed tells whether the stream details come from a successful ffprobe
// run of the file's current content.
func (f File) Probed() bool { return !f.ProbedAt.IsZero() && f.ProbeError == "" }

// fileJSON is the JSON shape of a File.
type fileJSON struct {
	ID              int64           `json:"id"`
	Path            string          `json:"path"`
	PathB64         string          `json:"path_b64,omitempty"`
	Size            int64           `json:"size"`
	ModTime         time.Time       `json:"mtime"`
	Container       string          `json:"container,omitempty"`
	LastScannedAt   time.Time       `json:"last_scanned_at"`
	Missing         bool            `json:"missing"`
	Probe           json.RawMessage `json:"probe,omitempty"`
	Codec           string          `json:"codec,omitempty"`
	DurationSeconds float64         `json:"duration_seconds"`
	Tracks          int             `json:"tracks"`
	Probed          bool            `json:"probed"`
	ProbedAt        *time.Time      `json:"probed_at"`
	ProbeError      string          `json:"probe_error"`
}

// MarshalJSON writes the file as the API shows it. "path" is the path
// itself when it is valid UTF-8 without a backslash; otherwise it is the
// path escaped by EscapePath and "path_b64" holds the exact bytes (standard
// base64), so that two files never share a "path". "probed" tells whether
// the stream details come from a successful probe, "probed_at" (null when
// never) when ffprobe last ran and "probe_error" its error.
func (f File) MarshalJSON() ([]byte, error) {
	j := fileJSON{
		ID: f.ID, Size: f.Size, ModTime: f.ModTime, Container: f.Container, LastScannedAt: f.LastScannedAt,
		Missing: f.Missing, Probe: f.Probe, Codec: f.Codec, DurationSeconds: f.DurationSeconds,
		Tracks: f.Tracks, Probed: f.Probed(), ProbeError: f.ProbeError,
	}
	var exact bool
	if j.Path, exact = EscapePath(f.Path); !exact {
		j.PathB64 = base64.StdEncoding.EncodeToString([]byte(f.Path))
	}
	if !f.ProbedAt.IsZero() {
		at := f.ProbedAt
		j.ProbedAt = &at
	}
	return json.Marshal(j)
}

const fileColumns = "path, size, mtime, container, last_scanned_at, missing, probe, codec, duration_seconds, tracks, probed_at, probe_error"

// fileSelectColumns are the columns scanFile reads.
const fileSelectColumns = fileColumns + ", id"

func scanFile(r rowScanner) (File, error) {
	var (
		f                      File
		mtime, scanned, probed sql.NullString
		probe                  sql.NullString
		missing                int
		id                     sql.NullInt64
	)
	if err := r.Scan(&f.Path, &f.Size, &mtime, &f.Container, &scanned, &missing, &probe,
		&f.Codec, &f.DurationSeconds, &f.Tracks, &probed, &f.ProbeError, &id); err != nil {
		return File{}, err
	}
	pt, err := parseNullTime(probed)
	if err != nil {
		return File{}, err
	}
	if pt != nil {
		f.ProbedAt = *pt
	}
	mt, err := parseNullTime(mtime)
	if err != nil {
		return File{}, err
	}
	if mt != nil {
		f.ModTime = *mt
	}
	st, err := parseNullTime(scanned)
	if err != nil {
		return File{}, err
	}
	if st != nil {
		f.LastScannedAt = *st
	}
	f.Missing = missing != 0
	f.ID = id.Int64
	if probe.Valid {
		f.Probe = json.RawMessage(probe.String)
		if len(f.Probe) > MaxProbeBytes {
			// Stored before probes were reduced: serve the reduced form
			// (the row itself is left as it is until the next probe).
			// One that cannot be reduced is not served at all.
			reduced, err := ReduceProbe(f.Probe)
			if err != nil {
				reduced = nil
			}
			f.Probe = reduced
		}
	}
	return f, nil
}

// GetFile returns the file row for path, or an error wrapping ErrNotFound.
func (s *Store) GetFile(ctx context.Context, path string) (File, error) {
	f, err := scanFile(s.rdb.QueryRowContext(ctx, "SELECT "+fileSelectColumns+" FROM files WHERE path = ?", path))
	if errors.Is(err, sql.ErrNoRows) {
		return File{}, fmt.Errorf("file %q: %w", path, ErrNotFound)
	}
	if err != nil {
		return File{}, fmt.Errorf("get file %q: %w", path, err)
	}
	return f, nil
}

// GetFileByID returns the file row with the stable id, or an error wrapping
// ErrNotFound.
func (s *Store) GetFileByID(ctx context.Context, id int64) (File, error) {
	f, err := scanFile(s.rdb.QueryRowContext(ctx, "SELECT "+fileSelectColumns+" FROM files WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return File{}, fmt.Errorf("file %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return File{}, fmt.Errorf("get file %d: %w", id, err)
	}
	return f, nil
}

// FilesByPath returns the rows of those of paths that are recorded, keyed
// by path (unknown paths are left out), reading them with one query per
// MaxFilesByPath paths. A directory dry run reads the stored probes of its
// files this way, batch by batch.
func (s *Store) FilesByPath(ctx context.Context, paths []string) (map[string]File, error) {
	out := make(map[string]File, len(paths))
	for start := 0; start < len(paths); start += MaxFilesByPath {
		chunk := paths[start:min(start+MaxFilesByPath, len(paths))]
		args := make([]any, len(chunk))
		for i, p := range chunk {
			args[i] = p
		}
		query := "SELECT " + fileSelectColumns + " FROM files WHERE path IN (?" + strings.Repeat(", ?", len(chunk)-1) + ")"
		if err := s.filesInto(ctx, out, query, args); err != nil {
			return nil, fmt.Errorf("files by path (%d paths from %q): %w", len(chunk), chunk[0], err)
		}
	}
	return out, nil
}

// MaxFilesByPath is how many paths one query of FilesByPath reads.
const MaxFilesByPath = 500

func (s *Store) filesInto(ctx context.Context, out map[string]File, query string, args []any) error {
	rows, err := s.rdb.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		f, err := scanFile(rows)
		if err != nil {
			return err
		}
		out[f.Path] = f
	}
	return rows.Err()
}

// probeNotOlder is true in upsertFileSQL when the row being written holds
// a probe at least as recent as the stored one: its probe started at or
// after the stored probe was taken, or either has none.
const probeNotOlder = `(excluded.probed_at IS NULL OR files.probed_at IS NULL OR excluded.probed_at >= files.probed_at)`

// upsertFileSQL inserts or replaces the row of one file; its arguments are
// those of fileArgs. A row whose probe started before the stored row's
// probe was taken (a scan that probed the file while an apply changed it
// and recorded the result) cannot replace what the stored row says of the
// file: only last_scanned_at and missing are taken from it. A new row is
// numbered after the highest id (a row that exists keeps its id); every
// insert into files gives the id (migration 0013).
const upsertFileSQL = `INSERT INTO files (` + fileColumns + `, id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ` +
	`(SELECT coalesce(max(id), 0) + 1 FROM files))` + upsertConflictSQL

// upsertConflictSQL is what an upsert of a file row does when the path
// is recorded.
const upsertConflictSQL = `
	ON CONFLICT (path) DO UPDATE SET last_scanned_at = excluded.last_scanned_at, missing = excluded.missing` +
	`, size = CASE WHEN ` + probeNotOlder + ` THEN excluded.size ELSE files.size END` +
	`, mtime = CASE WHEN ` + probeNotOlder + ` THEN excluded.mtime ELSE files.mtime END` +
	`, container = CASE WHEN ` + probeNotOlder + ` THEN excluded.container ELSE files.container END` +
	`, probe = CASE WHEN ` + probeNotOlder + ` THEN excluded.probe ELSE files.probe END` +
	`, codec = CASE WHEN ` + probeNotOlder + ` THEN excluded.codec ELSE files.codec END` +
	`, duration_seconds = CASE WHEN ` + probeNotOlder + ` THEN excluded.duration_seconds ELSE files.duration_seconds END` +
	`, tracks = CASE WHEN ` + probeNotOlder + ` THEN excluded.tracks ELSE files.tracks END` +
	`, probe_error = CASE WHEN ` + probeNotOlder + ` THEN excluded.probe_error ELSE files.probe_error END` +
	`, probed_at = CASE WHEN ` + probeNotOlder + ` THEN excluded.probed_at ELSE files.probed_at END`

// fileArgs checks f and returns the arguments of upsertFileSQL.
func fileArgs(f File) ([]any, error) {
	if f.Path == "" {
		return nil, fmt.Errorf("empty path: %w", ErrInvalid)
	}
	var probe any
	if len(f.Probe) > 0 {
		if !json.Valid(f.Probe) {
			return nil, fmt.Errorf("file %q: probe is not valid JSON: %w", f.Path, ErrInvalid)
		}
		probe = string(f.Probe)
	}
	if math.IsNaN(f.DurationSeconds) || math.IsInf(f.DurationSeconds, 0) || f.DurationSeconds < 0 {
		return nil, fmt.Errorf("file %q: duration %v is not a finite, non-negative number: %w", f.Path, f.DurationSeconds, ErrInvalid)
	}
	if f.Size < 0 || f.Tracks < 0 {
		return nil, fmt.Errorf("file %q: negative size %d or track count %d: %w", f.Path, f.Size, f.Tracks, ErrInvalid)
	}
	missing := 0
	if f.Missing {
		missing = 1
	}
	return []any{f.Path, f.Size, nullTime(&f.ModTime), f.Container, nullTime(&f.LastScannedAt), missing, probe,
		f.Codec, f.DurationSeconds, f.Tracks, nullTime(&f.ProbedAt), f.ProbeError}, nil
}

// UpsertFile inserts or replaces the row of f.Path. Missing is stored as
// given (a file just seen by a scan should have Missing false). When the
// stored row's probe was taken after f.ProbedAt (f's probe may have read
// older content), only f's LastScannedAt and Missing are stored.
func (s *Store) UpsertFile(ctx context.Context, f File) error {
	args, err := fileArgs(f)
	if err != nil {
		return fmt.Errorf("upsert file: %w", err)
	}
	err = s.inWriteTx(ctx, func(tx *wtx) error {
		if _, err := tx.ExecContext(ctx, upsertFileSQL, args...); err != nil {
			return err
		}
		return dropDirDigests(func(int) string { return f.Path }, 1, func(dir string) error {
			_, err := tx.ExecContext(ctx, dropDirDigestSQL, dir)
			return err
		})
	})
	if err != nil {
		return fmt.Errorf("upsert file %q: %w", f.Path, err)
	}
	return nil
}

// UpsertFiles inserts or replaces the rows of files in one transaction, as
// UpsertFile does for each, except that every row is stored as not missing
// (the files were just seen). Either all rows are written or none: a file
// with an empty path or invalid probe JSON fails the whole call with
// ErrInvalid before anything is written.
func (s *Store) UpsertFiles(ctx context.Context, files []File) error {
	if len(files) == 0 {
		return nil
	}
	if bare(files) {
		if err := s.upsertBare(ctx, files); err != nil {
			return fmt.Errorf("upsert %d files: %w", len(files), err)
		}
		return nil
	}
	args := make([][]any, len(files))
	for i, f := range files {
		f.Missing = false
		a, err := fileArgs(f)
		if err != nil {
			return fmt.Errorf("upsert files: item %d: %w", i, err)
		}
		args[i] = a
	}
	if err := s.upsertNumbered(ctx, args); err != nil {
		return fmt.Errorf("upsert %d files: %w", len(files), err)
	}
	return nil
}

// upsertNumberedSQL returns upsertFileSQL for n rows, each with the id
// of a new row given: the arguments of a row are those of fileArgs, then
// the id.
func upsertNumberedSQL(n int) string {
	row := "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
	return "INSERT INTO files (" + fileColumns + ", id) VALUES " + row + strings.Repeat(", "+row, n-1) + upsertConflictSQL
}

// upsertRows is how many rows one statement of upsertNumbered writes:
// one statement of many rows costs far less than as many statements.
const upsertRows = 32

// upsertNumbered writes the rows of args (fileArgs) in one transaction,
// numbering the new ones after the highest id. (A row that exists keeps
// its id; its number is then left unused.)
func (s *Store) upsertNumbered(ctx context.Context, args [][]any) error {
	return s.upsertInChunks(ctx, len(args), 13, upsertNumberedSQL,
		func(flat []any, i int, id int64) []any { return append(append(flat, args[i]...), id) },
		func(i int) string { return args[i][0].(string) })
}

// upsertInChunks writes n rows in one transaction, upsertRows of them a
// statement (sqlOf(k) for k rows; width values a row): args appends the
// values of row i with the id it gets if it is new, numbered after the
// highest id. Then it drops the digests of the rows'
// directories (path names row i).
//
// It talks to the driver's connection itself rather than through
// database/sql, which would convert every value into a new slice of named
// values for every statement: a first scan writes 100,000 rows, and that
// garbage cost the collector more than the conversion itself.
func (s *Store) upsertInChunks(ctx context.Context, n, width int, sqlOf func(rows int) string,
	args func(flat []any, i int, id int64) []any, path func(i int) string) error {
	if s.pg {
		return s.wdb.inTx(ctx, func(tx *wtx) error { return writeChunksTx(ctx, tx, n, width, sqlOf, args, path) })
	}
	conn, err := s.wdb.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		c, ok := dc.(rawConn)
		if !ok {
			return fmt.Errorf("database driver connection %T lacks a method the store uses", dc)
		}
		return writeChunks(ctx, c, n, width, sqlOf, args, path)
	})
}

// rawConn is what upsertInChunks uses of the driver's connection.
type rawConn interface {
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
}

// execStmt is what writeChunks uses of the driver's prepared statements.
type execStmt interface {
	driver.Stmt
	driver.StmtExecContext
}

// writeChunks is upsertInChunks on the driver's connection c. (Its
// statements live as long as the call: kept longer, on a connection
// database/sql may close when it sees fit, they would outlive it.)
func writeChunks(ctx context.Context, c rawConn, n, width int, sqlOf func(rows int) string,
	args func(flat []any, i int, id int64) []any, path func(i int) string) (err error) {
	tx, err := c.BeginTx(ctx, driver.TxOptions{})
	if err != nil {
		return err
	}
	defer func() {
		if err != nil && tx.Rollback() != nil && inTransaction(c) {
			// A connection left in a transaction must not be used again.
			err = fmt.Errorf("%w (and the rollback failed: %w)", err, driver.ErrBadConn)
		}
	}()
	next, err := nextFileID(ctx, c)
	if err != nil {
		return err
	}
	stmts := map[int]execStmt{}
	defer func() {
		for _, st := range stmts {
			_ = st.Close()
		}
	}()
	named := make([]driver.NamedValue, upsertRows*width)
	for i := range named {
		named[i].Ordinal = i + 1
	}
	err = writeRows(n, width, next, args, path, func(k int, flat []any) error {
		stmt, ok := stmts[k]
		if !ok {
			prepared, err := c.PrepareContext(ctx, sqlOf(k))
			if err != nil {
				return err
			}
			if stmt, ok = prepared.(execStmt); !ok {
				_ = prepared.Close()
				return fmt.Errorf("database driver statement %T lacks ExecContext", prepared)
			}
			stmts[k] = stmt
		}
		for i, v := range flat {
			if x, ok := v.(int); ok {
				v = int64(x) // what database/sql would have made of it
			}
			named[i].Value = v
		}
		_, err := stmt.ExecContext(ctx, named[:len(flat)])
		return err
	}, func(dir string) error {
		_, err := c.ExecContext(ctx, dropDirDigestSQL, []driver.NamedValue{{Ordinal: 1, Value: dir}})
		return err
	})
	if err != nil {
		return err
	}
	return tx.Commit()
}

// writeChunksTx is writeChunks through database/sql in tx (PostgreSQL).
func writeChunksTx(ctx context.Context, tx *wtx, n, width int, sqlOf func(rows int) string,
	args func(flat []any, i int, id int64) []any, path func(i int) string) error {
	var next int64
	if err := tx.QueryRowContext(ctx, "SELECT coalesce(max(id), 0) + 1 FROM files").Scan(&next); err != nil {
		return err
	}
	stmts := map[int]*dbStmt{}
	defer func() {
		for _, st := range stmts {
			_ = st.Close()
		}
	}()
	return writeRows(n, width, next, args, path, func(k int, flat []any) error {
		stmt, ok := stmts[k]
		if !ok {
			var err error
			if stmt, err = tx.PrepareContext(ctx, sqlOf(k)); err != nil {
				return err
			}
			stmts[k] = stmt
		}
		_, err := stmt.ExecContext(ctx, flat...)
		return err
	}, func(dir string) error {
		_, err := tx.ExecContext(ctx, dropDirDigestSQL, dir)
		return err
	})
}

// writeRows is the loop of both: it hands exec the values of up to
// upsertRows rows at a time (k rows: the statement of k rows), the new ones
// numbered from next, then drops the digests of the rows' directories.
func writeRows(n, width int, next int64, args func(flat []any, i int, id int64) []any, path func(i int) string,
	exec func(k int, flat []any) error, drop func(dir string) error) error {
	flat := make([]any, 0, upsertRows*width)
	for start := 0; start < n; start += upsertRows {
		k := min(upsertRows, n-start)
		flat = flat[:0]
		for i := start; i < start+k; i++ {
			flat = args(flat, i, next+int64(i))
		}
		if err := exec(k, flat); err != nil {
			return err
		}
	}
	return dropDirDigests(path, n, drop)
}

// inTransaction tells, after a rollback failed, whether c is still in a
// transaction. (SQLite ends a transaction itself when a statement is
// interrupted, and then the rollback fails for want of one: the connection
// is fine.) It asks by beginning one, which only works outside any.
func inTransaction(c driver.ExecerContext) bool {
	ctx := context.Background()
	if _, err := c.ExecContext(ctx, "BEGIN", nil); err != nil {
		return true
	}
	_, err := c.ExecContext(ctx, "ROLLBACK", nil)
	return err != nil
}

// nextFileID returns, on c, the id a new file row gets.
func nextFileID(ctx context.Context, c driver.QueryerContext) (int64, error) {
	rows, err := c.QueryContext(ctx, "SELECT coalesce(max(id), 0) + 1 FROM files", nil)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	dest := make([]driver.Value, 1)
	if err := rows.Next(dest); err != nil {
		return 0, err
	}
	next, ok := dest[0].(int64)
	if !ok {
		return 0, fmt.Errorf("next file id: got %T", dest[0])
	}
	return next, nil
}

// bare tells whether files hold nothing but a path, size, mtime and
// container, and share one (non-zero) LastScannedAt: what a scan without
// ffprobe writes.
func bare(files []File) bool {
	at := files[0].LastScannedAt
	if at.IsZero() {
		return false
	}
	for _, f := range files {
		if len(f.Probe) > 0 || f.Codec != "" || f.DurationSeconds != 0 || f.Tracks != 0 || !f.ProbedAt.IsZero() ||
			f.ProbeError != "" || !f.LastScannedAt.Equal(at) {
			return false
		}
	}
	return true
}

// upsertBareSQL is upsertNumberedSQL for n bare rows: the arguments of a
// row are its path, size, mtime, container, last_scanned_at and id. (Plain
// "?" parameters: the driver looks the name of each numbered one up in a
// list, which costs more than binding a value again.)
func upsertBareSQL(n int) string {
	row := "(?, ?, ?, ?, ?, 0, NULL, '', 0, 0, NULL, '', ?)"
	return "INSERT INTO files (" + fileColumns + ", id) VALUES " + row + strings.Repeat(", "+row, n-1) + upsertConflictSQL
}

// upsertBare writes bare files (see bare) as upsertNumbered does, binding
// six values a row instead of thirteen (the id included).
func (s *Store) upsertBare(ctx context.Context, files []File) error {
	for i, f := range files {
		if f.Path == "" {
			return fmt.Errorf("item %d: empty path: %w", i, ErrInvalid)
		}
		if f.Size < 0 {
			return fmt.Errorf("item %d: file %q: negative size %d: %w", i, f.Path, f.Size, ErrInvalid)
		}
	}
	at := formatTime(files[0].LastScannedAt)
	return s.upsertInChunks(ctx, len(files), 6, upsertBareSQL,
		func(flat []any, i int, id int64) []any {
			f := &files[i]
			return append(flat, f.Path, f.Size, nullTime(&f.ModTime), f.Container, at, id)
		},
		func(i int) string { return files[i].Path })
}

// dropDirDigestSQL drops the digest of one directory.
const dropDirDigestSQL = "DELETE FROM scan_dirs WHERE dir = ?"

// dropDirDigests drops, with drop (dropDirDigestSQL in the transaction that
// writes the rows), the directory digests of the directories of paths (see
// DirDigest: the triggers drop them on updates and deletes; new rows are
// written only here).
func dropDirDigests(paths func(i int) string, n int, drop func(dir string) error) error {
	done := map[string]bool{}
	for i := 0; i < n; i++ {
		p := paths(i)
		dir := p[:strings.LastIndexByte(p, '/')+1]
		if done[dir] {
			continue
		}
		done[dir] = true
		if err := drop(dir); err != nil {
			return err
		}
	}
	return nil
}

// FileState is what a scan compares with the disk to tell whether a file
// changed since it was recorded, and whether it still needs a probe.
type FileState struct {
	Size    int64
	ModTime time.Time
	Missing bool
	// Probed is true when ffprobe ran on the file without error.
	Probed bool
}

// FileStates returns the state of every recorded file under root (path
// starting with root + "/"), missing ones included, keyed by path (the
// pages of EachFileStatePage put together).
func (s *Store) FileStates(ctx context.Context, root string) (map[string]FileState, error) {
	var states map[string]FileState
	err := s.EachFileStatePage(ctx, root, func(p FileStatePage) error {
		if states == nil {
			states = p.States
			return nil
		}
		for path, st := range p.States {
			states[path] = st
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if states == nil {
		states = map[string]FileState{}
	}
	return states, nil
}

// FileStatePage is a page of EachFileStatePage: the states of the
// recorded files after the previous page's Last, up to and including
// Last, keyed by path.
type FileStatePage struct {
	States map[string]FileState
	Last   string
}

// EachFileStatePage calls fn with the states of the recorded files under
// root, missing ones included, page by page in path order (each page
// holds at most statesPage files), all read in one read transaction. An
// error of fn stops the reading and is returned.
//
// A rescan cannot compare a file with its record before the page that
// holds it is read, so this is on its critical path: each page is read as
// one row (the fields of its files joined by NUL bytes, which no path
// holds). Reading each file as a row of its own costs several times more
// in the driver than in SQLite.
func (s *Store) EachFileStatePage(ctx context.Context, root string, fn func(FileStatePage) error) error {
	lo, hi, err := underRoot(root)
	if err != nil {
		return fmt.Errorf("file states: %w", err)
	}
	if err := s.fileStatePages(ctx, lo, hi, fn); err != nil {
		return fmt.Errorf("file states under %q: %w", root, err)
	}
	return nil
}

// statesPage is how many files a page of EachFileStatePage holds.
const statesPage = 5000

// statesPageSQL reads one page: the number of files, the last path and
// the files' path, mtime and packed state (size << 2 | missing << 1 |
// probed), all joined by NUL bytes. Its arguments: the path the page
// starts at, the end of the range (excluded), the page size.
const statesPageSQL = `SELECT count(*), max(path), group_concat(path || char(0) || coalesce(mtime, '') || char(0) ||
		((size << 2) | (missing << 1) | (probed_at IS NOT NULL AND probe_error = '')), char(0))
	FROM (SELECT path, mtime, size, missing, probed_at, probe_error FROM files
		WHERE path >= ?1 AND path < ?2 ORDER BY path LIMIT ?3)`

func (s *Store) fileStatePages(ctx context.Context, lo, hi string, fn func(FileStatePage) error) error {
	if s.pg {
		return s.fileStatePagesRows(ctx, lo, hi, fn)
	}
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	from := lo
	for {
		var (
			count  int
			last   sql.NullString
			joined sql.NullString
		)
		if err := tx.QueryRowContext(ctx, statesPageSQL, from, hi, statesPage).Scan(&count, &last, &joined); err != nil {
			return err
		}
		if count == 0 {
			return nil
		}
		states := make(map[string]FileState, count)
		if err := parseStates(joined.String, count, states); err != nil {
			return err
		}
		if err := fn(FileStatePage{States: states, Last: last.String}); err != nil {
			return err
		}
		if count < statesPage {
			return nil
		}
		// The next page starts after the last path: the smallest string
		// greater than it.
		from = last.String + "\x00"
	}
}

// statesRowsSQL is statesPageSQL with a row per file (PostgreSQL, whose
// text holds no NUL byte to join them by). Its arguments: the path the
// page starts after, the end of the range (excluded), the page size.
const statesRowsSQL = `SELECT path, coalesce(mtime, ''), size, missing,
		CASE WHEN probed_at IS NOT NULL AND probe_error = '' THEN 1 ELSE 0 END
	FROM files WHERE path > ?1 AND path < ?2 ORDER BY path LIMIT ?3`

// fileStatePagesRows is fileStatePages reading a row per file, in one
// repeatable-read transaction.
func (s *Store) fileStatePagesRows(ctx context.Context, lo, hi string, fn func(FileStatePage) error) error {
	tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead})
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	// lo ends with '/', which no path under it does: the first page
	// starts after lo itself.
	after := lo
	for {
		rows, err := tx.QueryContext(ctx, statesRowsSQL, after, hi, statesPage)
		if err != nil {
			return err
		}
		states := make(map[string]FileState, 64)
		last := ""
		for rows.Next() {
			var (
				path, mtime     string
				st              FileState
				missing, probed int
			)
			if err := rows.Scan(&path, &mtime, &st.Size, &missing, &probed); err != nil {
				_ = rows.Close()
				return err
			}
			st.Missing, st.Probed = missing != 0, probed != 0
			if mtime != "" {
				if st.ModTime, err = parseStoredTime(mtime); err != nil {
					_ = rows.Close()
					return fmt.Errorf("page of file states: file %q: %w", path, err)
				}
			}
			states[path] = st
			last = path
		}
		if err := rows.Close(); err != nil {
			return err
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if len(states) == 0 {
			return nil
		}
		if err := fn(FileStatePage{States: states, Last: last}); err != nil {
			return err
		}
		if len(states) < statesPage {
			return nil
		}
		after = last
	}
}

// parseStates adds the count files of a page of statesPageSQL to states.
func parseStates(joined string, count int, states map[string]FileState) error {
	for i := 0; i < count; i++ {
		var path, mtime, packed string
		var ok bool
		if path, joined, ok = strings.Cut(joined, "\x00"); !ok {
			return fmt.Errorf("page of file states: file %d of %d cut short", i+1, count)
		}
		if mtime, joined, ok = strings.Cut(joined, "\x00"); !ok {
			return fmt.Errorf("page of file states: file %q cut short", path)
		}
		packed, joined, _ = strings.Cut(joined, "\x00")
		p, err := strconv.ParseInt(packed, 10, 64)
		if err != nil {
			return fmt.Errorf("page of file states: file %q: state %q: %w", path, packed, err)
		}
		st := FileState{Size: p >> 2, Missing: p&2 != 0, Probed: p&1 != 0}
		if mtime != "" {
			if st.ModTime, err = parseStoredTime(mtime); err != nil {
				return fmt.Errorf("page of file states: file %q: %w", path, err)
			}
		}
		states[path] = st
	}
	if joined != "" {
		return fmt.Errorf("page of file states: more than the %d files counted", count)
	}
	return nil
}

// TouchFiles records that a scan saw paths at scannedAt: their
// last_scanned_at becomes scannedAt and they are no longer missing; their
// other columns (stream details included) are kept. Unknown paths are
// ignored. It returns the number of rows updated.
func (s *Store) TouchFiles(ctx context.Context, paths []string, scannedAt time.Time) (int, error) {
	if scannedAt.IsZero() {
		return 0, fmt.Errorf("touch files: zero scan time: %w", ErrInvalid)
	}
	at := formatTime(scannedAt)
	n := 0
	err := s.eachInTx(ctx, "UPDATE files SET last_scanned_at = ?, missing = 0 WHERE path = ?", len(paths),
		func(i int) []any { return []any{at, paths[i]} }, &n)
	if err != nil {
		return 0, fmt.Errorf("touch %d files: %w", len(paths), err)
	}
	return n, nil
}

// MarkMissingPaths flags paths as missing, except those already missing
// and those last scanned at or after scannedBefore (recorded by a scan
// that started later). A scan also checks with lstat, just before, that
// nothing is at the paths: an unchanged file seen by a concurrent scan has
// no newer last_scanned_at. Unknown paths are ignored. It returns the number of files
// flagged.
func (s *Store) MarkMissingPaths(ctx context.Context, paths []string, scannedBefore time.Time) (int, error) {
	before := formatTime(scannedBefore)
	n := 0
	err := s.eachInTx(ctx, `UPDATE files SET missing = 1 WHERE path = ? AND missing = 0
		AND (last_scanned_at IS NULL OR last_scanned_at < ?)`, len(paths),
		func(i int) []any { return []any{paths[i], before} }, &n)
	if err != nil {
		return 0, fmt.Errorf("mark %d files missing: %w", len(paths), err)
	}
	return n, nil
}

// eachInTx executes query n times with the arguments args(i), in one write
// transaction with one prepared statement. When affected is not nil it
// receives the total number of rows affected. n == 0 does nothing.
func (s *Store) eachInTx(ctx context.Context, query string, n int, args func(i int) []any, affected *int) (err error) {
	if n == 0 {
		return nil
	}
	total := int64(0)
	err = s.inWriteTx(ctx, func(tx *wtx) error {
		stmt, err := tx.PrepareContext(ctx, query)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for i := 0; i < n; i++ {
			res, err := stmt.ExecContext(ctx, args(i)...)
			if err != nil {
				return err
			}
			if affected != nil {
				k, err := res.RowsAffected()
				if err != nil {
					return err
				}
				total += k
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if affected != nil {
		*affected = int(total)
	}
	return nil
}

// underRoot returns the bounds [lo, hi) of the paths under root, that is
// starting with root + "/". ('0' follows '/' in byte order, so the range is
// exactly that set, and it can use the primary key index.)
func underRoot(root string) (lo, hi string, err error) {
	if root == "" {
		return "", "", fmt.Errorf("empty root: %w", ErrInvalid)
	}
	lo = strings.TrimRight(root, "/") + "/"
	return lo, lo[:len(lo)-1] + "0", nil
}

// MaxListBytes bounds a page of ListFiles: once the paths and probes of
// the files on a page reach it, the page ends there (with a next cursor)
// even if it holds fewer than limit files.
const MaxListBytes = 8 << 20

// EscapePath returns a form of path that is valid UTF-8 and whether it is
// path itself. A path that is valid UTF-8 and holds no backslash is
// returned as is (exact). Any other path is escaped: each backslash becomes
// `\\` and each byte that is not part of valid UTF-8 becomes `\xNN`
// (lowercase hex). The escaped form always holds a backslash and an exact
// one never does, and the escaping is reversible, so two different paths
// never get the same form.
func EscapePath(path string) (string, bool) {
	return escapePath(path, false)
}

// DisplayPath is EscapePath's form of path for a screen (the dashboard):
// control characters (C0, DEL, C1) are escaped too, as `\xNN` of their
// UTF-8 bytes, so that a newline or an escape sequence in a name neither
// hides nor moves anything and two names never look alike. UnescapePath
// reverses it.
func DisplayPath(path string) string {
	s, _ := escapePath(path, true)
	return s
}

// escapePath is EscapePath, also escaping control characters when
// controls is set.
func escapePath(path string, controls bool) (string, bool) {
	if utf8.ValidString(path) && !strings.Contains(path, `\`) && (!controls || !strings.ContainsFunc(path, unicode.IsControl)) {
		return path, true
	}
	var b strings.Builder
	for i := 0; i < len(path); {
		r, n := utf8.DecodeRuneInString(path[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, path[i])
		case r == '\\':
			b.WriteString(`\\`)
		case controls && unicode.IsControl(r):
			for j := i; j < i+n; j++ {
				fmt.Fprintf(&b, `\x%02x`, path[j])
			}
		default:
			b.WriteString(path[i : i+n])
		}
		i += n
	}
	return b.String(), false
}
