package events_test

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	_ "modernc.org/sqlite"

	"github.com/vpo-project/vpo/libs/store"
	"github.com/vpo-project/vpo/services/vpo/internal/events"
)

type env struct {
	t      *testing.T
	st     *store.Store
	broker *events.Broker
	srv    *httptest.Server
	url    string // of the server the streams open on
	cancel context.CancelFunc
	done   chan struct{}
}

func newEnv(t *testing.T, opts events.Options) *env {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "library.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if opts.Poll == 0 {
		opts.Poll = 20 * time.Millisecond
	}
	e := &env{t: t, st: st, broker: events.New(st, opts), done: make(chan struct{})}
	if err := e.broker.Prime(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	go func() {
		defer close(e.done)
		_ = e.broker.Run(ctx)
	}()
	e.srv = httptest.NewServer(e.broker.Handler())
	e.url = e.srv.URL
	t.Cleanup(func() {
		_ = e.broker.Shutdown(context.Background())
		e.srv.Close()
		cancel()
		<-e.done
		_ = st.Close()
	})
	return e
}

func (e *env) submit(kind string) store.Job {
	e.t.Helper()
	j, err := e.st.CreateJob(context.Background(), store.NewJob{Kind: kind})
	if err != nil {
		e.t.Fatal(err)
	}
	e.broker.Poke()
	return j
}

// sse is a test client of one stream.
type sse struct {
	t    *testing.T
	resp *http.Response
	evs  chan event
	errc chan error
}

type event struct {
	id, typ, data string
	comment       string
}

func (e *env) open(query string, header http.Header) *sse {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.url+"/api/events"+query, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	c := &sse{t: e.t, resp: resp, evs: make(chan event, 10000), errc: make(chan error, 1)}
	e.t.Cleanup(func() { _ = resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		return c
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		e.t.Fatalf("Content-Type %q", ct)
	}
	go func() {
		d := events.NewDecoder(resp.Body)
		for {
			m, ok := d.Next()
			if !ok {
				break
			}
			c.evs <- event{id: m.ID, typ: m.Type, data: m.Data, comment: m.Comment}
		}
		c.errc <- d.Err()
		close(c.evs)
	}()
	return c
}

// next returns the next event that is not a comment.
func (c *sse) next() event {
	c.t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev, ok := <-c.evs:
			if !ok {
				c.t.Fatal("stream ended")
			}
			if ev.typ == "" && ev.data == "" {
				continue
			}
			return ev
		case <-timeout:
			c.t.Fatal("no event within 10s")
		}
	}
}

// nextOf returns the next event of type typ, skipping others.
func (c *sse) nextOf(typ string) event {
	c.t.Helper()
	for {
		if ev := c.next(); ev.typ == typ {
			return ev
		}
	}
}

// TestLiveEvents: a stream gets what happens after it opened, each event
// with its id, type and JSON data naming the job.
func TestLiveEvents(t *testing.T) {
	created := make(chan string, 64)
	e := newEnv(t, events.Options{OnEvent: func(ev store.Event) {
		if ev.Type == "job.created" {
			select {
			case created <- ev.JobID:
			default:
			}
		}
	}})
	before := e.submit("k") // before the stream: not sent
	// The broker has read it before the stream opens (else the stream
	// could rightly get it).
	for id := ""; id != before.ID; {
		select {
		case id = <-created:
		case <-time.After(10 * time.Second):
			t.Fatal("the broker did not read the first job's event within 10s")
		}
	}
	c := e.open("", nil)
	j := e.submit("k")
	ev := c.next()
	if ev.typ != "job.created" || ev.id == "" {
		t.Fatalf("first event = %+v, want job.created with an id", ev)
	}
	var d struct{ ID, Kind, Status string }
	if err := json.Unmarshal([]byte(ev.data), &d); err != nil || d.ID != j.ID || d.Kind != "k" || d.Status != "queued" {
		t.Fatalf("data %s (%v): want job %s", ev.data, err, j.ID)
	}
	if d.ID == before.ID {
		t.Fatal("stream sent an event from before it opened")
	}
	// The daemon's own events go out too, without an id.
	e.broker.Publish("health.changed", map[string]string{"status": "degraded"})
	ev = c.next()
	if ev.typ != "health.changed" || ev.id != "" || ev.data != `{"status":"degraded"}` {
		t.Fatalf("published event = %+v", ev)
	}
}

