package store

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
)

// File filters of FileQuery.Filter.
const (
	FilterMissing     = "missing"      // files a scan no longer found
	FilterChanged     = "changed"      // files vpo has changed (they have a history)
	FilterProbeFailed = "probe_failed" // files whose last ffprobe run failed
)

// FileFilters lists the values FileQuery.Filter accepts besides "".
func FileFilters() []string { return []string{FilterMissing, FilterChanged, FilterProbeFailed} }

// FileQuery selects and pages the files of SearchFiles, in path order.
type FileQuery struct {
	// Search, when set, keeps the files whose path contains it (ASCII
	// letters match either case).
	Search string
	// Filter is "" or one of FileFilters.
	Filter string
	Limit  int    // 0 means DefaultListLimit; at most MaxListLimit
	Cursor string // "" for the first page, else the next cursor of the previous page
}

// SearchFiles returns one page of the files q selects, ordered by path, and
// the cursor of the next page ("" after the last). Pages are keyed on the
// path, so a page costs the same at the start and the end of a large
// library.
func (s *Store) SearchFiles(ctx context.Context, q FileQuery) ([]File, string, error) {
	limit, err := pageLimit(q.Limit)
	if err != nil {
		return nil, "", fmt.Errorf("list files: %w", err)
	}
	after := ""
	if q.Cursor != "" {
		b, err := base64.RawURLEncoding.DecodeString(q.Cursor)
		if err != nil || len(b) == 0 {
			return nil, "", fmt.Errorf("list files: malformed cursor %q: %w", q.Cursor, ErrInvalid)
		}
		after = string(b)
	}
	where := []string{"path > ?"}
	args := []any{after}
	if q.Search != "" {
		where = append(where, `path LIKE ? ESCAPE '\'`)
		args = append(args, "%"+likeEscaper.Replace(q.Search)+"%")
	}
	switch q.Filter {
	case "":
	case FilterMissing:
		where = append(where, "missing = 1")
	case FilterChanged:
		where = append(where, "EXISTS (SELECT 1 FROM file_history h WHERE h.file_id = files.id)")
	case FilterProbeFailed:
		where = append(where, "probe_error != ''")
	default:
		return nil, "", fmt.Errorf("list files: filter %q is not one of %v: %w", q.Filter, FileFilters(), ErrInvalid)
	}
	rows, err := s.rdb.QueryContext(ctx, "SELECT "+fileSelectColumns+" FROM files WHERE "+
		strings.Join(where, " AND ")+" ORDER BY path LIMIT ?", append(args, limit+1)...)
	if err != nil {
		return nil, "", fmt.Errorf("list files: %w", err)
	}
	defer rows.Close()
	files := make([]File, 0, limit)
	next := ""
	size := 0
	for rows.Next() {
		if len(files) == limit || size >= MaxListBytes {
			next = base64.RawURLEncoding.EncodeToString([]byte(files[len(files)-1].Path))
			break
		}
		f, err := scanFile(rows)
		if err != nil {
			return nil, "", fmt.Errorf("list files: %w", err)
		}
		files = append(files, f)
		size += len(f.Path) + len(f.Probe)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("list files: %w", err)
	}
	return files, next, nil
}

// likeEscaper makes a LIKE pattern match its text literally (with
// ESCAPE '\').
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// ListFiles returns up to limit files ordered by path, starting after the
// cursor returned by the previous call ("" for the first page), and the
// cursor of the next page ("" when this was the last one).
func (s *Store) ListFiles(ctx context.Context, limit int, cursor string) ([]File, string, error) {
	return s.SearchFiles(ctx, FileQuery{Limit: limit, Cursor: cursor})
}
