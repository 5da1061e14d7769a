package integration_test

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// sseClient reads one /api/events stream of a daemon.
type sseClient struct {
	t    *testing.T
	resp *http.Response
	evs  chan sseEvent
}

type sseEvent struct{ id, typ, data string }

// openEvents opens /api/events?query on d, with Last-Event-ID when
// lastID is not empty.
func (d *daemon) openEvents(query, lastID string) *sseClient {
	d.t.Helper()
	req, err := http.NewRequest(http.MethodGet, d.url("/api/events"+query), nil)
	if err != nil {
		d.t.Fatal(err)
	}
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := (&http.Client{}).Do(req) // no timeout: a stream
	if err != nil {
		d.t.Fatalf("open /api/events: %v", err)
	}
	d.t.Cleanup(func() { _ = resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		d.t.Fatalf("/api/events: %d", resp.StatusCode)
	}
	c := &sseClient{t: d.t, resp: resp, evs: make(chan sseEvent, 10000)}
	go func() {
		defer close(c.evs)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var cur sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if cur.typ != "" {
					c.evs <- cur
				}
				cur = sseEvent{}
			case strings.HasPrefix(line, "id: "):
				cur.id = line[4:]
			case strings.HasPrefix(line, "event: "):
				cur.typ = line[7:]
			case strings.HasPrefix(line, "data: "):
				cur.data = line[6:]
			}
		}
	}()
	return c
}

// until returns the events up to and including the first for which stop
// is true.
func (c *sseClient) until(stop func(sseEvent) bool) []sseEvent {
	c.t.Helper()
	var got []sseEvent
	timeout := time.After(30 * time.Second)
	for {
		select {
		case ev, ok := <-c.evs:
			if !ok {
				c.t.Fatalf("stream ended after %d events", len(got))
			}
			got = append(got, ev)
			if stop(ev) {
				return got
			}
		case <-timeout:
			c.t.Fatalf("no matching event within 30s; got %+v", got)
		}
	}
}

// TestEventsAndJobLog: the real daemon streams a scan's life as events
// (created, started, progress, finished, each naming the job, ids rising),
// a second stream resumes from an id with Last-Event-ID, the job's log
// holds the scan's lines, and `vpo jobs logs --follow` prints a running
// job's lines and returns when it ends.
func TestEventsAndJobLog(t *testing.T) {
	d := start(t, startOpts{wait: true, extra: "\n[jobs]\ntest_kinds = true\n"})
	media := filepath.Join(d.dir, "media")
	if err := os.MkdirAll(media, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"a.mkv", "b.mkv"} {
		if err := os.WriteFile(filepath.Join(media, n), []byte("not a video"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	stream := d.openEvents("", "")
	var job struct{ ID string }
	body, _ := json.Marshal(map[string]any{"kind": "scan", "payload": map[string]string{"path": media}})
	if code, _, b := d.call(http.MethodPost, "/api/jobs", string(body), ""); code != http.StatusCreated || json.Unmarshal(b, &job) != nil {
		t.Fatalf("submit scan: %d %s", code, b)
	}
	evs := stream.until(func(ev sseEvent) bool { return ev.typ == "job.finished" && strings.Contains(ev.data, job.ID) })
	var types []string
	var last int64
	for _, ev := range evs {
		id, err := strconv.ParseInt(ev.id, 10, 64)
		if err != nil || id <= last {
			t.Fatalf("event id %q after %d", ev.id, last)
		}
		last = id
		if strings.HasPrefix(ev.typ, "job.") && ev.typ != "job.log" {
			if !strings.Contains(ev.data, `"id":"`+job.ID+`"`) {
				t.Fatalf("event %s does not name the job: %s", ev.typ, ev.data)
			}
			types = append(types, ev.typ)
		}
	}
	if got := strings.Join(types, " "); !strings.HasPrefix(got, "job.created job.started") ||
		!strings.Contains(got, "job.progress") || !strings.HasSuffix(got, "job.finished") {
		t.Fatalf("event types %q, want created, started, progress..., finished", got)
	}
	if !strings.Contains(evs[len(evs)-1].data, `"status":"completed"`) {
		t.Errorf("finished event %s, want completed", evs[len(evs)-1].data)
	}
	// Resume after the created event: the rest again, from the store.
	again := d.openEvents("?job="+job.ID, evs[0].id)
	if ev := again.until(func(sseEvent) bool { return true })[0]; ev.typ != "job.started" {
		t.Errorf("resumed after job.created: first %s, want job.started", ev.typ)
	}

	// The job's log: the scan's own lines (probe failures of the two
	// fake files, the summary) and the pool's.
	var out string
	deadline := time.Now().Add(10 * time.Second)
	for {
		var code int
		code, out, _ = run(t, baseEnv(d.dir), "jobs", "logs", job.ID, "--url", d.url(""))
		if code == exitOK && strings.Contains(out, "scan finished") && strings.Contains(out, "job completed") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("vpo jobs logs %s (exit %d):\n%s", job.ID, code, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(out, "files_seen=2") {
		t.Errorf("job log lacks the scan's fields:\n%s", out)
	}

	// --follow on a running job: its lines, then exit 0 once it ended.
	var sleeper struct{ ID string }
	if code, _, b := d.call(http.MethodPost, "/api/jobs", `{"kind":"test.sleep","payload":{"seconds":2}}`, ""); code != http.StatusCreated || json.Unmarshal(b, &sleeper) != nil {
		t.Fatalf("submit test.sleep: %d %s", code, b)
	}
	start := time.Now()
	code, out, stderr := run(t, baseEnv(d.dir), "jobs", "logs", "--follow", sleeper.ID, "--url", d.url(""))
	if code != exitOK || !strings.Contains(out, "job completed") {
		t.Fatalf("vpo jobs logs --follow: exit %d\n%s\n%s", code, out, stderr)
	}
	t.Logf("--follow returned %s after the submission of a 2 s job", time.Since(start).Round(time.Millisecond))
	if code, _, _ := run(t, baseEnv(d.dir), "jobs", "logs", "01a236c6-977d-7bae-8e74-40bb8cc481c8", "--url", d.url("")); code != 6 { // ExitUnavailable
		t.Errorf("logs of an unknown job: exit %d, want 6 (unavailable)", code)
	}
}

// TestShutdownWithOpenStreams: SIGTERM with 50 open event streams ends
// them and exits 0 inside shutdown_timeout (streams must not hold the
// HTTP server's drain up to the deadline).
func TestShutdownWithOpenStreams(t *testing.T) {
	d := start(t, startOpts{wait: true, env: []string{"VPO_SERVER_SHUTDOWN_TIMEOUT=5s"}})
	var streams []*sseClient
	for range 50 {
		streams = append(streams, d.openEvents("", ""))
	}
	began := time.Now()
	d.signal(syscall.SIGTERM)
	if code := d.wait(60 * time.Second); code != exitOK {
		t.Fatalf("exit %d with 50 open streams, want 0:\n%s", code, d.stderr.String())
	}
	took := time.Since(began)
	if strings.Contains(d.stderr.String(), "not everything finished within shutdown_timeout") {
		t.Fatalf("shutdown reached its deadline:\n%s", d.stderr.String())
	}
	for i, s := range streams {
		select {
		case _, ok := <-s.evs:
			for ok {
				_, ok = <-s.evs
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("stream %d still open after the daemon exited", i)
		}
	}
	t.Logf("SIGTERM with 50 open streams: exited 0 in %s", took.Round(time.Millisecond))
}
