// Package health tracks the liveness and readiness of the vpo daemon and
// serves them over HTTP.
//
// A Health value holds two flags that the daemon flips as it starts and
// stops (SetReady once the store is open and the listener is bound,
// SetShuttingDown when shutdown begins) and a Checker for the database.
// Report combines them into the document served at /health; LiveHandler and
// ReadyHandler answer the narrower liveness and readiness probes.
//
// Database checks are bounded by Options.Timeout, coalesced (at most one runs
// at a time; concurrent callers share its result) and cached for
// Options.CacheFor, so a burst of probes costs the database a single ping.
// The flags are always read live. The package uses net/http only; routing and
// method checks belong to the caller's router.
package health
