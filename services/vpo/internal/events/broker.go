package events

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/vpo-project/vpo/libs/store"
)

// Source is the change feed the broker tails (the store).
type Source interface {
	EventsAfter(ctx context.Context, after int64, limit int) ([]store.Event, error)
	EventBounds(ctx context.Context) (oldest, newest int64, err error)
}

// Defaults of Options.
const (
	DefaultPoll       = 250 * time.Millisecond
	DefaultRing       = 4096
	DefaultHeartbeat  = 15 * time.Second
	DefaultMaxStreams = 256
	DefaultWriteStall = 10 * time.Second
	DefaultRingBytes  = 16 << 20
	// readBatch is how many events one read of the store takes: the
	// broker's, and a stream's catching up (whose buffer is flushed every
	// flushBytes).
	readBatch = 200
	// catchUps bounds the streams reading the store at once, so that
	// clients resuming from far back leave the database's read
	// connections to the rest of the daemon (the health check).
	catchUps = 2
)

// Options configures a Broker. Zero fields take the defaults.
type Options struct {
	// Poll is how often the store is read for new events when nothing
	// pokes the broker (changes made by other processes). Default 250ms.
	Poll time.Duration
	// Ring is how many recent events are kept in memory. Default 4096.
	Ring int
	// RingBytes bounds the data of the events kept in memory. Default
	// 16 MiB.
	RingBytes int
	// Heartbeat is the interval of the comment lines that keep an idle
	// stream open through proxies. Default 15s.
	Heartbeat time.Duration
	// MaxStreams bounds the open streams; one more is answered 503.
	// Default 256.
	MaxStreams int
	// WriteStall is how long one write to a stream may block before the
	// stream is dropped as too slow. Default 10s.
	WriteStall time.Duration
	// OnEvent, when set, is called with every stored event the broker
	// reads, in order, whichever node wrote it (it must not block).
	OnEvent func(store.Event)
	Log     *logrus.Entry
}

// entry is an event in the ring: pos is its place in the ring's sequence
// (every event, the daemon's own included); ev.ID is 0 for the daemon's
// own events, which are not stored and cannot be resumed from.
type entry struct {
	pos int64
	ev  store.Event
}

// Broker tails the store's events and fans them out to the streams.
// Create it with New, run it with Run (an actor of the daemon's run
// group); Shutdown ends every stream.
type Broker struct {
	src  Source
	opts Options
	log  *logrus.Entry
	poke chan struct{}

	reading chan struct{} // a token per stream reading the store (catchUps)

	mu      sync.Mutex
	ring    []entry // ring[pos % len(ring)], for oldest <= pos < next
	oldest  int64   // pos of the oldest entry kept
	next    int64   // pos of the next entry
	bytes   int     // data bytes of the entries kept
	lastID  int64   // newest store id read
	primed  bool    // lastID was set from the store
	changed chan struct{}
	closing chan struct{}
	closed  bool
	streams int
	dropped int64
}

// New returns a broker over src.
func New(src Source, opts Options) *Broker {
	if opts.Poll <= 0 {
		opts.Poll = DefaultPoll
	}
	if opts.Ring <= 0 {
		opts.Ring = DefaultRing
	}
	if opts.RingBytes <= 0 {
		opts.RingBytes = DefaultRingBytes
	}
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = DefaultHeartbeat
	}
	if opts.MaxStreams <= 0 {
		opts.MaxStreams = DefaultMaxStreams
	}
	if opts.WriteStall <= 0 {
		opts.WriteStall = DefaultWriteStall
	}
	log := opts.Log
	if log == nil {
		l := logrus.New()
		l.SetLevel(logrus.PanicLevel)
		log = logrus.NewEntry(l)
	}
	return &Broker{
		src: src, opts: opts, log: log,
		poke:    make(chan struct{}, 1),
		reading: make(chan struct{}, catchUps),
		ring:    make([]entry, opts.Ring),
		changed: make(chan struct{}),
		closing: make(chan struct{}),
	}
}

// Name names the broker in the run group's log lines.
func (b *Broker) Name() string { return "events" }

// Run tails the store until ctx ends or Shutdown. It starts after the
// newest stored event: streams get what happens from now on, or resume
// from an id they saw (read from the store).
func (b *Broker) Run(ctx context.Context) error {
	t := time.NewTicker(b.opts.Poll)
	defer t.Stop()
	failing := false
	for {
		err := b.read(ctx)
		switch {
		case err != nil && ctx.Err() == nil && !failing:
			b.log.WithError(err).Warn("cannot read the event feed; retrying")
			failing = true
		case err == nil && failing:
			b.log.Info("reading the event feed again")
			failing = false
		}
		select {
		case <-ctx.Done():
			return nil
		case <-b.closing:
			return nil
		case <-b.poke:
		case <-t.C:
		}
	}
}

