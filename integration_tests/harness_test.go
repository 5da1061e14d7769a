package integration_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
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
)

// vpoBinary is the path of the binary under test, set by TestMain.
var vpoBinary string

func TestMain(m *testing.M) {
	code, err := setup(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration setup:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func setup(m *testing.M) (int, error) {
	if rel := os.Getenv("VPO_BINARY"); rel != "" {
		p, err := runfile(rel)
		if err != nil {
			return 0, err
		}
		vpoBinary = p
		return m.Run(), nil
	}
	// Plain `go test`: build the binary once.
	dir, err := os.MkdirTemp("", "vpo-it-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	vpoBinary = filepath.Join(dir, "vpo")
	build := exec.Command("go", "build", "-o", vpoBinary, "../services/vpo/cmd/vpo")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if err := build.Run(); err != nil {
		return 0, fmt.Errorf("go build vpo: %w", err)
	}
	return m.Run(), nil
}

// runfile resolves a Bazel rlocation path.
func runfile(rel string) (string, error) {
	if filepath.IsAbs(rel) {
		return rel, nil
	}
	for _, base := range []string{os.Getenv("RUNFILES_DIR"), os.Getenv("TEST_SRCDIR")} {
		if base == "" {
			continue
		}
		p := filepath.Join(base, rel)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("runfile %q not found (RUNFILES_DIR=%q TEST_SRCDIR=%q)", rel, os.Getenv("RUNFILES_DIR"), os.Getenv("TEST_SRCDIR"))
}

// syncBuffer collects a process's output safely.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// daemon is one running `vpo serve`.
type daemon struct {
	t      *testing.T
	cmd    *exec.Cmd
	stderr *syncBuffer
	stdout *syncBuffer
	dir    string
	port   int
	done   chan struct{}
	code   int
}

// env is a hermetic environment for the binary: HOME in a temp dir, no VPO_*
// variables from the outside.
func baseEnv(home string, extra ...string) []string {
	env := []string{"HOME=" + home, "PATH=" + os.Getenv("PATH"), "LANG=C.UTF-8"}
	return append(env, extra...)
}

// freePort asks the kernel for a port that is free right now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// writeConfig writes a config file for a daemon on port with extra TOML.
func writeConfig(t *testing.T, dir string, port int, extra string) string {
	t.Helper()
	path := filepath.Join(dir, "config.toml")
	body := fmt.Sprintf("[server]\nport = %d\n\n[database]\npath = %q\n%s", port, filepath.Join(dir, "library.db"), extra)
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

type startOpts struct {
	args  []string // after "serve"; default --config DIR/config.toml
	env   []string
	extra string // extra TOML appended to the generated config
	dir   string // reuse a directory (restart on the same DB)
	port  int
	wait  bool // wait for /health 200
}

// start boots `vpo serve` and, unless told otherwise, waits until /health
// answers 200.
func start(t *testing.T, o startOpts) *daemon {
	t.Helper()
	dir := o.dir
	if dir == "" {
		dir = t.TempDir()
	}
	port := o.port
	if port == 0 {
		port = freePort(t)
	}
	args := o.args
	if args == nil {
		args = []string{"--config", writeConfig(t, dir, port, o.extra)}
	}
	d := newDaemon(t, dir, port, exec.Command(vpoBinary, append([]string{"serve"}, args...)...))
	d.cmd.Env = baseEnv(dir, o.env...)
	d.launch()
	if o.wait {
		d.waitHealthy()
	}
	return d
}

// newDaemon wraps cmd; set its Env (and SysProcAttr) before launch.
func newDaemon(t *testing.T, dir string, port int, cmd *exec.Cmd) *daemon {
	d := &daemon{t: t, cmd: cmd, dir: dir, port: port, stderr: &syncBuffer{}, stdout: &syncBuffer{}, done: make(chan struct{})}
	d.cmd.Stdout, d.cmd.Stderr = d.stdout, d.stderr
	return d
}

// launch starts the process, records its exit code, and kills it at the
// end of the test if it is still running.
func (d *daemon) launch() {
	t := d.t
	t.Helper()
	if err := d.cmd.Start(); err != nil {
		t.Fatalf("start vpo: %v", err)
	}
	go func() {
		d.code = exitCode(d.cmd.Wait())
		close(d.done)
	}()
	t.Cleanup(func() {
		select {
		case <-d.done:
		default:
			_ = d.cmd.Process.Kill()
			<-d.done
		}
		if t.Failed() {
			t.Logf("vpo stderr:\n%s", d.stderr.String())
		}
	})
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return -int(ws.Signal())
		}
		return ee.ExitCode()
	}
	return -1000
}

func (d *daemon) url(path string) string {
	return "http://127.0.0.1:" + strconv.Itoa(d.port) + path
}

var client = &http.Client{Timeout: 5 * time.Second}

// waitHealthy polls /health until 200 (start-up includes migrations).
func (d *daemon) waitHealthy() {
	d.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-d.done:
			d.t.Fatalf("vpo exited with %d before becoming healthy:\n%s", d.code, d.stderr.String())
		default:
		}
		resp, err := client.Get(d.url("/health"))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	d.t.Fatalf("vpo not healthy within 15s:\n%s", d.stderr.String())
}

func (d *daemon) signal(sig os.Signal) {
	d.t.Helper()
	if err := d.cmd.Process.Signal(sig); err != nil {
		d.t.Fatalf("signal %v: %v", sig, err)
	}
}

// wait returns the exit code, failing the test after timeout.
func (d *daemon) wait(timeout time.Duration) int {
	d.t.Helper()
	select {
	case <-d.done:
		return d.code
	case <-time.After(timeout):
		d.t.Fatalf("vpo still running after %v:\n%s", timeout, d.stderr.String())
		return 0
	}
}

// waitLog waits until stderr holds a line with all parts (output arrives
// through a pipe, a little after the daemon wrote it).
func (d *daemon) waitLog(timeout time.Duration, parts ...string) {
	d.t.Helper()
	deadline := time.Now().Add(timeout)
	for !lineWith(d.stderr.String(), parts...) {
		if time.Now().After(deadline) {
			d.t.Fatalf("no log line with %q within %v:\n%s", parts, timeout, d.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// getJSON fetches path and decodes a JSON object.
func (d *daemon) getJSON(path string) (int, map[string]any, error) {
	resp, err := client.Get(d.url(path))
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var m map[string]any
	body, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(body, &m); err != nil {
		return resp.StatusCode, nil, fmt.Errorf("decode %s: %w (%q)", path, err, body)
	}
	return resp.StatusCode, m, nil
}

// run executes a vpo client command and returns its exit code and output.
func run(t *testing.T, env []string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, vpoBinary, args...)
	cmd.Env = env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return exitCode(err), out.String(), errb.String()
}

func containsAll(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}
