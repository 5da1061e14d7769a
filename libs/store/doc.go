// Package store owns the vpo SQLite library database: it opens the file with
// the pragmas the daemon relies on (WAL, busy timeout, foreign keys,
// synchronous=NORMAL), applies the embedded, versioned schema migrations and
// offers typed access to the rows the rest of the daemon needs: the durable
// job queue (jobs table) and the scanned media files (files table).
//
// Concurrency model. A Store keeps two connection pools on the same file: a
// single writer connection and a small pool of read-only connections. Writes
// from one process are therefore serialized in Go (no SQLite busy-waiting
// between goroutines of one process), while writes from other processes are
// arbitrated by SQLite's file locks with the configured busy timeout. Every
// state transition of a job is one SQL statement (an UPDATE ... RETURNING or
// an INSERT); a single write statement in autocommit mode takes the
// database write lock before it reads anything, so it behaves exactly like a
// statement wrapped in BEGIN IMMEDIATE ... COMMIT, without the extra round
// trips. Multi-statement work (migrations) runs in explicit BEGIN IMMEDIATE
// transactions. The number of jobs in each status (job_counts) is kept by
// triggers on jobs, so it changes in the same statement as the jobs it
// counts, whoever writes them.
//
// Timestamps are stored as UTC text with a fixed nine-digit fraction
// ("2006-01-02T15:04:05.000000000Z", a valid RFC 3339 form) so that string
// comparison in SQL orders them correctly.
//
// Delivery of jobs is at-least-once: a job whose lease expires (crashed or
// partitioned worker) is handed out again, so job handlers must be
// idempotent.
package store
