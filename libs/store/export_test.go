package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"time"
)

// RetentionSelectSQL exposes the retention batch query to the plan test.
const RetentionSelectSQL = retentionSelectSQL

// RetentionDeleteSQL exposes the retention DELETE to the plan test.
func RetentionDeleteSQL(n int) string { return retentionDeleteSQL(n) }

// StatesPage is how many files a page of FileStates holds.
const StatesPage = statesPage

// ParseStoredTime exposes the fast time parser to its test.
func ParseStoredTime(s string) (time.Time, error) { return parseStoredTime(s) }

// FormatTime exposes the hand-written time formatter to its test.
func FormatTime(t time.Time) string { return formatTime(t) }

// TimeLayout is the layout formatTime writes.
const TimeLayout = timeLayout

// ParseTime exposes the reference parser.
func ParseTime(s string) (time.Time, error) { return parseTime(s) }

// EventBoundsSQL exposes the event bounds query to the plan test.
const EventBoundsSQL = eventBoundsSQL

// RawDB runs statements on a store's database directly, bypassing its
// methods: SQLite's dialect, translated on PostgreSQL as the store's own
// statements are.
type RawDB struct{ s *Store }

// Raw returns the store's database for direct statements.
func (s *Store) Raw() RawDB { return RawDB{s} }

func (r RawDB) Exec(q string, args ...any) (sql.Result, error) {
	return r.s.wdb.ExecContext(context.Background(), q, args...)
}

func (r RawDB) QueryRow(q string, args ...any) *dbRow {
	return r.s.wdb.QueryRowContext(context.Background(), q, args...)
}

func (r RawDB) Query(q string, args ...any) (*dbRows, error) {
	return r.s.rdb.QueryContext(context.Background(), q, args...)
}

// DropWriteConn makes database/sql discard the write connection (SQLite),
// as it does after any ErrBadConn or a connection no longer valid.
func DropWriteConn(s *Store) error {
	c, err := s.wdb.db.Conn(context.Background())
	if err != nil {
		return err
	}
	defer c.Close()
	return c.Raw(func(any) error { return driver.ErrBadConn })
}
