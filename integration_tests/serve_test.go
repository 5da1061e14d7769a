package integration_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Exit codes documented in `vpo --help` and the README.
const (
	exitOK       = 0
	exitUsage    = 2
	exitConfig   = 3
	exitDatabase = 4
	exitBind     = 5
)

func TestServeAnswersHealth(t *testing.T) {
	d := start(t, startOpts{wait: true})
	code, body, err := d.getJSON("/health")
	if err != nil {
		t.Fatal(err)
	}
	if code != 200 {
		t.Fatalf("/health = %d, want 200", code)
	}
	for key, kind := range map[string]string{
		"status": "string", "database": "string", "uptime_seconds": "number",
		"version": "string", "shutting_down": "bool",
	} {
		v, ok := body[key]
		if !ok {
			t.Fatalf("/health lacks %q: %v", key, body)
		}
		if got := jsonKind(v); got != kind {
			t.Fatalf("/health %q is %s, want %s", key, got, kind)
		}
	}
	if body["status"] != "healthy" || body["database"] != "connected" || body["shutting_down"] != false {
		t.Fatalf("/health = %v", body)
	}
	for path, want := range map[string]int{"/health/live": 200, "/health/ready": 200, "/nope": 404} {
		if code, _, err := d.getJSON(path); err != nil || code != want {
			t.Fatalf("GET %s = %d (%v), want %d", path, code, err, want)
		}
	}
	resp, err := client.Post(d.url("/health"), "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 405 {
		t.Fatalf("POST /health = %d, want 405", resp.StatusCode)
	}
}

func jsonKind(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "bool"
	}
	return fmt.Sprintf("%T", v)
}

func TestSignalStopsCleanly(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			d := start(t, startOpts{wait: true})
			d.signal(sig)
			if code := d.wait(10 * time.Second); code != exitOK {
				t.Fatalf("exit code %d, want 0:\n%s", code, d.stderr.String())
			}
			if _, err := client.Get(d.url("/health")); err == nil {
				t.Fatal("/health still answers after exit")
			}
			if !strings.Contains(d.stderr.String(), "stopped cleanly") {
				t.Fatalf("no clean-stop line in:\n%s", d.stderr.String())
			}
		})
	}
}

func TestThreeSignalsOneShutdown(t *testing.T) {
	d := start(t, startOpts{wait: true})
	for i := 0; i < 3; i++ {
		d.signal(syscall.SIGTERM)
	}
	if code := d.wait(10 * time.Second); code != exitOK {
		t.Fatalf("exit code %d, want 0:\n%s", code, d.stderr.String())
	}
	out := d.stderr.String()
	if n := strings.Count(out, "shutdown started"); n != 1 {
		t.Fatalf("%d shutdowns started, want 1:\n%s", n, out)
	}
	if n := strings.Count(out, "stopped cleanly"); n != 1 {
		t.Fatalf("%d clean stops, want 1:\n%s", n, out)
	}
}

func TestPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	d := start(t, startOpts{port: port})
	if code := d.wait(10 * time.Second); code != exitBind {
		t.Fatalf("exit code %d, want %d", code, exitBind)
	}
	if out := d.stderr.String(); !containsAll(out, "address already in use", fmt.Sprint(port)) {
		t.Fatalf("stderr does not explain the bind failure:\n%s", out)
	}
}

