package integration_test

import (
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "modernc.org/sqlite" // direct reads of the library database
)

// The SIGKILL chaos loop runs chaosDefaultIterations times unless
// -chaos.iterations or $VPO_CHAOS_ITERATIONS asks for more (or fewer).
const chaosDefaultIterations = 20

var chaosIterations = flag.Int("chaos.iterations", 0,
	"iterations of TestSIGKILLChaos (default 20; also $VPO_CHAOS_ITERATIONS)")

func chaosRounds(t *testing.T) int {
	if *chaosIterations > 0 {
		return *chaosIterations
	}
	if s := os.Getenv("VPO_CHAOS_ITERATIONS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("VPO_CHAOS_ITERATIONS=%q: want a positive integer", s)
		}
		return n
	}
	return chaosDefaultIterations
}

// call sends one request; token "" sends no Authorization header. It fails
// the test only when the daemon cannot be reached.
func (d *daemon) call(method, path, body, token string) (int, http.Header, []byte) {
	d.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, d.url(path), rd)
	if err != nil {
		d.t.Fatal(err)
	}
	if method != http.MethodGet && method != http.MethodHead {
		// As the vpo client does: the daemon refuses state changes
		// without it, with or without a body.
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		d.t.Fatalf("%s %s: %v\n%s", method, path, err, d.stderr.String())
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// jobRow is a job as stored in the library database.
type jobRow struct {
	id, status string
	attempts   int
}

// libraryJobs reads every job straight from a database file (vpo must not
// be running) and checks PRAGMA integrity_check on the way.
func libraryJobs(t *testing.T, path string) []jobRow {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var ok string
	if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&ok); err != nil || ok != "ok" {
		t.Fatalf("PRAGMA integrity_check on %s = %q, %v", path, ok, err)
	}
	rows, err := db.Query(`SELECT id, status, attempts FROM jobs ORDER BY id`)
	if err != nil {
		t.Fatalf("read jobs from %s: %v", path, err)
	}
	defer rows.Close()
	var out []jobRow
	for rows.Next() {
		var r jobRow
		if err := rows.Scan(&r.id, &r.status, &r.attempts); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// healthStatus returns /health's code and "status" field.
func (d *daemon) healthStatus() (int, string) {
	d.t.Helper()
	code, body, err := d.getJSON("/health")
	if err != nil {
		d.t.Fatalf("/health: %v", err)
	}
	s, _ := body["status"].(string)
	return code, s
}

// waitHealth polls /health until it answers code with status, or fails.
func (d *daemon) waitHealth(code int, status string) {
	d.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, s := d.healthStatus()
		if c == code && s == status {
			return
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("/health = %d %q after 20s, want %d %q\n%s", c, s, code, status, d.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSIGKILLChaos submits jobs while the daemon is SIGKILLed at random
// points (during start-up, between and during jobs) and restarted on the
// same database. In the end every accepted job is completed exactly once in
// the final state, nothing is left queued or running, and the database
// passes integrity_check.
func TestSIGKILLChaos(t *testing.T) {
	rounds := chaosRounds(t)
	seed := uint64(time.Now().UnixNano())
	t.Logf("chaos: %d rounds, seed %d", rounds, seed)
	rng := rand.New(rand.NewPCG(seed, 0x5eed))

	dir := t.TempDir()
	port := freePort(t)
	cfg := writeConfig(t, dir, port, "\n[jobs]\ntest_kinds = true\nworkers = 2\nlease_duration = \"1s\"\n")
	args := []string{"--config", cfg}

	var mu sync.Mutex
	accepted := map[string]bool{}
	submit := func(seconds float64) {
		body := fmt.Sprintf(`{"kind":"test.sleep","payload":{"seconds":%.3f},"max_attempts":100}`, seconds)
		resp, err := client.Post("http://127.0.0.1:"+strconv.Itoa(port)+"/api/jobs", "application/json", strings.NewReader(body))
		if err != nil {
			return // daemon down or killed mid-request: the job may or may not exist
		}
		defer resp.Body.Close()
		var j struct {
			ID string `json:"id"`
		}
		if resp.StatusCode == http.StatusCreated && json.NewDecoder(resp.Body).Decode(&j) == nil {
			mu.Lock()
			accepted[j.ID] = true
			mu.Unlock()
		}
	}

	for i := 0; i < rounds; i++ {
		killAfter := time.Duration(rng.IntN(700)) * time.Millisecond
		pause := time.Duration(5+rng.IntN(30)) * time.Millisecond
		lengths := []float64{0, rng.Float64() * 0.05, rng.Float64() * 0.3}
		d := start(t, startOpts{dir: dir, port: port, args: args})
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				case <-time.After(pause):
				}
				submit(lengths[n%len(lengths)])
			}
		}()
		time.Sleep(killAfter)
		_ = d.cmd.Process.Signal(syscall.SIGKILL)
		if code := d.wait(10 * time.Second); code != -int(syscall.SIGKILL) && code != exitOK {
			// exitOK cannot happen without a signal; anything else means
			// vpo failed on its own before the kill.
			t.Fatalf("round %d: vpo exited with %d before SIGKILL:\n%s", i, code, d.stderr.String())
		}
		close(stop)
		wg.Wait()
	}
	if len(accepted) == 0 {
		t.Fatal("no job was accepted in any round")
	}

	// Final run: everything drains (expired leases are recovered after 1s).
	d := start(t, startOpts{dir: dir, port: port, args: args, wait: true})
	deadline := time.Now().Add(90 * time.Second)
	for {
		_, body, err := d.getJSON("/health")
		if err != nil {
			t.Fatal(err)
		}
		q, _ := body["jobs_queued"].(float64)
		r, _ := body["jobs_running"].(float64)
		if q == 0 && r == 0 {
			code, _, b := d.call("GET", "/api/jobs?status=queued&limit=1", "", "")
			code2, _, b2 := d.call("GET", "/api/jobs?status=running&limit=1", "", "")
			if code == 200 && code2 == 200 && strings.Contains(string(b), `"jobs":[]`) && strings.Contains(string(b2), `"jobs":[]`) {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("jobs still queued/running after 90s: %v", body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	d.signal(syscall.SIGTERM)
	if code := d.wait(30 * time.Second); code != exitOK {
		t.Fatalf("final stop: exit %d\n%s", code, d.stderr.String())
	}

	rows := libraryJobs(t, filepath.Join(dir, "library.db"))
	seen := map[string]int{}
	for _, r := range rows {
		seen[r.id]++
		if r.status != "completed" {
			t.Errorf("job %s is %q (attempts %d), want completed", r.id, r.status, r.attempts)
		}
	}
	for id := range accepted {
		if seen[id] != 1 {
			t.Errorf("accepted job %s appears %d times in the final state, want 1", id, seen[id])
		}
	}
	t.Logf("chaos: %d rounds, %d jobs accepted, %d in the database, all completed", rounds, len(accepted), len(rows))
}

// TestSecondServeSameDatabaseAndPort: a second daemon on the same database
// and port exits with the bind error and leaves the first one untouched.
func TestSecondServeSameDatabaseAndPort(t *testing.T) {
	first := start(t, startOpts{wait: true, env: []string{"VPO_JOBS_TEST_KINDS=true"}})
	args := []string{"--config", filepath.Join(first.dir, "config.toml")}
	second := start(t, startOpts{dir: first.dir, port: first.port, args: args})
	if code := second.wait(15 * time.Second); code != exitBind {
		t.Fatalf("second vpo serve: exit %d, want %d\n%s", code, exitBind, second.stderr.String())
	}
	if out := second.stderr.String(); !containsAll(out, "address already in use", strconv.Itoa(first.port), "another vpo") {
		t.Fatalf("second vpo serve does not explain the conflict:\n%s", out)
	}
	if code, status := first.healthStatus(); code != 200 || status != "healthy" {
		t.Fatalf("first daemon after the second one failed: /health %d %q", code, status)
	}
	code, _, body := first.call("POST", "/api/jobs", `{"kind":"test.sleep","payload":{"seconds":0}}`, "")
	if code != http.StatusCreated {
		t.Fatalf("submit to first daemon: %d %s", code, body)
	}
	first.signal(syscall.SIGTERM)
	if code := first.wait(15 * time.Second); code != exitOK {
		t.Fatalf("first daemon exit %d", code)
	}
	if rows := libraryJobs(t, filepath.Join(first.dir, "library.db")); len(rows) != 1 {
		t.Fatalf("%d jobs in the database, want 1", len(rows))
	}
}

// TestDatabaseMovedWhileRunning: the database file disappears from its path
// while vpo runs (moved away or deleted). Documented policy: /health and
// /health/ready answer 503 degraded, liveness stays 200, vpo keeps running
// and recovers by itself when the file is back; it still stops cleanly and
// the database is never corrupted.
func TestDatabaseMovedWhileRunning(t *testing.T) {
	d := start(t, startOpts{wait: true, env: []string{"VPO_JOBS_TEST_KINDS=true"}})
	db := filepath.Join(d.dir, "library.db")
	for i := 0; i < 3; i++ {
		if code, _, b := d.call("POST", "/api/jobs", `{"kind":"test.sleep","payload":{"seconds":0}}`, ""); code != 201 {
			t.Fatalf("submit: %d %s", code, b)
		}
	}
	if err := os.Rename(db, db+".away"); err != nil {
		t.Fatal(err)
	}
	d.waitHealth(503, "degraded")
	expectProbe(t, d, "/health/live", 200, "alive")
	expectProbe(t, d, "/health/ready", 503, "database_disconnected")
	if _, body, _ := d.getJSON("/health"); body["database"] != "disconnected" {
		t.Fatalf("/health database = %v, want disconnected", body["database"])
	}
	if err := os.Rename(db+".away", db); err != nil {
		t.Fatal(err)
	}
	d.waitHealth(200, "healthy")
	// stderr reaches the test through a pipe: wait for the lines.
	d.waitLog(10*time.Second, "database check failed", db)
	d.waitLog(10*time.Second, "database check passes again")
	d.signal(syscall.SIGTERM)
	if code := d.wait(15 * time.Second); code != exitOK {
		t.Fatalf("exit %d after recovery", code)
	}
	if rows := libraryJobs(t, db); len(rows) != 3 {
		t.Fatalf("%d jobs after the fault, want 3", len(rows))
	}
}

// TestDatabaseDeletedWhileRunning: same policy when the file is deleted.
// What was written to the deleted file is gone with it; the restart (after
// a clean stop or a crash) starts a new, sound library and never replays
// the old write-ahead log into it.
func TestDatabaseDeletedWhileRunning(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			d := start(t, startOpts{wait: true, env: []string{"VPO_JOBS_TEST_KINDS=true"}})
			db := filepath.Join(d.dir, "library.db")
			for i := 0; i < 5; i++ {
				d.call("POST", "/api/jobs", `{"kind":"test.sleep","payload":{"seconds":0}}`, "")
			}
			if err := os.Remove(db); err != nil {
				t.Fatal(err)
			}
			d.waitHealth(503, "degraded")
			expectProbe(t, d, "/health/live", 200, "alive")
			for i := 0; i < 5; i++ { // writes go to the deleted file
				d.call("POST", "/api/jobs", `{"kind":"test.sleep","payload":{"seconds":0}}`, "")
			}
			time.Sleep(300 * time.Millisecond)
			select {
			case <-d.done:
				t.Fatalf("vpo exited (%d) after the database was deleted; the policy is to keep running degraded", d.code)
			default:
			}
			d.waitHealth(503, "degraded")
			d.signal(sig)
			want := exitOK
			if sig == syscall.SIGKILL {
				want = -int(syscall.SIGKILL)
			}
			if code := d.wait(15 * time.Second); code != want {
				t.Fatalf("exit %d after the database was deleted, want %d", code, want)
			}
			again := start(t, startOpts{dir: d.dir, port: d.port, args: []string{"--config", filepath.Join(d.dir, "config.toml")}, wait: true})
			if code, _, b := again.call("GET", "/api/jobs", "", ""); code != 200 || !strings.Contains(string(b), `"jobs":[]`) {
				t.Fatalf("restart after deletion: /api/jobs = %d %s, want a new empty library", code, b)
			}
			again.signal(syscall.SIGTERM)
			if code := again.wait(15 * time.Second); code != exitOK {
				t.Fatalf("restart exit %d", code)
			}
			libraryJobs(t, db)
		})
	}
}

func expectProbe(t *testing.T, d *daemon, path string, code int, word string) {
	t.Helper()
	c, _, b := d.call("GET", path, "", "")
	if c != code || !strings.Contains(string(b), word) {
		t.Fatalf("GET %s = %d %s, want %d with %q", path, c, b, code, word)
	}
}

// unprivileged prepares to run vpo as an ordinary user, so that file modes
// matter (root ignores them): it returns a directory that user may enter,
// a copy of the binary in it and the credential to run with. When the
// tests do not run as root, they run vpo as themselves.
func unprivileged(t *testing.T) (dir, bin string, cred *syscall.Credential) {
	t.Helper()
	base, err := os.MkdirTemp("/tmp", "vpo-unpriv-")
	if err != nil {
		base, err = os.MkdirTemp("", "vpo-unpriv-")
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { _ = os.RemoveAll(base) })
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	bin = filepath.Join(base, "vpo")
	data, err := os.ReadFile(vpoBinary)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() != 0 {
		return base, bin, nil
	}
	cred = &syscall.Credential{Uid: 65534, Gid: 65534} // nobody/nogroup
	probe := exec.Command(bin, "version")
	probe.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := probe.CombinedOutput(); err != nil {
		t.Skipf("cannot run vpo as uid 65534 here (%v: %s); file-mode faults need a non-root daemon", err, out)
	}
	return base, bin, cred
}

// startAs boots `vpo serve` from bin with cred, like start.
func startAs(t *testing.T, bin string, cred *syscall.Credential, dir string, port int, cfg string) *daemon {
	t.Helper()
	d := newDaemon(t, dir, port, exec.Command(bin, "serve", "--config", cfg))
	d.cmd.Env = baseEnv(dir)
	if cred != nil {
		d.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	d.launch()
	return d
}

// chownTo hands path to cred's user (no-op when not running as root).
// ownedDir creates dir (mode 0755) owned by the user of cred.
func ownedDir(t *testing.T, cred *syscall.Credential, dir string) string {
	t.Helper()
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	chownTo(t, cred, dir)
	return dir
}

func chownTo(t *testing.T, cred *syscall.Credential, path string) {
	t.Helper()
	if cred == nil {
		return
	}
	if err := os.Chown(path, int(cred.Uid), int(cred.Gid)); err != nil {
		t.Fatal(err)
	}
}

// plainConfig writes a world-readable config for an unprivileged daemon.
func plainConfig(t *testing.T, dir string, port int, db string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "config.toml")
	body := fmt.Sprintf("[server]\nport = %d\n[database]\npath = %q\n", port, db)
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestReadOnlyDatabaseDirectory: vpo cannot create or open its database in
// a directory it may not write: exit 4 naming the path and the reason.
func TestReadOnlyDatabaseDirectory(t *testing.T) {
	base, bin, cred := unprivileged(t)
	t.Run("new database", func(t *testing.T) {
		dbDir := filepath.Join(base, "ro-new")
		if err := os.Mkdir(dbDir, 0o555); err != nil {
			t.Fatal(err)
		}
		defer os.Chmod(dbDir, 0o755)
		db := filepath.Join(dbDir, "library.db")
		port := freePort(t)
		d := startAs(t, bin, cred, base, port, plainConfig(t, dbDir+"-cfg", port, db))
		if code := d.wait(15 * time.Second); code != exitDatabase {
			t.Fatalf("exit %d, want %d\n%s", code, exitDatabase, d.stderr.String())
		}
		if out := d.stderr.String(); !containsAll(out, db, "permission denied") {
			t.Fatalf("stderr does not name the database and the reason:\n%s", out)
		}
	})
	t.Run("existing database", func(t *testing.T) {
		dbDir := filepath.Join(base, "ro-existing")
		if err := os.Mkdir(dbDir, 0o755); err != nil {
			t.Fatal(err)
		}
		chownTo(t, cred, dbDir)
		db := filepath.Join(dbDir, "library.db")
		port := freePort(t)
		cfg := plainConfig(t, dbDir+"-cfg", port, db)
		d := startAs(t, bin, cred, base, port, cfg)
		d.waitHealthy()
		d.signal(syscall.SIGTERM)
		if code := d.wait(15 * time.Second); code != exitOK {
			t.Fatalf("first run exit %d", code)
		}
		if cred != nil {
			chownTo(t, &syscall.Credential{}, dbDir) // back to root
		}
		// The database file stays writable; the directory (where SQLite
		// must create library.db-wal) does not.
		if err := os.Chmod(dbDir, 0o555); err != nil {
			t.Fatal(err)
		}
		defer os.Chmod(dbDir, 0o755)
		d = startAs(t, bin, cred, base, port, cfg)
		if code := d.wait(15 * time.Second); code != exitDatabase {
			t.Fatalf("exit %d, want %d\n%s", code, exitDatabase, d.stderr.String())
		}
		if out := d.stderr.String(); !strings.Contains(out, db) {
			t.Fatalf("stderr does not name the database:\n%s", out)
		}
		if err := os.Chmod(dbDir, 0o755); err != nil {
			t.Fatal(err)
		}
		libraryJobs(t, db)
	})
}

// TestDatabaseUnreadableWhileRunning: the database file loses its
// permissions while vpo runs: degraded, still running, healthy again once
// the mode is restored; never corrupted.
func TestDatabaseUnreadableWhileRunning(t *testing.T) {
	base, bin, cred := unprivileged(t)
	dbDir := ownedDir(t, cred, filepath.Join(base, "db"))
	db := filepath.Join(dbDir, "library.db")
	port := freePort(t)
	d := startAs(t, bin, cred, base, port, plainConfig(t, filepath.Join(base, "cfg"), port, db))
	d.waitHealthy()
	if err := os.Chmod(db, 0); err != nil {
		t.Fatal(err)
	}
	d.waitHealth(503, "degraded")
	expectProbe(t, d, "/health/live", 200, "alive")
	expectProbe(t, d, "/health/ready", 503, "database_disconnected")
	if err := os.Chmod(db, 0o600); err != nil {
		t.Fatal(err)
	}
	d.waitHealth(200, "healthy")
	d.signal(syscall.SIGTERM)
	if code := d.wait(15 * time.Second); code != exitOK {
		t.Fatalf("exit %d", code)
	}
	libraryJobs(t, db)
}