// Shutdown ends every stream (they must not hold the HTTP server's
// shutdown up) and stops Run; new streams are refused with 503.
func (b *Broker) Shutdown(context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.closed {
		b.closed = true
		close(b.closing)
	}
	return nil
}

// Prime makes the broker start after the newest stored event. Call it
// before streams are served: a stream that opened before the broker knew
// where the feed stood could miss events stored meanwhile. Run primes a
// broker that was not.
func (b *Broker) Prime(ctx context.Context) error {
	_, newest, err := b.src.EventBounds(ctx)
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.primed {
		b.lastID, b.primed = newest, true
	}
	return nil
}

// Poke makes Run read the store now, after a local change.
func (b *Broker) Poke() {
	select {
	case b.poke <- struct{}{}:
	default:
	}
}

// read appends the store's new events to the ring.
func (b *Broker) read(ctx context.Context) error {
	b.mu.Lock()
	primed, after := b.primed, b.lastID
	b.mu.Unlock()
	if !primed {
		if err := b.Prime(ctx); err != nil {
			return err
		}
		b.mu.Lock()
		after = b.lastID
		b.mu.Unlock()
	}
	for {
		evs, err := b.src.EventsAfter(ctx, after, readBatch)
		if err != nil {
			return err
		}
		if len(evs) == 0 {
			return nil
		}
		b.mu.Lock()
		for _, e := range evs {
			b.appendLocked(e)
		}
		b.lastID = evs[len(evs)-1].ID
		b.mu.Unlock()
		if b.opts.OnEvent != nil {
			for _, e := range evs {
				b.opts.OnEvent(e)
			}
		}
		after = evs[len(evs)-1].ID
		if len(evs) < readBatch {
			return nil
		}
	}
}

// appendLocked adds e to the ring, dropping the oldest entries beyond the
// ring's bounds, and wakes the streams; b.mu is held.
func (b *Broker) appendLocked(e store.Event) {
	for b.oldest < b.next && (b.next-b.oldest >= int64(len(b.ring)) || b.bytes+len(e.Data) > b.opts.RingBytes) {
		i := b.oldest % int64(len(b.ring))
		b.bytes -= len(b.ring[i].ev.Data)
		b.ring[i] = entry{}
		b.oldest++
	}
	b.ring[b.next%int64(len(b.ring))] = entry{pos: b.next, ev: e}
	b.bytes += len(e.Data)
	b.next++
	close(b.changed)
	b.changed = make(chan struct{})
}

// Publish adds one of the daemon's own events (not stored: a health
// change) to the streams; data must encode to a JSON object.
func (b *Broker) Publish(typ string, data any) {
	raw, err := json.Marshal(data)
	if err != nil {
		b.log.WithError(err).WithField("type", typ).Warn("event not published: its data does not encode")
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.appendLocked(store.Event{At: time.Now().UTC(), Type: typ, Data: raw})
}

// since returns the ring's entries from pos on (at most max), the pos to
// read next, and a channel closed when more arrive. behind reports that
// entries from pos on were overwritten already: the caller must catch up
// from the store.
func (b *Broker) since(pos int64, max int) (out []entry, next int64, wait <-chan struct{}, behind bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if pos < b.oldest {
		return nil, pos, b.changed, true
	}
	for p := pos; p < b.next && len(out) < max; p++ {
		out = append(out, b.ring[p%int64(len(b.ring))])
	}
	return out, pos + int64(len(out)), b.changed, false
}

// positionAfter returns the ring position of the first stored event with
// an id greater than id, or the end of the ring when there is none yet.
// ok is false when the ring no longer holds the event right after id (it
// was read into the ring and dropped again while the caller read the
// store): the caller must read the store again first.
func (b *Broker) positionAfter(id int64) (pos int64, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for p := b.oldest; p < b.next; p++ {
		if e := b.ring[p%int64(len(b.ring))]; e.ev.ID > id {
			return p, e.ev.ID == id+1
		}
	}
	return b.next, true
}

// tail returns the position at the end of the ring, where a new stream
// starts, and the id of the newest stored event read into the ring.
func (b *Broker) tail() (pos, lastID int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.next, b.lastID
}

// open counts a new stream in, or refuses it (too many, or closing).
func (b *Broker) open() (closing <-chan struct{}, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed || b.streams >= b.opts.MaxStreams {
		return nil, false
	}
	b.streams++
	return b.closing, true
}

func (b *Broker) release(dropped bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.streams--
	if dropped {
		b.dropped++
	}
}

// Stats reports the open streams and how many were dropped as too slow.
func (b *Broker) Stats() (streams int, dropped int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.streams, b.dropped
}
