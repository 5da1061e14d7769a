package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// wrkResult is one wrk run.
type wrkResult struct {
	ReqPerSec float64
	P50, P99  time.Duration
	Requests  int
	Errors    int // socket errors + non-2xx/3xx responses
	Raw       string
}

// loadTarget is a server under the load test.
type loadTarget struct {
	name     string
	url      string
	srv      *server
	rssIdle  int
	rssAfter int
	wrk      wrkResult
}

// measureLoad starts vpo, nginx and the floor server side by side, lets
// them idle, reads their memory, then runs wrk against each in turn and
// reads their memory again.
func measureLoad(ctx context.Context, o options, rep *report) error {
	dir := filepath.Join(o.work, "load")
	if err := os.MkdirAll(filepath.Join(dir, "nginx", "logs"), 0o755); err != nil {
		return err
	}
	ports := make([]int, 3)
	for i := range ports {
		p, err := freePort()
		if err != nil {
			return err
		}
		ports[i] = p
	}

	vpo, err := startServer(o.vpo, []string{"serve"}, vpoEnv(dir, ports[0]), filepath.Join(dir, "vpo.log"))
	if err != nil {
		return err
	}
	defer vpo.kill()
	vpoURL := fmt.Sprintf("http://127.0.0.1:%d/health", ports[0])
	if _, err := waitOK(ctx, vpoURL, vpo.exited, 30*time.Second); err != nil {
		return err
	}
	// nginx answers with a body of the same size as vpo's /health.
	resp, err := probe.Get(vpoURL)
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	rep.healthBody = strings.TrimSpace(string(body))

	nginxDir := filepath.Join(dir, "nginx")
	conf := filepath.Join(nginxDir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(nginxConf(nginxDir, ports[1], rep.healthBody)), 0o644); err != nil {
		return err
	}
	nginx, err := startServer("nginx", []string{"-p", nginxDir, "-c", conf, "-e", filepath.Join(nginxDir, "logs", "error.log")},
		os.Environ(), filepath.Join(dir, "nginx.out"))
	if err != nil {
		return err
	}
	defer nginx.kill()
	nginxURL := fmt.Sprintf("http://127.0.0.1:%d/health", ports[1])
	if _, err := waitOK(ctx, nginxURL, nginx.exited, 30*time.Second); err != nil {
		return err
	}

	floor, err := startServer(o.floor, []string{"-addr", fmt.Sprintf("127.0.0.1:%d", ports[2])}, nil, filepath.Join(dir, "floor.log"))
	if err != nil {
		return err
	}
	defer floor.kill()
	floorURL := fmt.Sprintf("http://127.0.0.1:%d/health", ports[2])
	if _, err := waitOK(ctx, floorURL, floor.exited, 30*time.Second); err != nil {
		return err
	}

	targets := []*loadTarget{
		{name: "vpo", url: vpoURL, srv: vpo},
		{name: "nginx", url: nginxURL, srv: nginx},
		{name: "floor", url: floorURL, srv: floor},
	}
	logf("idling %s", o.idle)
	select {
	case <-time.After(o.idle):
	case <-ctx.Done():
		return ctx.Err()
	}
	for _, t := range targets {
		if t.rssIdle, err = rssKB(t.srv.cmd.Process.Pid); err != nil {
			return fmt.Errorf("%s memory: %w", t.name, err)
		}
	}
	for _, t := range targets {
		logf("wrk %s for %s", t.name, o.load)
		if t.wrk, err = runWrk(ctx, t.url, o.conns, o.load); err != nil {
			return fmt.Errorf("wrk %s: %w", t.name, err)
		}
		if t.rssAfter, err = rssKB(t.srv.cmd.Process.Pid); err != nil {
			return fmt.Errorf("%s memory: %w", t.name, err)
		}
		logf("%s: %.0f req/s, p50 %s, p99 %s, %d errors", t.name, t.wrk.ReqPerSec, t.wrk.P50, t.wrk.P99, t.wrk.Errors)
	}
	for _, t := range targets {
		if _, err := t.srv.stop(60 * time.Second); err != nil && t.name != "nginx" {
			return err
		}
	}
	rep.load = targets
	return nil
}

func nginxConf(dir string, port int, body string) string {
	return fmt.Sprintf(`# written by vpobench
worker_processes auto;
daemon off;
pid %[1]s/nginx.pid;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path %[1]s/body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    default_type application/json;
    server {
        listen 127.0.0.1:%[2]d;
        location / { return 200 '%[3]s\n'; }
    }
}
`, dir, port, strings.ReplaceAll(body, "'", `\'`))
}

func runWrk(ctx context.Context, url string, conns int, d time.Duration) (wrkResult, error) {
	threads := 2
	if conns < threads {
		threads = conns
	}
	cmd := exec.CommandContext(ctx, "wrk", "-t", strconv.Itoa(threads), "-c", strconv.Itoa(conns),
		"-d", fmt.Sprintf("%ds", int(d.Seconds())), "--latency", url)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return wrkResult{}, fmt.Errorf("%w: %s", err, out)
	}
	return parseWrk(string(out))
}

var (
	wrkRPS     = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	wrkPct     = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([0-9.]+)(us|ms|s)\s*$`)
	wrkTotal   = regexp.MustCompile(`(\d+) requests in`)
	wrkSocket  = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
	wrkNon2xx3 = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
)

func parseWrk(out string) (wrkResult, error) {
	r := wrkResult{Raw: out}
	m := wrkRPS.FindStringSubmatch(out)
	if m == nil {
		return r, fmt.Errorf("no Requests/sec in wrk output:\n%s", out)
	}
	r.ReqPerSec, _ = strconv.ParseFloat(m[1], 64)
	for _, pm := range wrkPct.FindAllStringSubmatch(out, -1) {
		v, _ := strconv.ParseFloat(pm[2], 64)
		unit := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second}[pm[3]]
		d := time.Duration(v * float64(unit))
		if pm[1] == "50" {
			r.P50 = d
		} else {
			r.P99 = d
		}
	}
	if r.P50 == 0 || r.P99 == 0 {
		return r, fmt.Errorf("no latency distribution in wrk output:\n%s", out)
	}
	if m := wrkTotal.FindStringSubmatch(out); m != nil {
		r.Requests, _ = strconv.Atoi(m[1])
	}
	if m := wrkSocket.FindStringSubmatch(out); m != nil {
		for _, s := range m[1:] {
			n, _ := strconv.Atoi(s)
			r.Errors += n
		}
	}
	if m := wrkNon2xx3.FindStringSubmatch(out); m != nil {
		n, _ := strconv.Atoi(m[1])
		r.Errors += n
	}
	return r, nil
}
