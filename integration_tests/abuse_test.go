package integration_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// rawRequest writes head and then body (in the background, ignoring write
// errors: the server may stop reading early) on a new connection and
// returns the response status code.
func rawRequest(t *testing.T, d *daemon, head string, body io.Reader) int {
	t.Helper()
	conn, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(d.port), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	if body != nil {
		go func() { _, _ = io.Copy(conn, body) }()
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// jobTotal counts the stored jobs through the API.
func jobTotal(t *testing.T, d *daemon) int {
	t.Helper()
	total, cursor := 0, ""
	for {
		code, _, b := d.call("GET", "/api/jobs?limit=500&cursor="+cursor, "", "")
		if code != 200 {
			t.Fatalf("list jobs: %d %s", code, b)
		}
		var page struct {
			Jobs       []map[string]any `json:"jobs"`
			NextCursor string           `json:"next_cursor"`
		}
		if err := jsonUnmarshal(b, &page); err != nil {
			t.Fatal(err)
		}
		total += len(page.Jobs)
		if page.NextCursor == "" {
			return total
		}
		cursor = page.NextCursor
	}
}

// TestSlowlorisDoesNotBlockHealth: clients that dribble their headers one
// byte at a time neither block /health for others nor hold a connection
// past the header timeout.
func TestSlowlorisDoesNotBlockHealth(t *testing.T) {
	d := start(t, startOpts{wait: true})
	const slow = 200
	var conns []net.Conn
	for i := 0; i < slow; i++ {
		c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(d.port))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := io.WriteString(c, "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	stop := make(chan struct{})
	closed := make(chan int, slow)
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Add(1)
		go func(i int, c net.Conn) {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				case <-time.After(500 * time.Millisecond):
				}
				if _, err := c.Write([]byte("a")); err != nil {
					closed <- i
					return
				}
			}
		}(i, c)
	}
	defer func() { close(stop); wg.Wait() }()

	for i := 0; i < 20; i++ {
		if code, status := d.healthStatus(); code != 200 || status != "healthy" {
			t.Fatalf("/health during slowloris = %d %q", code, status)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The header timeout (5s) ends the dribbling connections; a write
	// fails once the server has closed its end.
	deadline := time.After(60 * time.Second)
	for n := 0; n < slow; n++ {
		select {
		case <-closed:
		case <-deadline:
			t.Fatalf("only %d of %d slow connections were closed by the server within 60s", n, slow)
		}
	}
	if code, _ := d.healthStatus(); code != 200 {
		t.Fatalf("/health after slowloris = %d", code)
	}
}

// TestOversizedBodies: bodies over 1 MiB are refused with 413 whether their
// length is declared or chunked, and nothing is stored.
func TestOversizedBodies(t *testing.T) {
	d := start(t, startOpts{wait: true})
	big := `{"kind":"scan","payload":{"path":"/` + strings.Repeat("a", 2<<20) + `"}}`
	for _, tc := range []struct{ name, path, head string }{
		{"declared length", "/api/jobs", fmt.Sprintf("POST /api/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", len(big))},
		{"chunked", "/api/jobs", "POST /api/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"},
		{"cancel", "/api/jobs/00000000-0000-0000-0000-000000000000/cancel", fmt.Sprintf("POST /api/jobs/00000000-0000-0000-0000-000000000000/cancel HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", len(big))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var body io.Reader = strings.NewReader(big)
			if strings.Contains(tc.head, "chunked") {
				body = strings.NewReader(fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(big), big))
			}
			if code := rawRequest(t, d, tc.head, body); code != http.StatusRequestEntityTooLarge {
				t.Fatalf("POST %s with a %d-byte body = %d, want 413", tc.path, len(big), code)
			}
		})
	}
	// A body just under the limit is read (and rejected for its content).
	code, _, _ := d.call("POST", "/api/jobs", `{"kind":"nope","payload":{"x":"`+strings.Repeat("b", 1<<20-64)+`"}}`, "")
	if code != http.StatusBadRequest {
		t.Fatalf("1 MiB - 64 bytes body = %d, want 400 (read, then refused)", code)
	}
	// Oversized headers: 431.
	head := "GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("h", 128<<10) + "\r\n\r\n"
	if code := rawRequest(t, d, head, nil); code != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("128 KiB header = %d, want 431", code)
	}
	if n := jobTotal(t, d); n != 0 {
		t.Fatalf("%d jobs stored after refused requests", n)
	}
}