func TestMalformedConfig(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "broken.toml")
	if err := os.WriteFile(path, []byte("[server]\nport = 8321\nbind = \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d := start(t, startOpts{dir: dir, args: []string{"--config", path}})
	if code := d.wait(10 * time.Second); code != exitConfig {
		t.Fatalf("serve exit code %d, want %d", code, exitConfig)
	}
	if out := d.stderr.String(); !containsAll(out, path, ":3") {
		t.Fatalf("serve stderr does not name file and line:\n%s", out)
	}
	code, _, stderr := run(t, baseEnv(dir), "config", "check", "--config", path)
	if code != exitConfig || !containsAll(stderr, path, ":3") {
		t.Fatalf("config check = %d, stderr %q; want %d naming %s:3", code, stderr, exitConfig, path)
	}
	if n := len(strings.Split(strings.TrimSpace(stderr), "\n")); n != 1 {
		t.Fatalf("config check printed %d lines, want one clear line:\n%s", n, stderr)
	}
}

func TestConfigCheckValid(t *testing.T) {
	dir := t.TempDir()
	path := writeConfig(t, dir, 9999, "")
	code, out, stderr := run(t, baseEnv(dir), "config", "check", "--config", path)
	if code != exitOK || !strings.Contains(out, "OK") {
		t.Fatalf("config check = %d, %q %q", code, out, stderr)
	}
	// The sample the packages install is valid and yields the defaults.
	code, sample, _ := run(t, baseEnv(dir), "config", "sample")
	if code != exitOK {
		t.Fatalf("config sample = %d", code)
	}
	sp := filepath.Join(dir, "sample.toml")
	if err := os.WriteFile(sp, []byte(sample), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := run(t, baseEnv(dir), "config", "check", "--config", sp); code != exitOK {
		t.Fatalf("sample does not pass config check: %s", stderr)
	}
}

func TestUnwritableDatabasePath(t *testing.T) {
	dir := t.TempDir()
	// A regular file where the database directory should be: fails even as root.
	blocker := filepath.Join(dir, "not-a-dir")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	dbPath := filepath.Join(blocker, "library.db")
	port := freePort(t)
	cfg := filepath.Join(dir, "c.toml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("[server]\nport = %d\n[database]\npath = %q\n", port, dbPath)), 0o600); err != nil {
		t.Fatal(err)
	}
	d := start(t, startOpts{dir: dir, port: port, args: []string{"--config", cfg}})
	if code := d.wait(10 * time.Second); code != exitDatabase {
		t.Fatalf("exit code %d, want %d", code, exitDatabase)
	}
	if out := d.stderr.String(); !strings.Contains(out, dbPath) {
		t.Fatalf("stderr does not name the database path:\n%s", out)
	}
}

func TestPrecedence(t *testing.T) {
	t.Run("flag beats file", func(t *testing.T) {
		dir := t.TempDir()
		filePort, flagPort := freePort(t), freePort(t)
		cfg := writeConfig(t, dir, filePort, "")
		d := start(t, startOpts{dir: dir, port: flagPort, args: []string{"--config", cfg, "--port", fmt.Sprint(flagPort)}, wait: true})
		d.signal(syscall.SIGTERM)
		d.wait(10 * time.Second)
	})
	t.Run("file beats env", func(t *testing.T) {
		dir := t.TempDir()
		filePort, envPort := freePort(t), freePort(t)
		cfg := writeConfig(t, dir, filePort, "")
		d := start(t, startOpts{dir: dir, port: filePort, args: []string{"--config", cfg},
			env: []string{fmt.Sprintf("VPO_SERVER_PORT=%d", envPort)}, wait: true})
		d.signal(syscall.SIGTERM)
		d.wait(10 * time.Second)
	})
	t.Run("env beats default", func(t *testing.T) {
		dir := t.TempDir()
		envPort := freePort(t)
		d := start(t, startOpts{dir: dir, port: envPort, args: []string{},
			env: []string{fmt.Sprintf("VPO_SERVER_PORT=%d", envPort), "VPO_DATABASE_PATH=" + filepath.Join(dir, "x.db")}, wait: true})
		d.signal(syscall.SIGTERM)
		d.wait(10 * time.Second)
	})
	t.Run("config show names sources", func(t *testing.T) {
		dir := t.TempDir()
		cfg := writeConfig(t, dir, 9100, "[logging]\nlevel = \"debug\"\n")
		code, out, stderr := run(t, baseEnv(dir, "VPO_LOG_FORMAT=json", "VPO_SERVER_PORT=9200"),
			"config", "show", "--config", cfg, "--bind", "127.0.0.2")
		if code != exitOK {
			t.Fatalf("config show = %d: %s", code, stderr)
		}
		for _, want := range [][]string{
			{"bind", "127.0.0.2", "flag"}, {"port", "9100", "file"}, {"level", "debug", "file"},
			{"format", "json", "env"}, {"shutdown_timeout", "30s", "default"},
		} {
			if !lineWith(out, want...) {
				t.Fatalf("config show has no line with %q:\n%s", want, out)
			}
		}
	})
}

func lineWith(text string, parts ...string) bool {
	for _, l := range strings.Split(text, "\n") {
		if containsAll(l, parts...) {
			return true
		}
	}
	return false
}

func TestJSONLogs(t *testing.T) {
	d := start(t, startOpts{args: nil, extra: "", wait: false, env: []string{"VPO_LOG_FORMAT=json"}})
	d.waitHealthy()
	d.signal(syscall.SIGTERM)
	if code := d.wait(10 * time.Second); code != exitOK {
		t.Fatalf("exit %d", code)
	}
	sc := bufio.NewScanner(strings.NewReader(d.stderr.String()))
	lines := 0
	for sc.Scan() {
		lines++
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %d is not JSON: %q", lines, sc.Text())
		}
		for _, k := range []string{"timestamp", "level", "logger", "message"} {
			if _, ok := m[k]; !ok {
				t.Fatalf("line %d lacks %q: %q", lines, k, sc.Text())
			}
		}
	}
	if lines < 3 {
		t.Fatalf("only %d log lines:\n%s", lines, d.stderr.String())
	}
}

func TestLogFormatFlag(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	cfg := writeConfig(t, dir, port, "[logging]\nformat = \"text\"\n")
	d := start(t, startOpts{dir: dir, port: port, args: []string{"--config", cfg, "--log-format", "json"}, wait: true})
	d.signal(syscall.SIGTERM)
	d.wait(10 * time.Second)
	first := strings.SplitN(d.stderr.String(), "\n", 2)[0]
	var m map[string]any
	if err := json.Unmarshal([]byte(first), &m); err != nil {
		t.Fatalf("--log-format json did not override the file: %q", first)
	}
}

func TestNotifySocket(t *testing.T) {
	dir := t.TempDir()
	sock, msgs := notifySocket(t, dir)
	d := start(t, startOpts{dir: dir, env: []string{"NOTIFY_SOCKET=" + sock}})
	ready := waitMsg(t, msgs, "READY=1")
	// READY comes only after the port is bound: /health must answer now.
	if code, body, err := d.getJSON("/health"); err != nil || code != 200 {
		t.Fatalf("after READY=1 /health = %d %v %v", code, body, err)
	}
	if !strings.Contains(ready, "STATUS=") {
		t.Fatalf("READY message without STATUS: %q", ready)
	}
	d.signal(syscall.SIGTERM)
	waitMsg(t, msgs, "STOPPING=1")
	if code := d.wait(10 * time.Second); code != exitOK {
		t.Fatalf("exit %d", code)
	}
}

// notifySocket listens on a unixgram socket in dir, as systemd's
// NOTIFY_SOCKET does, and delivers each message on the channel; the socket
// closes when the test ends.
func notifySocket(t *testing.T, dir string) (string, <-chan string) {
	t.Helper()
	sock := filepath.Join(dir, "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	msgs := make(chan string, 64)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				close(msgs)
				return
			}
			msgs <- string(buf[:n])
		}
	}()
	return sock, msgs
}

