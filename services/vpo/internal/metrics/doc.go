// Package metrics exposes vpo's Prometheus metrics at GET /metrics through
// client_golang, on a registry of its own (no global state): jobs by
// status and kind (read from the store at scrape time), what the worker
// pool does (claims, run durations by outcome, stalls, lost leases), scans,
// HTTP requests by route pattern (never by raw path), database checks,
// configuration reloads, event streams, build info, and the Go runtime and
// process collectors. Every label has a small, fixed set of values.
package metrics