// TestThousandIdleConnections: 1,000 open connections (half of them idle
// keep-alive connections after one request, half that never sent a byte)
// do not stop the server from answering.
func TestThousandIdleConnections(t *testing.T) {
	d := start(t, startOpts{wait: true, env: []string{"VPO_JOBS_TEST_KINDS=true"}})
	const n = 1000
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; i < n; i++ {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(d.port), 10*time.Second)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		conns = append(conns, c)
		if i%2 == 0 {
			continue
		}
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		if _, err := io.WriteString(c, "GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("connection %d: /health/live = %d", i, resp.StatusCode)
		}
	}
	if code, status := d.healthStatus(); code != 200 || status != "healthy" {
		t.Fatalf("/health with %d idle connections = %d %q", n, code, status)
	}
	if code, _, b := d.call("POST", "/api/jobs", `{"kind":"test.sleep","payload":{"seconds":0}}`, ""); code != http.StatusCreated {
		t.Fatalf("submit with %d idle connections = %d %s", n, code, b)
	}
}

// TestMalformedJSONChangesNothing: every malformed body gets 400 with a
// JSON error that says what is wrong, and no job or file changes.
func TestMalformedJSONChangesNothing(t *testing.T) {
	d := start(t, startOpts{wait: true, env: []string{"VPO_JOBS_TEST_KINDS=true"}})
	code, _, b := d.call("POST", "/api/jobs", `{"kind":"test.sleep","payload":{"seconds":0}}`, "")
	if code != 201 {
		t.Fatalf("submit: %d %s", code, b)
	}
	var done struct {
		ID string `json:"id"`
	}
	if err := jsonUnmarshal(b, &done); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, _, jb := d.call("GET", "/api/jobs/"+done.ID, "", "")
		if strings.Contains(string(jb), `"status":"completed"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("job not completed: %s", jb)
		}
		time.Sleep(20 * time.Millisecond)
	}
	snapshot := func() string {
		_, _, jobs := d.call("GET", "/api/jobs", "", "")
		_, _, files := d.call("GET", "/api/files", "", "")
		return string(jobs) + string(files)
	}
	before := snapshot()

	bodies := []string{
		`{`, `{"kind":`, `{"kind":"scan"`, `[]`, `"scan"`, `null`, `42`, `{"kind":1}`,
		`{"kind":"scan","payload":{"path":"/tmp"}} {"kind":"scan"}`,
		`{"kind":"scan","payload":{"path":"/tmp"},"extra":true}`,
		`{"kind":"scan","payload":{"path":"relative"}}`,
		`{"kind":"scan","payload":"/tmp"}`,
		`{"kind":"scan","payload":{"path":"/tmp","recursive":"yes"}}`,
		`{"kind":"test.sleep","payload":{"seconds":-1}}`,
		`{"kind":"test.sleep","payload":{"seconds":1e309}}`,
		`{"kind":"test.sleep","payload":{"seconds":0},"priority":-5}`,
		`{"kind":"test.sleep","payload":{"seconds":0},"priority":1.5}`,
		`{"kind":"test.sleep","payload":{"seconds":0},"max_attempts":1000}`,
		`{"kind":"no.such.kind"}`,
		"{\"kind\":\"scan\xff\xfe\"}",
		"\x00\x01\x02",
		strings.Repeat("[", 100000),
		`{"kind":"scan","payload":` + strings.Repeat(`{"a":`, 5000) + `1` + strings.Repeat(`}`, 5000) + `}`,
	}
	for _, body := range bodies {
		code, hdr, b := d.call("POST", "/api/jobs", body, "")
		var e struct {
			Error string `json:"error"`
		}
		if code != http.StatusBadRequest || jsonUnmarshal(b, &e) != nil || e.Error == "" {
			t.Errorf("POST /api/jobs %.60q = %d %s (%s), want 400 with a JSON error", body, code, b, hdr.Get("Content-Type"))
		}
	}
	for _, path := range []string{"/api/jobs/" + done.ID + "/retry", "/api/jobs/" + done.ID + "/cancel"} {
		for _, body := range []string{`{`, `[1]`, `{"force":true}`} {
			if code, _, b := d.call("POST", path, body, ""); code != http.StatusBadRequest {
				t.Errorf("POST %s %q = %d %s, want 400", path, body, code, b)
			}
		}
	}
	for _, q := range []string{"limit=-1", "limit=abc", "status=exploded", "cursor=%00%ff", "cursor=zzzz"} {
		if code, _, b := d.call("GET", "/api/jobs?"+q, "", ""); code != http.StatusBadRequest {
			t.Errorf("GET /api/jobs?%s = %d %s, want 400", q, code, b)
		}
	}
	if after := snapshot(); after != before {
		t.Fatalf("state changed by rejected requests:\nbefore %s\nafter  %s", before, after)
	}
	if code, _ := d.healthStatus(); code != 200 {
		t.Fatalf("/health after bad input = %d", code)
	}
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
