package store

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// File is what the scanner knows about one media file.
type File struct {
	Path            string          `json:"path"`
	Size            int64           `json:"size"`
	ModTime         time.Time       `json:"mtime"`
	Container       string          `json:"container,omitempty"`
	LastScannedAt   time.Time       `json:"last_scanned_at"`
	Missing         bool            `json:"missing"`
	Probe           json.RawMessage `json:"probe,omitempty"` // stream info as JSON, may be empty
	Codec           string          `json:"codec,omitempty"`
	DurationSeconds float64         `json:"duration_seconds"`
	Tracks          int             `json:"tracks"`
}

const fileColumns = "path, size, mtime, container, last_scanned_at, missing, probe, codec, duration_seconds, tracks"

func scanFile(r rowScanner) (File, error) {
	var (
		f              File
		mtime, scanned sql.NullString
		probe          sql.NullString
		missing        int
	)
	if err := r.Scan(&f.Path, &f.Size, &mtime, &f.Container, &scanned, &missing, &probe,
		&f.Codec, &f.DurationSeconds, &f.Tracks); err != nil {
		return File{}, err
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
	if probe.Valid {
		f.Probe = json.RawMessage(probe.String)
	}
	return f, nil
}

// GetFile returns the file row for path, or an error wrapping ErrNotFound.
func (s *Store) GetFile(ctx context.Context, path string) (File, error) {
	f, err := scanFile(s.rdb.QueryRowContext(ctx, "SELECT "+fileColumns+" FROM files WHERE path = ?", path))
	if errors.Is(err, sql.ErrNoRows) {
		return File{}, fmt.Errorf("file %q: %w", path, ErrNotFound)
	}
	if err != nil {
		return File{}, fmt.Errorf("get file %q: %w", path, err)
	}
	return f, nil
}

// UpsertFile inserts or replaces the row of f.Path. Missing is stored as
// given (a file just seen by a scan should have Missing false).
func (s *Store) UpsertFile(ctx context.Context, f File) error {
	if f.Path == "" {
		return fmt.Errorf("upsert file: empty path: %w", ErrInvalid)
	}
	var probe any
	if len(f.Probe) > 0 {
		if !json.Valid(f.Probe) {
			return fmt.Errorf("upsert file %q: probe is not valid JSON: %w", f.Path, ErrInvalid)
		}
		probe = string(f.Probe)
	}
	missing := 0
	if f.Missing {
		missing = 1
	}
	_, err := s.wdb.ExecContext(ctx, `INSERT INTO files (`+fileColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (path) DO UPDATE SET size = excluded.size, mtime = excluded.mtime,
			container = excluded.container, last_scanned_at = excluded.last_scanned_at,
			missing = excluded.missing, probe = excluded.probe, codec = excluded.codec,
			duration_seconds = excluded.duration_seconds, tracks = excluded.tracks`,
		f.Path, f.Size, nullTime(&f.ModTime), f.Container, nullTime(&f.LastScannedAt), missing, probe,
		f.Codec, f.DurationSeconds, f.Tracks)
	if err != nil {
		return fmt.Errorf("upsert file %q: %w", f.Path, err)
	}
	return nil
}

// MarkMissing flags as missing every file under root (path starting with
// root + "/") that is not already missing and whose last scan is older than
// scannedBefore (or unknown), that is: files a scan of root started at
// scannedBefore did not see. It returns the number of files flagged.
func (s *Store) MarkMissing(ctx context.Context, root string, scannedBefore time.Time) (int, error) {
	if root == "" {
		return 0, fmt.Errorf("mark missing: empty root: %w", ErrInvalid)
	}
	prefix := strings.TrimRight(root, "/") + "/"
	// [prefix, prefix with its trailing '/' replaced by '0') is exactly the
	// set of strings starting with prefix ('0' follows '/' in byte order),
	// and the range can use the primary key index.
	upper := prefix[:len(prefix)-1] + "0"
	res, err := s.wdb.ExecContext(ctx, `UPDATE files SET missing = 1
		WHERE path >= ? AND path < ? AND missing = 0
		  AND (last_scanned_at IS NULL OR last_scanned_at < ?)`,
		prefix, upper, formatTime(scannedBefore))
	if err != nil {
		return 0, fmt.Errorf("mark missing under %q: %w", root, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("mark missing under %q: %w", root, err)
	}
	return int(n), nil
}

// ListFiles returns up to limit files (0 means DefaultListLimit) in path
// order after the position of cursor ("" for the first page) and the cursor
// of the next page ("" when this is the last page). Cursors are opaque.
func (s *Store) ListFiles(ctx context.Context, limit int, cursor string) ([]File, string, error) {
	limit, err := pageLimit(limit)
	if err != nil {
		return nil, "", fmt.Errorf("list files: %w", err)
	}
	after := ""
	if cursor != "" {
		b, err := base64.RawURLEncoding.DecodeString(cursor)
		if err != nil || len(b) == 0 {
			return nil, "", fmt.Errorf("list files: malformed cursor %q: %w", cursor, ErrInvalid)
		}
		after = string(b)
	}
	rows, err := s.rdb.QueryContext(ctx, "SELECT "+fileColumns+" FROM files WHERE path > ? ORDER BY path LIMIT ?",
		after, limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("list files: %w", err)
	}
	defer rows.Close()
	files := make([]File, 0, limit)
	next := ""
	for rows.Next() {
		if len(files) == limit {
			next = base64.RawURLEncoding.EncodeToString([]byte(files[len(files)-1].Path))
			break
		}
		f, err := scanFile(rows)
		if err != nil {
			return nil, "", fmt.Errorf("list files: %w", err)
		}
		files = append(files, f)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("list files: %w", err)
	}
	return files, next, nil
}
