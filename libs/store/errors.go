package store

import "errors"

// Sentinel errors. Callers test for them with errors.Is; the returned errors
// wrap them with the id or path concerned.
var (
	// ErrNotFound reports that the requested job or file does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict reports that the requested transition is not allowed from
	// the job's current status (for example cancelling a completed job).
	ErrConflict = errors.New("conflict with current status")
	// ErrLeaseLost reports that the caller no longer owns the running job:
	// its lease was recovered by another worker, or the job is no longer
	// running.
	ErrLeaseLost = errors.New("lease lost")
	// ErrInvalid reports invalid input (an empty kind, a priority out of
	// range, malformed JSON, a malformed cursor, ...).
	ErrInvalid = errors.New("invalid argument")
	// ErrSchemaTooNew reports a database whose schema version is newer than
	// the migrations this binary knows; the database is left untouched.
	ErrSchemaTooNew = errors.New("database schema is newer than this binary supports")
)
