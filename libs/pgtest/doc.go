// Package pgtest starts throwaway PostgreSQL clusters for tests: Debian's
// postgresql binaries (initdb, pg_ctl) in a temporary data directory, run
// as an unprivileged user when the tests run as root, listening only on a
// Unix socket inside that directory; each test gets a fresh database.
package pgtest