// TestResumeWithLastEventID: a stream that resumes gets every stored
// event after the id, once each, in order, then live ones; also when
// the ring in memory no longer holds them.
func TestResumeWithLastEventID(t *testing.T) {
	e := newEnv(t, events.Options{Ring: 8, RingBytes: 600}) // a few events' worth
	first := e.submit("k")
	evs, err := e.st.EventsAfter(context.Background(), 0, 10)
	if err != nil || len(evs) != 1 {
		t.Fatalf("events = %v, %v", evs, err)
	}
	from := evs[0].ID
	var want []string
	for range 40 {
		want = append(want, e.submit("k").ID)
	}
	waitRead(t, e)
	c := e.open("", http.Header{"Last-Event-ID": {strconv.FormatInt(from, 10)}})
	last := from
	for i := range 41 {
		ev := c.next()
		id, _ := strconv.ParseInt(ev.id, 10, 64)
		if id <= last {
			t.Fatalf("event %d: id %d after %d (duplicate or out of order)", i, id, last)
		}
		last = id
		if i == 40 {
			break
		}
		if !strings.Contains(ev.data, want[i]) {
			t.Fatalf("event %d = %s, want job %s", i, ev.data, want[i])
		}
		if strings.Contains(ev.data, first.ID) {
			t.Fatal("resumed stream repeated the event it resumed after")
		}
		if i == 39 {
			e.submit("live")
		}
	}
	// The query parameter works as the header does (EventSource's first
	// connection cannot set headers).
	c2 := e.open("?last_event_id="+strconv.FormatInt(last-1, 10), nil)
	if ev := c2.next(); ev.id != strconv.FormatInt(last, 10) {
		t.Fatalf("resume by query parameter: first id %s, want %d", ev.id, last)
	}
	// An id beyond the feed (a replaced database) is announced as lost.
	_, newest, err := e.st.EventBounds(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c3 := e.open("", http.Header{"Last-Event-ID": {"999999"}})
	if ev := c3.next(); ev.typ != "lost" || ev.id != strconv.FormatInt(newest, 10) {
		t.Fatalf("resume from an unknown id: %+v, want a lost event with id %d (the newest)", ev, newest)
	}
	e.submit("k")
	if ev := c3.next(); ev.typ != "job.created" {
		t.Fatalf("after the lost event: %+v", ev)
	}
}

// waitRead waits until the broker has read everything stored: a stream
// gets a mark stored after it. (Not a published event: those are not
// stored, and a stream behind the ring may miss them.)
func waitRead(t *testing.T, e *env) {
	t.Helper()
	c := e.open("", nil)
	if _, err := e.st.AddEvent(context.Background(), "test.mark", "", map[string]int{}); err != nil {
		t.Fatal(err)
	}
	e.broker.Poke()
	c.nextOf("test.mark")
}

// TestPrunedEventsAnnounced: resuming from an id whose successors were
// pruned yields a "lost" event first.
func TestPrunedEventsAnnounced(t *testing.T) {
	e := newEnv(t, events.Options{})
	for range 5 {
		e.submit("k")
	}
	if _, err := e.st.PruneEvents(context.Background(), time.Now().Add(time.Hour), 2, 100); err != nil {
		t.Fatal(err)
	}
	c := e.open("?last_event_id=1", nil)
	ev := c.next()
	if ev.typ != "lost" || ev.data != `{"after":1,"next":4}` || ev.id != "3" {
		t.Fatalf("first event = %+v, want lost after 1, next 4, with id 3", ev)
	}
	if ev := c.next(); ev.id != "4" {
		t.Fatalf("then id %s, want 4", ev.id)
	}
}

// TestFilters: ?types and ?job select events; bad values are 400.
func TestFilters(t *testing.T) {
	e := newEnv(t, events.Options{})
	a := e.submit("k")
	// Any spelling of the id selects the job.
	c := e.open("?types=job.finished,queue&job="+strings.ToUpper(a.ID), nil)
	b := e.submit("k")
	ctx := context.Background()
	for _, id := range []string{a.ID, b.ID} {
		if _, err := e.st.CancelJob(ctx, id, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.st.SetQueueState(ctx, store.QueueState{Paused: true}); err != nil {
		t.Fatal(err)
	}
	e.broker.Poke()
	ev := c.next()
	if ev.typ != "job.finished" || !strings.Contains(ev.data, a.ID) {
		t.Fatalf("first filtered event = %+v, want job.finished of %s", ev, a.ID)
	}
	// queue.paused has no job: the job filter leaves it out.
	e.broker.Publish("test.mark", map[string]int{})
	select {
	case ev := <-c.evs:
		if ev.typ != "" {
			t.Fatalf("unwanted event %+v", ev)
		}
	case <-time.After(200 * time.Millisecond):
	}
	for _, q := range []string{"?types=Job", "?types=job..x", "?last_event_id=-1", "?last_event_id=x", "?job=not-a-job", "?job=" + strings.Repeat("a", 101)} {
		resp, err := http.Get(e.url + "/api/events" + q)
		if err != nil {
			t.Fatal(err)
		}
		var body struct{ Error string }
		_ = json.NewDecoder(resp.Body).Decode(&body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || body.Error == "" {
			t.Errorf("GET %s = %d %q, want 400 with an error", q, resp.StatusCode, body.Error)
		}
	}
}

// TestStreamCap: one stream more than MaxStreams is answered 503 with
// Retry-After; a closed stream frees its place.
func TestStreamCap(t *testing.T) {
	e := newEnv(t, events.Options{MaxStreams: 2})
	a := e.open("", nil)
	_ = e.open("", nil)
	waitStreams(t, e.broker, 2)
	c := e.open("", nil)
	if c.resp.StatusCode != http.StatusServiceUnavailable || c.resp.Header.Get("Retry-After") == "" {
		t.Fatalf("third stream: %d (Retry-After %q), want 503 with Retry-After", c.resp.StatusCode, c.resp.Header.Get("Retry-After"))
	}
	_ = a.resp.Body.Close()
	waitStreams(t, e.broker, 1)
	if d := e.open("", nil); d.resp.StatusCode != http.StatusOK {
		t.Fatalf("stream after one closed: %d", d.resp.StatusCode)
	}
}

func waitStreams(t *testing.T, b *events.Broker, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if got, _ := b.Stats(); got == n {
			return
		}
		if time.Now().After(deadline) {
			got, _ := b.Stats()
			t.Fatalf("%d open streams, want %d", got, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// openUnread opens a stream on a raw connection that sends the request
// and then reads nothing, and waits until it is the broker's only stream.
func openUnread(t *testing.T, e *env) {
	t.Helper()
	conn, err := net.Dial("tcp", e.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	if _, err := fmt.Fprintf(conn, "GET /api/events HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	waitStreams(t, e.broker, 1)
}

// TestHeartbeat: an idle stream gets comment lines.
func TestHeartbeat(t *testing.T) {
	e := newEnv(t, events.Options{Heartbeat: 30 * time.Millisecond})
	c := e.open("", nil)
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev := <-c.evs:
			if ev.comment == "heartbeat" {
				return
			}
		case <-timeout:
			t.Fatal("no heartbeat within 10s")
		}
	}
}

// TestSlowReaderDropped: a client that stops reading is dropped once a
// write blocks WriteStall, and meanwhile another stream and the broker go
// on unhindered.
func TestSlowReaderDropped(t *testing.T) {
	e := newEnv(t, events.Options{Ring: 64, WriteStall: 200 * time.Millisecond})
	openUnread(t, e)
	good := e.open("", nil)
	big := map[string]string{"pad": strings.Repeat("x", 64<<10)}
	received := 0
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := e.st.AddEvent(context.Background(), "test.big", "", big); err != nil {
			t.Fatal(err)
		}
		e.broker.Poke()
		good.nextOf("test.big") // the reading stream keeps up
		received++
		if _, dropped := e.broker.Stats(); dropped == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("slow stream not dropped after %d events of 64 KiB", received)
		}
	}
	waitStreams(t, e.broker, 1)
	t.Logf("slow stream dropped after %d events of 64 KiB; the other got every one", received)
}

// TestShutdownEndsStreams: Shutdown ends 50 open streams at once, so that
// the HTTP server's own shutdown is not held to its deadline.
func TestShutdownEndsStreams(t *testing.T) {
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "library.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	b := events.New(st, events.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ran := make(chan struct{})
	go func() { defer close(ran); _ = b.Run(ctx) }()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: b.Handler()}
	go func() { _ = srv.Serve(ln) }()
	var wg sync.WaitGroup
	for range 50 {
		resp, err := http.Get("http://" + ln.Addr().String() + "/api/events")
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = bufio.NewReader(resp.Body).ReadString(0) // until the stream ends
			_ = resp.Body.Close()
		}()
	}
	if n, _ := b.Stats(); n != 50 {
		t.Fatalf("%d open streams, want 50", n)
	}
	deadline := 5 * time.Second
	sctx, scancel := context.WithTimeout(context.Background(), deadline)
	defer scancel()
	start := time.Now()
	if err := b.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	if err := srv.Shutdown(sctx); err != nil {
		t.Fatalf("HTTP shutdown with 50 streams: %v after %s (deadline %s)", err, time.Since(start), deadline)
	}
	wg.Wait()
	<-ran
	t.Logf("50 streams ended and the HTTP server shut down in %s", time.Since(start))
	// After shutdown, a new stream is refused.
	rec := httptest.NewRecorder()
	b.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/events", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("stream after shutdown: %d, want 503", rec.Code)
	}
}

// TestStreamOutlivesServerTimeouts: the HTTP server's read and write
// timeouts (vpo sets both) do not end a stream.
func TestStreamOutlivesServerTimeouts(t *testing.T) {
	e := newEnv(t, events.Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: e.broker.Handler(), ReadTimeout: 100 * time.Millisecond, WriteTimeout: 100 * time.Millisecond}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	e.url = "http://" + ln.Addr().String()
	c := e.open("", nil)
	time.Sleep(400 * time.Millisecond)
	e.submit("k")
	if ev := c.next(); ev.typ != "job.created" {
		t.Fatalf("after the server's timeouts: %+v", ev)
	}
}

// TestShutdownEndsBlockedWrite: a stream whose write blocks on a client
// that does not read ends at Shutdown, not at its write deadline.
func TestShutdownEndsBlockedWrite(t *testing.T) {
	e := newEnv(t, events.Options{Ring: 64, WriteStall: time.Minute})
	openUnread(t, e)
	big := map[string]string{"pad": strings.Repeat("x", 64<<10)}
	for range 400 { // 25 MiB: more than the sockets hold
		if _, err := e.st.AddEvent(context.Background(), "test.big", "", big); err != nil {
			t.Fatal(err)
		}
	}
	e.broker.Poke()
	time.Sleep(500 * time.Millisecond) // the stream writes until it blocks
	if err := e.broker.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitStreams(t, e.broker, 0) // 10 s at most, against a minute's deadline
}

// TestHeadAndInvalidUTF8: HEAD answers the stream's headers without
// opening one; data that is not UTF-8 goes out as valid UTF-8.
func TestHeadAndInvalidUTF8(t *testing.T) {
	e := newEnv(t, events.Options{MaxStreams: 1})
	req, _ := http.NewRequest(http.MethodHead, e.url+"/api/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("HEAD: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	c := e.open("", nil) // the only place: HEAD took none
	// Written in one statement: the broker must never see the row
	// before its bytes are the invalid ones.
	db := rawEvents(t, e)
	if _, err := db.Exec(`INSERT INTO events (type, data) VALUES ('test.bytes', CAST(? AS TEXT))`, []byte("{\"path\":\"a\xffb\"}")); err != nil {
		t.Fatal(err)
	}
	e.broker.Poke()
	ev := c.nextOf("test.bytes")
	if !utf8.ValidString(ev.data) || ev.data != "{\"path\":\"a\uFFFDb\"}" {
		t.Fatalf("data %q, want valid UTF-8 with U+FFFD", ev.data)
	}
}

// rawEvents opens the test store's file directly.
func rawEvents(t *testing.T, e *env) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", e.st.Path())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// TestBehindWithoutResumeCatchesUpFromOpen: a stream opened without an id
// that falls behind the ring catches up from where it opened, never from
// the first event stored.
func TestBehindWithoutResumeCatchesUpFromOpen(t *testing.T) {
	e := newEnv(t, events.Options{Ring: 4})
	ctx := context.Background()
	for range 10 {
		if _, err := e.st.AddEvent(ctx, "old.event", "", map[string]int{}); err != nil {
			t.Fatal(err)
		}
	}
	// The broker has read the old events once it passed a stored mark.
	m := e.open("", nil)
	if _, err := e.st.AddEvent(ctx, "test.mark", "", map[string]int{}); err != nil {
		t.Fatal(err)
	}
	e.broker.Poke()
	m.nextOf("test.mark")
	c := e.open("", nil)
	big := map[string]string{"pad": strings.Repeat("x", 64<<10)}
	const n = 200 // 12.5 MiB through a ring of 4: the stream falls behind
	for range n {
		if _, err := e.st.AddEvent(ctx, "test.big", "", big); err != nil {
			t.Fatal(err)
		}
	}
	e.broker.Poke()
	for i := range n {
		ev := c.next()
		if ev.typ != "test.big" {
			t.Fatalf("event %d: %s (id %s), want test.big: a stream replayed events from before it opened", i, ev.typ, ev.id)
		}
	}
}
