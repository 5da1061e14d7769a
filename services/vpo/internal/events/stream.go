package events

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/vpo-project/vpo/libs/store"
)

// retryMillis is what streams tell EventSource clients to wait before
// reconnecting (after a restart of the daemon, say).
const retryMillis = 3000

// ringBatch is how many ring entries a stream takes at once.
const ringBatch = 256

// Handler serves GET /api/events: a text/event-stream of the events from
// now on, or from after the id in the Last-Event-ID header (or the
// last_event_id query parameter, for a first connection), optionally
// filtered by ?types=job.progress,queue (a type, or a prefix ending at a
// dot) and ?job=ID.
func (b *Broker) Handler() http.Handler {
	return http.HandlerFunc(b.serve)
}

// filter selects the events a stream wants.
type filter struct {
	types []string
	job   string
}

var typeToken = regexp.MustCompile(`^[a-z][a-z_]*(\.[a-z_]+)*$`)

func parseFilter(r *http.Request) (filter, error) {
	var f filter
	q := r.URL.Query()
	if v := q.Get("types"); v != "" {
		for t := range strings.SplitSeq(v, ",") {
			t = strings.TrimSpace(t)
			if !typeToken.MatchString(t) {
				return f, fmt.Errorf("types: %q is not an event type or prefix (like job.progress or job)", t)
			}
			f.types = append(f.types, t)
		}
	}
	if v := q.Get("job"); v != "" {
		id, ok := store.CanonicalJobID(v)
		if !ok {
			return f, fmt.Errorf("job: %q is not a job id (a UUID)", v)
		}
		f.job = id
	}
	return f, nil
}

func (f filter) match(e store.Event) bool {
	if f.job != "" && e.JobID != f.job {
		return false
	}
	if len(f.types) == 0 {
		return true
	}
	for _, t := range f.types {
		if e.Type == t || strings.HasPrefix(e.Type, t+".") {
			return true
		}
	}
	return false
}

// lastEventID reads where a stream resumes: -1 when it does not.
func lastEventID(r *http.Request) (int64, error) {
	v := r.Header.Get("Last-Event-ID")
	name := "Last-Event-ID header"
	if v == "" {
		v, name = r.URL.Query().Get("last_event_id"), "last_event_id"
	}
	if v == "" {
		return -1, nil
	}
	id, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || id < 0 {
		return 0, fmt.Errorf("%s: %q is not an event id (a number >= 0)", name, v)
	}
	return id, nil
}

func writeError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

func (b *Broker) serve(w http.ResponseWriter, r *http.Request) {
	f, err := parseFilter(r)
	if err == nil {
		var last int64
		if last, err = lastEventID(r); err == nil {
			b.stream(w, r, f, last)
			return
		}
	}
	writeError(w, http.StatusBadRequest, err.Error())
}

func (b *Broker) stream(w http.ResponseWriter, r *http.Request, f filter, last int64) {
	if r.Method == http.MethodHead {
		h := w.Header()
		h.Set("Content-Type", "text/event-stream; charset=utf-8")
		h.Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
		return
	}
	closing, ok := b.open()
	if !ok {
		w.Header().Set("Retry-After", "5")
		writeError(w, http.StatusServiceUnavailable,
			fmt.Sprintf("no event stream available: at most %d open at once, or vpo is shutting down", b.opts.MaxStreams))
		return
	}
	s := &stream{b: b, w: w, rc: http.NewResponseController(w), f: f, last: max(last, 0), closing: closing}
	defer func() { b.release(s.dropped) }()
	// At shutdown a write blocked on a client that does not read must end
	// at once, not at its deadline.
	ended := make(chan struct{})
	defer close(ended)
	go func() {
		select {
		case <-closing:
			s.abort()
		case <-ended:
		}
	}()
	// Where "from now on" starts: before the answer goes out, so that a
	// client that saw the 200 gets every event stored after it.
	pos, newest := b.tail()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: pass events on at once
	w.WriteHeader(http.StatusOK)
	ctx := r.Context()
	fmt.Fprintf(&s.buf, "retry: %d\n: vpo events\n\n", retryMillis)
	if !s.flush(ctx) {
		return
	}
	if last < 0 {
		// From now on: were it ever to fall behind the ring, it would
		// catch up from here, not from the first event stored.
		s.last = newest
	}
	if last >= 0 {
		if !s.resume(ctx) {
			return
		}
		var ok bool
		if pos, ok = s.catchUpToRing(ctx); !ok {
			return
		}
	}
	beat := time.NewTicker(b.opts.Heartbeat)
	defer beat.Stop()
	for {
		entries, next, wait, behind := b.since(pos, ringBatch)
		if behind {
			// Overwritten before this stream read it: from the store.
			var ok bool
			if pos, ok = s.catchUpToRing(ctx); !ok {
				return
			}
			continue
		}
		for _, e := range entries {
			s.add(e.ev)
		}
		pos = next
		if s.buf.Len() > 0 && !s.flush(ctx) {
			return
		}
		if len(entries) == ringBatch {
			continue
		}
		select {
		case <-wait:
		case <-beat.C:
			s.buf.WriteString(": heartbeat\n\n")
			if !s.flush(ctx) {
				return
			}
		case <-closing:
			return
		case <-ctx.Done():
			return
		}
	}
}

// flushBytes is how much a stream buffers before it writes.
const flushBytes = 64 << 10

