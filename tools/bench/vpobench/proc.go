package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// freePort returns a loopback port that is free right now.
//
// With VPOBENCH_PORTS=LO-HI in the environment (a machine shared with
// other tests), the port is one of that range that can be bound, tried
// from a random one on.
func freePort() (int, error) {
	if r := os.Getenv("VPOBENCH_PORTS"); r != "" {
		return freePortIn(r)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func freePortIn(r string) (int, error) {
	var lo, hi int
	if _, err := fmt.Sscanf(r, "%d-%d", &lo, &hi); err != nil || lo <= 0 || hi < lo || hi > 65535 {
		return 0, fmt.Errorf("VPOBENCH_PORTS=%q: want LO-HI, e.g. 19200-19299", r)
	}
	start := rand.IntN(hi - lo + 1)
	for i := range hi - lo + 1 {
		port := lo + (start+i)%(hi-lo+1)
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			ln.Close()
			return port, nil
		}
	}
	return 0, fmt.Errorf("VPOBENCH_PORTS=%q: no free port", r)
}

// probe is an HTTP client that opens a new connection per request, as a
// fresh health checker would.
var probe = &http.Client{
	Timeout:   2 * time.Second,
	Transport: &http.Transport{DisableKeepAlives: true},
}

// waitOK polls url until it answers 200 and returns when that happened.
func waitOK(ctx context.Context, url string, exited <-chan struct{}, limit time.Duration) (time.Time, error) {
	deadline := time.Now().Add(limit)
	for {
		resp, err := probe.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Now(), nil
			}
		}
		select {
		case <-exited:
			return time.Time{}, fmt.Errorf("%s: the server exited before answering 200", url)
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		default:
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("%s: no 200 within %s (last error: %v)", url, limit, err)
		}
		time.Sleep(200 * time.Microsecond)
	}
}

// server is a started process with its exit watched.
type server struct {
	cmd    *exec.Cmd
	exited chan struct{}
	err    error
	log    *os.File
}

func startServer(bin string, args, env []string, logPath string) (*server, error) {
	s := &server{exited: make(chan struct{})}
	s.cmd = exec.Command(bin, args...)
	s.cmd.Env = env
	if logPath != "" {
		f, err := os.Create(logPath)
		if err != nil {
			return nil, err
		}
		s.log = f
		s.cmd.Stdout, s.cmd.Stderr = f, f
	}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() {
		s.err = s.cmd.Wait()
		if s.log != nil {
			s.log.Close()
		}
		close(s.exited)
	}()
	return s, nil
}

// stop sends SIGTERM and returns how long the process took to exit.
func (s *server) stop(limit time.Duration) (time.Duration, error) {
	t0 := time.Now()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return 0, err
	}
	select {
	case <-s.exited:
		d := time.Since(t0)
		if s.err != nil {
			return d, fmt.Errorf("%s exited with %v after SIGTERM", filepath.Base(s.cmd.Path), s.err)
		}
		return d, nil
	case <-time.After(limit):
		_ = s.cmd.Process.Kill()
		<-s.exited
		return 0, fmt.Errorf("%s still running %s after SIGTERM", filepath.Base(s.cmd.Path), limit)
	}
}

func (s *server) kill() {
	select {
	case <-s.exited:
	default:
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}

// vpoEnv is a hermetic environment for vpo serve: its own HOME and
// database, port, no ffprobe on PATH.
func vpoEnv(dir string, port int, extra ...string) []string {
	return append([]string{
		"HOME=" + dir,
		"PATH=" + filepath.Join(dir, "no-tools"), // no ffprobe
		"VPO_DATABASE_PATH=" + filepath.Join(dir, "library.db"),
		"VPO_SERVER_PORT=" + strconv.Itoa(port),
	}, extra...)
}

// rssKB returns the resident set size of pid and of its child processes.
func rssKB(pid int) (int, error) {
	total, err := rssOf(pid)
	if err != nil {
		return 0, err
	}
	for _, child := range childrenOf(pid) {
		if kb, err := rssOf(child); err == nil {
			total += kb
		}
	}
	return total, nil
}

func rssOf(pid int) (int, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			return strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
		}
	}
	return 0, errors.New("no VmRSS in /proc/" + strconv.Itoa(pid) + "/status")
}

func childrenOf(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may contain spaces.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(s[i+1:])
		if len(fields) > 1 && fields[1] == strconv.Itoa(pid) {
			out = append(out, p)
		}
	}
	return out
}