func waitMsg(t *testing.T, msgs <-chan string, want string) string {
	t.Helper()
	timeout := time.After(15 * time.Second)
	for {
		select {
		case m, ok := <-msgs:
			if !ok {
				t.Fatalf("notify socket closed before %q", want)
			}
			if strings.Contains(m, want) {
				return m
			}
		case <-timeout:
			t.Fatalf("no %q on the notify socket", want)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{{"serve", "--no-such-flag"}, {"frobnicate"}} {
		code, _, stderr := run(t, baseEnv(dir), args...)
		if code != exitUsage || !strings.Contains(stderr, "error") {
			t.Fatalf("vpo %v = %d, %q; want %d", args, code, stderr, exitUsage)
		}
	}
	code, out, _ := run(t, baseEnv(dir), "--help")
	if code != exitOK || !containsAll(out, "Exit codes", "VPO_SERVER_PORT", "Precedence") {
		t.Fatalf("--help = %d, does not document exit codes/env/precedence:\n%s", code, out)
	}
}

func TestVersion(t *testing.T) {
	code, out, _ := run(t, baseEnv(t.TempDir()), "version")
	if code != exitOK || !strings.HasPrefix(out, "vpo ") {
		t.Fatalf("version = %d %q", code, out)
	}
	if want := os.Getenv("VPO_WANT_VERSION"); want != "" && !strings.Contains(out, want) {
		t.Fatalf("version %q is not stamped with %q", out, want)
	}
}