// stream is one open /api/events response.
type stream struct {
	b       *Broker
	w       http.ResponseWriter
	rc      *http.ResponseController
	f       filter
	buf     strings.Builder
	last    int64 // the newest stored event id this stream has passed
	dropped bool
	closing <-chan struct{}
	aborted atomic.Bool
}

// abort ends a write in progress (shutdown): its deadline is now.
func (s *stream) abort() {
	s.aborted.Store(true)
	_ = s.rc.SetWriteDeadline(time.Unix(1, 0))
}

// add writes e to the buffer unless the stream passed it already or does
// not want it.
func (s *stream) add(e store.Event) {
	if e.ID != 0 {
		if e.ID <= s.last {
			return
		}
		s.last = e.ID
	}
	if !s.f.match(e) {
		return
	}
	if e.ID != 0 {
		fmt.Fprintf(&s.buf, "id: %d\n", e.ID)
	}
	data := e.Data
	if !utf8.Valid(data) {
		// A file name or a tool's output that is not UTF-8, copied into
		// the event by the database: the stream is UTF-8.
		data = bytes.ToValidUTF8(data, []byte("\uFFFD"))
	}
	fmt.Fprintf(&s.buf, "event: %s\ndata: %s\n\n", e.Type, data)
}

// resume checks the id a client resumes from against the feed: an id
// beyond its newest event (a client of a database since replaced) is
// announced as lost, and the stream goes on from the newest.
func (s *stream) resume(ctx context.Context) bool {
	var newest int64
	err := s.withRead(ctx, func() (err error) {
		_, newest, err = s.b.src.EventBounds(ctx)
		return err
	})
	if err != nil {
		s.readFailed(ctx, err)
		return false
	}
	if s.last > newest {
		s.lost(s.last, newest+1)
		s.last = newest
	}
	return true
}

// lost announces that the events after after and before next are gone
// (pruned, or a database since replaced), after which a client reloads its
// state. Its id is next-1, so that a client that reconnects resumes there.
func (s *stream) lost(after, next int64) {
	fmt.Fprintf(&s.buf, "id: %d\nevent: lost\ndata: {\"after\":%d,\"next\":%d}\n\n", next-1, after, next)
}

// readFailed logs why a read of the store ended the stream, unless the
// client left or vpo is shutting down.
func (s *stream) readFailed(ctx context.Context, err error) {
	if ctx.Err() == nil && !errors.Is(err, errClosing) {
		s.b.log.WithError(err).Warn("event stream ended: cannot read the event feed")
	}
}

// catchUp writes the stored events after s.last, reading the store until
// it has no more; a gap (events pruned before this stream read them) is
// announced as lost.
func (s *stream) catchUp(ctx context.Context) bool {
	for {
		evs, err := s.readStore(ctx)
		if err != nil {
			s.readFailed(ctx, err)
			return false
		}
		if len(evs) > 0 && evs[0].ID > s.last+1 {
			s.lost(s.last, evs[0].ID)
		}
		for _, e := range evs {
			s.add(e)
			if s.buf.Len() >= flushBytes && !s.flush(ctx) {
				return false
			}
		}
		if s.buf.Len() > 0 && !s.flush(ctx) {
			return false
		}
		if len(evs) < readBatch {
			return true
		}
	}
}

// catchUpToRing reads the store until the ring holds what follows, and
// returns the ring position to go on from; ok is false when the stream
// must end.
func (s *stream) catchUpToRing(ctx context.Context) (pos int64, ok bool) {
	for {
		if !s.catchUp(ctx) {
			return 0, false
		}
		if pos, ok := s.b.positionAfter(s.last); ok {
			return pos, true
		}
	}
}

// readStore reads one batch of stored events after s.last, holding one of
// the catchUps tokens so that streams never take every read connection of
// the database.
func (s *stream) readStore(ctx context.Context) (evs []store.Event, err error) {
	err = s.withRead(ctx, func() (err error) {
		evs, err = s.b.src.EventsAfter(ctx, s.last, readBatch)
		return err
	})
	return evs, err
}

// withRead runs read, a read of the store, holding one of the catchUps
// tokens.
func (s *stream) withRead(ctx context.Context, read func() error) error {
	select {
	case s.b.reading <- struct{}{}:
	case <-s.closing:
		return errClosing
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-s.b.reading }()
	return read()
}

var errClosing = errors.New("vpo is shutting down")

// flush sends the buffer; a write that blocks longer than WriteStall (a
// client that does not read) drops the stream.
func (s *stream) flush(ctx context.Context) bool {
	if s.aborted.Load() {
		return false
	}
	_ = s.rc.SetWriteDeadline(time.Now().Add(s.b.opts.WriteStall))
	if s.aborted.Load() { // abort ran between the check and the deadline
		_ = s.rc.SetWriteDeadline(time.Unix(1, 0))
		return false
	}
	_, err := io.WriteString(s.w, s.buf.String())
	s.buf.Reset()
	if err == nil {
		err = s.rc.Flush()
	}
	if err != nil {
		if s.aborted.Load() || (!errors.Is(err, os.ErrDeadlineExceeded) && ctx.Err() != nil) {
			return false // shutdown, or the client went away
		}
		s.dropped = true
		s.b.log.WithError(err).Info("event stream dropped: the client does not read fast enough or went away")
		return false
	}
	return true
}
