package integration_test

import (
	"bytes"
	"database/sql"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "modernc.org/sqlite" // direct writes to the library database
)

// openLibrary opens a database file directly (vpo stopped, or for reads).
func openLibrary(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func mustExec(t *testing.T, db *sql.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// submitDone submits n test.sleep jobs and waits until they completed.
func (d *daemon) submitDone(n int) {
	d.t.Helper()
	for i := 0; i < n; i++ {
		j := d.submit("test.sleep", `{"seconds":0}`)
		d.waitJob(j.ID, "completed", 15*time.Second)
	}
}

// submitBlind submits n jobs and ignores the outcome (the database may be
// gone).
func (d *daemon) submitBlind(n int) {
	d.t.Helper()
	for i := 0; i < n; i++ {
		d.call("POST", "/api/jobs", `{"kind":"test.sleep","payload":{"seconds":0}}`, "")
	}
}

func jobIDs(rows []jobRow) []string {
	var ids []string
	for _, r := range rows {
		ids = append(ids, r.id+"="+r.status)
	}
	slices.Sort(ids)
	return ids
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// restoreScenario runs the sequence of the README's restore procedure gone
// wrong: back up, write more, checkpoint, write, delete the file, write,
// stop with sig, restore the backup at the path. It returns the daemon's
// directory, the database path and the backup's jobs.
func restoreScenario(t *testing.T, sig syscall.Signal) (string, string, []string) {
	d := start(t, startOpts{wait: true, env: []string{"VPO_JOBS_TEST_KINDS=true"}})
	db := filepath.Join(d.dir, "library.db")
	backup := filepath.Join(d.dir, "backup.db")
	d.submitDone(3)
	mustExec(t, openLibrary(t, db), "VACUUM INTO ?", backup)
	want := jobIDs(libraryJobs(t, backup))
	if len(want) != 3 {
		t.Fatalf("backup holds %d jobs, want 3", len(want))
	}
	d.submitDone(3)
	live := openLibrary(t, db)
	mustExec(t, live, "PRAGMA wal_checkpoint(PASSIVE)")
	_ = live.Close()
	d.submitDone(2)
	if err := os.Remove(db); err != nil {
		t.Fatal(err)
	}
	d.submitBlind(2) // written to the deleted file
	d.signal(sig)
	wantCode := exitOK
	if sig == syscall.SIGKILL {
		wantCode = -int(syscall.SIGKILL)
	}
	if code := d.wait(15 * time.Second); code != wantCode {
		t.Fatalf("exit %d, want %d\n%s", code, wantCode, d.stderr.String())
	}
	// The operator restores the backup (the README's procedure).
	copyFile(t, backup, db)
	return d.dir, db, want
}

// restartHolds starts vpo on dir and checks that it serves exactly the jobs
// want, and that the file is sound after a clean stop.
func restartHolds(t *testing.T, dir, db string, want []string) {
	t.Helper()
	again := start(t, startOpts{dir: dir, args: []string{"--config", filepath.Join(dir, "config.toml")},
		port: portOf(t, dir), wait: true})
	if code, _, b := again.call("GET", "/api/jobs?limit=100", "", ""); code != 200 || strings.Count(string(b), `"id":`) != len(want) {
		t.Errorf("restarted on the restored backup: /api/jobs = %d %s, want the backup's %d jobs", code, b, len(want))
	}
	again.signal(syscall.SIGTERM)
	if code := again.wait(15 * time.Second); code != exitOK {
		t.Fatalf("restart exit %d\n%s", code, again.stderr.String())
	}
	if got := jobIDs(libraryJobs(t, db)); !slices.Equal(got, want) {
		t.Fatalf("restored database holds\n%v\nwant exactly the backup's\n%v", got, want)
	}
}

// portOf reads the port back from the config the harness wrote in dir.
func portOf(t *testing.T, dir string) int {
	t.Helper()
	var port int
	b := readFile(t, filepath.Join(dir, "config.toml"))
	if _, err := fmt.Sscanf(string(b), "[server]\nport = %d", &port); err != nil {
		t.Fatalf("port in %s/config.toml: %v", dir, err)
	}
	return port
}

// TestRestoreBackupAfterDeletedDatabase: after the database was deleted
// while vpo ran and vpo was stopped cleanly, a restored backup is served
// exactly as it was backed up: no stale write-ahead log is replayed into it.
func TestRestoreBackupAfterDeletedDatabase(t *testing.T) {
	dir, db, want := restoreScenario(t, syscall.SIGTERM)
	for _, p := range []string{db + "-wal", db + "-shm"} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s left behind by the clean stop", p)
		}
	}
	restartHolds(t, dir, db, want)
}

// TestForeignWriteAheadLogRefused: when vpo was killed after its database
// was deleted, the log of the deleted file stays behind; a start on the
// restored backup refuses it (exit 4, names the paths, changes nothing) and
// starts cleanly once the operator deleted it.
func TestForeignWriteAheadLogRefused(t *testing.T) {
	dir, db, want := restoreScenario(t, syscall.SIGKILL)
	wal := db + "-wal"
	dbBefore, walBefore := readFile(t, db), readFile(t, wal)

	d := start(t, startOpts{dir: dir, args: []string{"--config", filepath.Join(dir, "config.toml")}, port: portOf(t, dir)})
	if code := d.wait(15 * time.Second); code != exitDatabase {
		t.Fatalf("start next to a foreign write-ahead log: exit %d, want %d\n%s", code, exitDatabase, d.stderr.String())
	}
	if out := d.stderr.String(); !containsAll(out, db, wal, "another file") {
		t.Errorf("the refusal does not name the database and its log:\n%s", out)
	}
	if !bytes.Equal(readFile(t, db), dbBefore) || !bytes.Equal(readFile(t, wal), walBefore) {
		t.Fatal("the refused start changed the database or the log")
	}
	// The way out the message gives.
	_ = os.Remove(db + "-shm")
	if err := os.Remove(wal); err != nil {
		t.Fatal(err)
	}
	restartHolds(t, dir, db, want)
}

// TestHealthWithManyFinishedJobs: half a million finished jobs, and half a
// million queued jobs of a kind this daemon does not run (they stay queued
// for ever), do not slow the /health database check past its budget:
// /health and /health/ready stay 200 with the database connected, and
// jobs_queued counts the stuck jobs.
func TestHealthWithManyFinishedJobs(t *testing.T) {
	const rows = 500000
	d := start(t, startOpts{wait: true})
	d.signal(syscall.SIGTERM)
	if code := d.wait(15 * time.Second); code != exitOK {
		t.Fatalf("exit %d", code)
	}
	// One connection, no fsync: the rows only need to be there.
	db := openLibrary(t, filepath.Join(d.dir, "library.db"))
	db.SetMaxOpenConns(1)
	mustExec(t, db, "PRAGMA synchronous = OFF")
	mustExec(t, db, "PRAGMA cache_size = -262144")
	began := time.Now()
	now := time.Now().UTC().Format("2006-01-02T15:04:05.000000000Z")
	mustExec(t, db, `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?2)
		INSERT INTO jobs (id, kind, status, created_at, finished_at)
		SELECT printf('00000000-0000-7000-8000-%012d', i), 'scan', 'completed', ?1, ?1 FROM n`, now, rows)
	mustExec(t, db, `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?2)
		INSERT INTO jobs (id, kind, status, created_at)
		SELECT printf('00000000-0000-7000-9000-%012d', i), 'not-a-kind-of-this-daemon', 'queued', ?1 FROM n`, now, rows)
	mustExec(t, db, "PRAGMA wal_checkpoint(TRUNCATE)")
	t.Logf("inserted %d finished and %d stuck queued jobs in %v", rows, rows, time.Since(began))
	_ = db.Close()

	again := start(t, startOpts{dir: d.dir, port: d.port, args: []string{"--config", filepath.Join(d.dir, "config.toml")}})
	again.waitHealthy()
	for i := 0; i < 20; i++ { // past the 250 ms cache, several fresh checks
		code, body, err := again.getJSON("/health")
		if err != nil || code != 200 || body["database"] != "connected" || body["jobs_queued"] != float64(rows) {
			t.Fatalf("/health = %d %v, %v with %d finished and %d queued jobs, want 200, connected, jobs_queued %d\n%s",
				code, body, err, rows, rows, rows, again.stderr.String())
		}
		if code, body, err := again.getJSON("/health/ready"); err != nil || code != 200 {
			t.Fatalf("/health/ready = %d %v, %v with %d finished and %d queued jobs\n%s",
				code, body, err, rows, rows, again.stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if lineWith(again.stderr.String(), "database check failed") || lineWith(again.stderr.String(), "jobs_queued not refreshed") {
		t.Fatalf("a health check failed with %d finished and %d queued jobs:\n%s", rows, rows, again.stderr.String())
	}
}

// TestRetentionDeletesOldFinishedJobs: finished jobs older than
// jobs.retention_days go, recent ones and running ones of any age stay.
func TestRetentionDeletesOldFinishedJobs(t *testing.T) {
	d := start(t, startOpts{wait: true, extra: "\n[jobs]\nretention_days = 30\n"})
	d.signal(syscall.SIGTERM)
	if code := d.wait(15 * time.Second); code != exitOK {
		t.Fatalf("exit %d", code)
	}
	path := filepath.Join(d.dir, "library.db")
	db := openLibrary(t, path)
	ts := func(age time.Duration) string {
		return time.Now().Add(-age).UTC().Format("2006-01-02T15:04:05.000000000Z")
	}
	old, recent := ts(40*24*time.Hour), ts(time.Hour)
	rows := []struct{ id, status, finished string }{
		{"00000000-0000-7000-8000-000000000001", "completed", old},
		{"00000000-0000-7000-8000-000000000002", "failed", old},
		{"00000000-0000-7000-8000-000000000003", "cancelled", old},
		{"00000000-0000-7000-8000-000000000004", "completed", recent},
	}
	for _, r := range rows {
		mustExec(t, db, `INSERT INTO jobs (id, kind, status, created_at, finished_at) VALUES (?, 'scan', ?, ?, ?)`,
			r.id, r.status, old, r.finished)
	}
	// Running for 40 days on another node, its lease still valid: kept.
	mustExec(t, db, `INSERT INTO jobs (id, kind, status, created_at, started_at, lease_owner, lease_expires_at, attempts)
		VALUES ('00000000-0000-7000-8000-000000000005', 'scan', 'running', ?, ?, 'other-node', ?, 1)`,
		old, old, time.Now().Add(time.Hour).UTC().Format("2006-01-02T15:04:05.000000000Z"))
	_ = db.Close()

	again := start(t, startOpts{dir: d.dir, port: d.port, args: []string{"--config", filepath.Join(d.dir, "config.toml")}, wait: true})
	again.waitLog(15*time.Second, "retention", "deleted 3 finished jobs older than 30 days")
	again.signal(syscall.SIGTERM)
	if code := again.wait(15 * time.Second); code != exitOK {
		t.Fatalf("exit %d", code)
	}
	got := jobIDs(libraryJobs(t, path))
	want := []string{"00000000-0000-7000-8000-000000000004=completed", "00000000-0000-7000-8000-000000000005=running"}
	if !slices.Equal(got, want) {
		t.Fatalf("jobs after retention: %v, want %v", got, want)
	}
}

// TestPortInUseCreatesNoDatabase: a start that fails on the port leaves no
// new database file (nor directory) behind.
func TestPortInUseCreatesNoDatabase(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	dir := t.TempDir()
	dbDir := filepath.Join(dir, "state")
	cfg := filepath.Join(dir, "config.toml")
	body := fmt.Sprintf("[server]\nport = %d\n[database]\npath = %q\n", port, filepath.Join(dbDir, "library.db"))
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	d := start(t, startOpts{dir: dir, port: port, args: []string{"--config", cfg}})
	if code := d.wait(10 * time.Second); code != exitBind {
		t.Fatalf("exit %d, want %d\n%s", code, exitBind, d.stderr.String())
	}
	if _, err := os.Stat(filepath.Join(dbDir, "library.db")); err == nil {
		t.Fatal("the failed start created library.db")
	}
	if _, err := os.Stat(dbDir); err == nil {
		t.Fatal("the failed start created the database directory")
	}
}

// TestDatabasePathWithDoubleSlash: "//dir/library.db" opens like any other
// absolute path.
func TestDatabasePathWithDoubleSlash(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	cfg := filepath.Join(dir, "config.toml")
	body := fmt.Sprintf("[server]\nport = %d\n[database]\npath = %q\n", port, "/"+filepath.Join(dir, "library.db"))
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	d := start(t, startOpts{dir: dir, port: port, args: []string{"--config", cfg}, wait: true})
	d.signal(syscall.SIGTERM)
	if code := d.wait(15 * time.Second); code != exitOK {
		t.Fatalf("exit %d", code)
	}
	libraryJobs(t, filepath.Join(dir, "library.db"))
}

// TestReadOnlyDatabaseFile: a database file the daemon may read but not
// write is a start-up failure naming the path and the reason, not a
// "ready" daemon that fails every write.
func TestReadOnlyDatabaseFile(t *testing.T) {
	base, bin, cred := unprivileged(t)
	dbDir := ownedDir(t, cred, filepath.Join(base, "db"))
	db := filepath.Join(dbDir, "library.db")
	port := freePort(t)
	cfg := plainConfig(t, filepath.Join(base, "cfg"), port, db)
	d := startAs(t, bin, cred, base, port, cfg)
	d.waitHealthy()
	d.signal(syscall.SIGTERM)
	if code := d.wait(15 * time.Second); code != exitOK {
		t.Fatalf("first run exit %d", code)
	}
	// Readable, not writable, for the daemon's user (root ignores modes,
	// so the file goes to root when the daemon runs as nobody).
	if cred != nil {
		chownTo(t, &syscall.Credential{}, db)
	}
	if err := os.Chmod(db, 0o444); err != nil {
		t.Fatal(err)
	}
	before := readFile(t, db)
	d = startAs(t, bin, cred, base, port, cfg)
	if code := d.wait(15 * time.Second); code != exitDatabase {
		t.Fatalf("read-only database file: exit %d, want %d\n%s", code, exitDatabase, d.stderr.String())
	}
	if out := d.stderr.String(); !containsAll(out, db, "permission denied") || lineWith(out, "vpo is ready") {
		t.Fatalf("stderr does not refuse naming the database and the reason:\n%s", out)
	}
	if !bytes.Equal(readFile(t, db), before) {
		t.Fatal("the refused start changed the database file")
	}
}
