// Package jobs runs the durable job queue: a Registry maps job kinds to
// Handlers, and a Pool claims queued jobs from storage, runs them with a
// bounded number of workers, keeps their leases alive, propagates
// cancellation requests, records results and failures, and on shutdown
// stops claiming, lets running jobs finish until a deadline and requeues
// the rest.
//
// The package talks to storage only through the Queue interface it
// declares; *store.Store satisfies it. Job records are store.Job values.
//
// Delivery is at-least-once: a job whose lease expires (crashed process,
// lost database) or that is interrupted by a shutdown runs again, so
// handlers must be idempotent. A pool renews the leases of the jobs it runs
// before each recovery of expired leases, so a process woken from a pause
// longer than the lease (SIGSTOP, suspend) does not take back, requeue and
// claim again its own live jobs: recovery is for owners that are gone.
// Every claim carries its own fencing token (store.Lease): a run whose claim
// was superseded (its lease expired and the job was recovered elsewhere and
// claimed again, even by this pool) has its context cancelled at once and
// its outcome discarded, and a pool never runs two handlers of one job at
// once: the run of the new claim starts its handler only after the stale
// handler has returned, renewing its lease meanwhile. A pool claims only the
// kinds its Registry has; other jobs stay queued.
//
// A handler that reports no progress for the stall timeout of its kind
// (SetStallTimeouts; default 10m) is cancelled and its job failed as
// stalled, to be retried while it has attempts left. A job whose
// cancellation was requested ends cancelled, whatever its handler returns.
// A handler cancelled as stalled or by its user that has not returned
// after ShutdownGrace is abandoned: its job ends (failed as stalled, or
// cancelled) and its worker is free, but until it returns it still counts
// for its job (no other handler of the job starts here) and for the limit
// of its kind. Limits (SetLimits) bound how many jobs of a kind run at
// once: a kind at its limit is left out of claims, so it never holds up
// other kinds.
//
// Pause stops all claims until Resume: with drain the running jobs go on
// to their end, without it they are interrupted and requeued without
// spending an attempt, as at a shutdown. A processing window (SetWindow,
// any Window such as config.Schedule) holds back the jobs of its kinds
// while it is closed (running ones finish); the pool wakes when it opens.
//
// Every log line about a job carries the field job_id, and file_path when
// the job's payload is a JSON object with a "path" string.
package jobs
