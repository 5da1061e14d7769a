package store

import "time"

// RetentionSelectSQL exposes the retention batch query to the plan test.
const RetentionSelectSQL = retentionSelectSQL

// RetentionDeleteSQL exposes the retention DELETE to the plan test.
func RetentionDeleteSQL(n int) string { return retentionDeleteSQL(n) }

// StatesPage is how many files a page of FileStates holds.
const StatesPage = statesPage

// ParseStoredTime exposes the fast time parser to its test.
func ParseStoredTime(s string) (time.Time, error) { return parseStoredTime(s) }

// ParseTime exposes the reference parser.
func ParseTime(s string) (time.Time, error) { return parseTime(s) }

// EventBoundsSQL exposes the event bounds query to the plan test.
const EventBoundsSQL = eventBoundsSQL
