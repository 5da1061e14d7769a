package integration_test

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// exitQuit is vpo's exit code after SIGQUIT.
const exitQuit = 131

// health returns the /health document, failing the test on error.
func (d *daemon) health() map[string]any {
	d.t.Helper()
	_, body, err := d.getJSON("/health")
	if err != nil {
		d.t.Fatalf("GET /health: %v\n%s", err, d.stderr.String())
	}
	return body
}

// rewriteConfig replaces the daemon's config file (as written by start)
// with one that has extra TOML.
func (d *daemon) rewriteConfig(extra string) {
	d.t.Helper()
	writeConfig(d.t, d.dir, d.port, extra)
}

// reloadAndWait sends SIGHUP and waits for the n-th line that ends a
// reload (applied, nothing to change, or failed).
func (d *daemon) reloadAndWait(n int) {
	d.t.Helper()
	d.signal(syscall.SIGHUP)
	deadline := time.Now().Add(10 * time.Second)
	for reloadsLogged(d.stderr.String()) < n {
		if time.Now().After(deadline) {
			d.t.Fatalf("reload %d not logged within 10s:\n%s", n, d.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func reloadsLogged(log string) int {
	return strings.Count(log, `msg="configuration reloaded`) + strings.Count(log, `msg="configuration reload failed`)
}

func TestReloadLogLevel(t *testing.T) {
	d := start(t, startOpts{wait: true})
	d.health()
	if strings.Contains(d.stderr.String(), "level=debug") {
		t.Fatalf("debug lines at level info:\n%s", d.stderr.String())
	}

	d.rewriteConfig("\n[logging]\nlevel = \"debug\"\n")
	d.reloadAndWait(1)
	d.waitLog(5*time.Second, "logging.level changed from info to debug")
	d.health()
	d.waitLog(5*time.Second, "level=debug", `msg="http request"`, "path=/health")
	body := d.health()
	if body["config_reload_count"] != float64(1) {
		t.Fatalf("config_reload_count = %v, want 1", body["config_reload_count"])
	}
	last, ok := body["last_config_reload"].(string)
	if !ok {
		t.Fatalf("last_config_reload = %#v, want a time", body["last_config_reload"])
	}
	if _, err := time.Parse(time.RFC3339, last); err != nil {
		t.Fatalf("last_config_reload %q is not RFC 3339: %v", last, err)
	}
	if body["config_reload_error"] != nil {
		t.Fatalf("config_reload_error = %#v, want null", body["config_reload_error"])
	}

	// The same file again: nothing changes, nothing counts.
	d.reloadAndWait(2)
	d.waitLog(5*time.Second, "configuration reloaded: nothing to change")
	if body := d.health(); body["config_reload_count"] != float64(1) || body["last_config_reload"] != last {
		t.Fatalf("after a reload without change: count %v last %v, want 1 and %s",
			body["config_reload_count"], body["last_config_reload"], last)
	}
	d.signal(syscall.SIGTERM)
	if code := d.wait(10 * time.Second); code != exitOK {
		t.Fatalf("exit %d, want 0", code)
	}
}

func TestReloadInvalidConfigChangesNothing(t *testing.T) {
	d := start(t, startOpts{wait: true, extra: "\n[jobs]\nworkers = 2\n"})
	d.rewriteConfig("\n[jobs]\nworkers = 5\n\n[logging]\nlevel = \"loud\"\n")
	where := filepath.Join(d.dir, "config.toml") + ":" + strconv.Itoa(lineOf(t, filepath.Join(d.dir, "config.toml"), "level"))
	d.reloadAndWait(1)
	d.waitLog(5*time.Second, "level=error", "configuration reload failed", where, "logging.level")
	body := d.health()
	msg, ok := body["config_reload_error"].(string)
	if !ok || !strings.Contains(msg, where) || !strings.Contains(msg, "logging.level") {
		t.Fatalf("config_reload_error = %#v, want file:line and key", body["config_reload_error"])
	}
	if body["config_reload_count"] != float64(0) || body["last_config_reload"] != nil {
		t.Fatalf("failed reload counted: %v", body)
	}
	if body["workers"] != float64(2) {
		t.Fatalf("workers = %v after a failed reload, want the old 2", body["workers"])
	}
	if body["status"] != "healthy" {
		t.Fatalf("status %v after a failed reload", body["status"])
	}
	// Fixed file: the reload succeeds and clears the error.
	d.rewriteConfig("\n[jobs]\nworkers = 5\n")
	d.reloadAndWait(2)
	body = d.health()
	if body["config_reload_error"] != nil || body["workers"] != float64(5) || body["config_reload_count"] != float64(1) {
		t.Fatalf("after a good reload: %v", body)
	}
	d.signal(syscall.SIGTERM)
	if code := d.wait(10 * time.Second); code != exitOK {
		t.Fatalf("exit %d, want 0", code)
	}
}

// TestReloadKeepsTheFileItStartedWith: a daemon that found its config by
// lookup (~/.vpo/config.toml) reads that file again on SIGHUP; when it has
// vanished, the reload fails and names it, instead of falling back to
// another file or to the defaults.
func TestReloadKeepsTheFileItStartedWith(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	home := filepath.Join(dir, ".vpo")
	if err := os.Mkdir(home, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(home, "config.toml")
	if err := os.Rename(writeConfig(t, dir, port, "\n[jobs]\nworkers = 5\n"), cfg); err != nil {
		t.Fatal(err)
	}
	d := start(t, startOpts{dir: dir, port: port, args: []string{}, wait: true})
	if err := os.Remove(cfg); err != nil {
		t.Fatal(err)
	}
	d.reloadAndWait(1)
	body := d.health()
	msg, _ := body["config_reload_error"].(string)
	if !strings.Contains(msg, cfg) || body["workers"] != float64(5) || body["config_reload_count"] != float64(0) {
		t.Fatalf("after the config file vanished: error %q, workers %v, count %v; want an error naming %s and the old 5 workers",
			msg, body["workers"], body["config_reload_count"], cfg)
	}
	d.signal(syscall.SIGTERM)
	if code := d.wait(10 * time.Second); code != exitOK {
		t.Fatalf("exit %d, want 0", code)
	}
}

// TestReloadOfAFIFOFailsAtOnce: a config path that became a FIFO fails the
// reload at once (naming the file); it neither blocks the daemon nor keeps
// SIGTERM from stopping it.
func TestReloadOfAFIFOFailsAtOnce(t *testing.T) {
	d := start(t, startOpts{wait: true})
	cfg := filepath.Join(d.dir, "config.toml")
	if err := os.Remove(cfg); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	d.reloadAndWait(1)
	if msg, _ := d.health()["config_reload_error"].(string); !strings.Contains(msg, cfg) || !strings.Contains(msg, "not a regular file") {
		t.Fatalf("config_reload_error = %q, want it to name %s as not a regular file", msg, cfg)
	}
	d.signal(syscall.SIGTERM)
	if code := d.wait(10 * time.Second); code != exitOK {
		t.Fatalf("exit %d, want 0", code)
	}
}

func TestReloadRestartOnlyKeyKept(t *testing.T) {
	d := start(t, startOpts{wait: true})
	other := freePort(t)
	body := "[server]\nport = " + strconv.Itoa(other) + "\n\n[database]\npath = " + strconv.Quote(filepath.Join(d.dir, "library.db")) + "\n"
	if err := os.WriteFile(filepath.Join(d.dir, "config.toml"), []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	d.reloadAndWait(1)
	d.waitLog(5*time.Second, "level=warning", "server.port changed from "+strconv.Itoa(d.port)+" to "+strconv.Itoa(other), "takes a restart", "keeping "+strconv.Itoa(d.port))
	if h := d.health(); h["status"] != "healthy" || h["config_reload_count"] != float64(0) {
		t.Fatalf("old port after reload: %v", h)
	}
	if c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(other), time.Second); err == nil {
		c.Close()
		t.Fatalf("vpo listens on the new port %d without a restart", other)
	}
	d.signal(syscall.SIGTERM)
	if code := d.wait(10 * time.Second); code != exitOK {
		t.Fatalf("exit %d, want 0", code)
	}
}

func TestReloadJobsSettings(t *testing.T) {
	d := start(t, startOpts{wait: true, extra: "\n[jobs]\nworkers = 2\n"})
	body := "[server]\nport = " + strconv.Itoa(d.port) + "\nshutdown_timeout = \"3s\"\n\n[database]\npath = " +
		strconv.Quote(filepath.Join(d.dir, "library.db")) + "\n\n[jobs]\nworkers = 7\nlease_duration = \"45s\"\n"
	if err := os.WriteFile(filepath.Join(d.dir, "config.toml"), []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	d.reloadAndWait(1)
	d.waitLog(5*time.Second, "jobs.workers changed from 2 to 7")
	d.waitLog(5*time.Second, "jobs.lease_duration changed from 30s to 45s")
	d.waitLog(5*time.Second, "server.shutdown_timeout changed from 30s to 3s")
	if h := d.health(); h["workers"] != float64(7) || h["config_reload_count"] != float64(1) {
		t.Fatalf("after reload: workers %v count %v, want 7 and 1", h["workers"], h["config_reload_count"])
	}
	d.signal(syscall.SIGTERM)
	if code := d.wait(10 * time.Second); code != exitOK {
		t.Fatalf("exit %d, want 0", code)
	}
}

func TestReloadBurst(t *testing.T) {
	d := start(t, startOpts{wait: true})
	d.rewriteConfig("\n[logging]\nlevel = \"warning\"\n")
	for range 20 {
		d.signal(syscall.SIGHUP)
	}
	// At least one reload ran after the last signal; later ones find
	// nothing to change.
	deadline := time.Now().Add(10 * time.Second)
	for {
		h := d.health()
		if h["config_reload_count"] == float64(1) {
			if h["status"] != "healthy" {
				t.Fatalf("status %v after the burst", h["status"])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("burst of SIGHUPs: /health %v", h)
		}
		time.Sleep(20 * time.Millisecond)
	}
	d.signal(syscall.SIGTERM)
	if code := d.wait(10 * time.Second); code != exitOK {
		t.Fatalf("exit %d after a burst of SIGHUPs, want 0:\n%s", code, d.stderr.String())
	}
}

func TestReloadNotifiesSystemd(t *testing.T) {
	dir := t.TempDir()
	sock, msgs := notifySocket(t, dir)
	d := start(t, startOpts{dir: dir, env: []string{"NOTIFY_SOCKET=" + sock}})
	waitMsg(t, msgs, "READY=1")
	d.signal(syscall.SIGHUP)
	reloading := waitMsg(t, msgs, "RELOADING=1")
	if !regexp.MustCompile(`(?m)^MONOTONIC_USEC=[0-9]+$`).MatchString(reloading) {
		t.Fatalf("RELOADING=1 without MONOTONIC_USEC: %q", reloading)
	}
	if !strings.Contains(reloading, "STATUS=reloading configuration") {
		t.Fatalf("RELOADING=1 status: %q", reloading)
	}
	ready := waitMsg(t, msgs, "READY=1")
	if !strings.Contains(ready, "STATUS=serving on") {
		t.Fatalf("READY=1 after reload: %q", ready)
	}
	// A failed reload still ends with READY=1 (systemd cannot fail a
	// reload), and the status line says it failed.
	d.rewriteConfig("\n[logging]\nlevel = \"loud\"\n")
	d.signal(syscall.SIGHUP)
	waitMsg(t, msgs, "RELOADING=1")
	if failed := waitMsg(t, msgs, "READY=1"); !strings.Contains(failed, "configuration reload failed") {
		t.Fatalf("READY=1 after a failed reload: %q", failed)
	}
	d.signal(syscall.SIGTERM)
	stopping := waitMsg(t, msgs, "STOPPING=1")
	if !strings.Contains(stopping, "STATUS=shutting down (SIGTERM)") {
		t.Fatalf("STOPPING=1 status: %q", stopping)
	}
	if code := d.wait(10 * time.Second); code != exitOK {
		t.Fatalf("exit %d", code)
	}
}

// TestSIGPIPEOnStderr: the reader of vpo's stderr goes away (journald
// restarts, `vpo serve 2>&1 | head`); vpo loses log lines, not its life.
func TestSIGPIPEOnStderr(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	cmd := exec.Command(vpoBinary, "serve", "--log-level", "debug", "--config", writeConfig(t, dir, port, ""))
	cmd.Env = baseEnv(dir)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	d := newDaemon(t, dir, port, cmd)
	d.cmd.Stderr = w
	d.launch()
	w.Close()
	if _, err := bufio.NewReader(r).ReadString('\n'); err != nil {
		t.Fatalf("first log line: %v", err)
	}
	r.Close()
	// Every request logs at debug level, into the broken pipe.
	d.waitHealthy()
	for range 5 {
		d.health()
	}
	d.signal(syscall.SIGHUP) // and a reload logs too
	if h := d.health(); h["status"] != "healthy" {
		t.Fatalf("/health after the log reader left: %v", h)
	}
	d.signal(syscall.SIGTERM)
	if code := d.wait(10 * time.Second); code != exitOK {
		t.Fatalf("exit %d after losing stderr, want 0 (-13: killed by SIGPIPE)", code)
	}
}

// TestSIGTERMDuringStartup: a SIGTERM that arrives while vpo is still
// starting (here: the moment it opens its config file, before the database
// and the port) is a graceful stop with exit 0, and it is logged.
func TestSIGTERMDuringStartup(t *testing.T) {
	for i := range 10 {
		dir := t.TempDir()
		port := freePort(t)
		cfg := writeConfig(t, dir, port, "")
		opened := watchOpen(t, cfg)
		cmd := exec.Command(vpoBinary, "serve", "--config", cfg)
		cmd.Env = baseEnv(dir)
		d := newDaemon(t, dir, port, cmd)
		d.launch()
		select {
		case <-opened:
		case <-time.After(10 * time.Second):
			t.Fatalf("run %d: vpo never opened %s", i, cfg)
		}
		d.signal(syscall.SIGTERM)
		if code := d.wait(15 * time.Second); code != exitOK {
			t.Fatalf("run %d: exit %d, want 0 (-15: killed by SIGTERM):\n%s", i, code, d.stderr.String())
		}
		out := d.stderr.String()
		if !strings.Contains(out, "received SIGTERM, shutting down gracefully") {
			t.Fatalf("run %d: the signal was not logged:\n%s", i, out)
		}
		// Never ready (nor READY=1) once the shutdown began.
		if s, r := strings.Index(out, "shutdown started"), strings.Index(out, "vpo is ready"); r > s {
			t.Fatalf("run %d: ready after the shutdown started:\n%s", i, out)
		}
	}
}

// watchOpen returns a channel that is closed when path is first opened.
func watchOpen(t *testing.T, path string) <-chan struct{} {
	t.Helper()
	fd, err := syscall.InotifyInit1(syscall.IN_CLOEXEC)
	if err != nil {
		t.Fatalf("inotify: %v", err)
	}
	if _, err := syscall.InotifyAddWatch(fd, path, syscall.IN_OPEN); err != nil {
		syscall.Close(fd)
		t.Fatalf("inotify watch %s: %v", path, err)
	}
	opened := make(chan struct{})
	go func() {
		defer syscall.Close(fd)
		buf := make([]byte, 4096)
		if _, err := syscall.Read(fd, buf); err == nil {
			close(opened)
		}
	}()
	return opened
}

func TestExtraSignalsDuringShutdownLogged(t *testing.T) {
	d := start(t, startOpts{extra: testKinds, wait: true})
	j := d.submit("test.sleep", `{"seconds": 2}`)
	d.waitJob(j.ID, "running", 10*time.Second)
	d.signal(syscall.SIGTERM)
	d.waitLog(5*time.Second, "shutdown started")
	d.signal(syscall.SIGINT)
	d.waitLog(5*time.Second, "level=warning", "received SIGINT again; shutdown already in progress")
	d.signal(syscall.SIGTERM)
	d.waitLog(5*time.Second, "level=warning", "received SIGTERM again; shutdown already in progress")
	if code := d.wait(15 * time.Second); code != exitOK {
		t.Fatalf("exit %d, want 0", code)
	}
	if n := strings.Count(d.stderr.String(), "shutdown started"); n != 1 {
		t.Fatalf("%d shutdowns, want 1:\n%s", n, d.stderr.String())
	}
}

func TestSIGQUITDumpsGoroutines(t *testing.T) {
	d := start(t, startOpts{wait: true})
	d.signal(syscall.SIGQUIT)
	if code := d.wait(10 * time.Second); code != exitQuit {
		t.Fatalf("exit %d after SIGQUIT, want %d", code, exitQuit)
	}
	out := d.stderr.String()
	for _, want := range []string{"received SIGQUIT", "goroutine 1 [", "main.main"} {
		if !strings.Contains(out, want) {
			t.Fatalf("stderr after SIGQUIT lacks %q:\n%s", want, out)
		}
	}
}

// lineOf returns the number of the first line of path that starts with
// prefix.
func lineOf(t *testing.T, path, prefix string) int {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, prefix) {
			return i + 1
		}
	}
	t.Fatalf("no line starting with %q in %s", prefix, path)
	return 0
}

// TestReloadFlagsKeepWinning: a flag given at start beats the file on a
// reload as it did at start.
func TestReloadFlagsKeepWinning(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	cfg := writeConfig(t, dir, port, "")
	d := start(t, startOpts{dir: dir, port: port, args: []string{"--config", cfg, "--log-level", "info"}, wait: true})
	d.rewriteConfig("\n[logging]\nlevel = \"debug\"\n")
	d.reloadAndWait(1)
	d.waitLog(5*time.Second, "configuration reloaded: nothing to change")
	d.health()
	if h := d.health(); h["config_reload_count"] != float64(0) {
		t.Fatalf("config_reload_count = %v, want 0", h["config_reload_count"])
	}
	if strings.Contains(d.stderr.String(), "level=debug") {
		t.Fatalf("the file's level beat --log-level on reload:\n%s", d.stderr.String())
	}
	d.signal(syscall.SIGTERM)
	if code := d.wait(10 * time.Second); code != exitOK {
		t.Fatalf("exit %d, want 0", code)
	}
}
