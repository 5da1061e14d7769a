package lifecycle

import (
	"os"
	"sync"
)

// FakeSignals stands in for the process's signal machinery.
type FakeSignals struct {
	mu     sync.Mutex
	subs   map[os.Signal]chan<- os.Signal
	Raised []os.Signal
}

// Notify implements signalSys.
func (f *FakeSignals) Notify(c chan<- os.Signal, sig ...os.Signal) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.subs == nil {
		f.subs = map[os.Signal]chan<- os.Signal{}
	}
	for _, s := range sig {
		f.subs[s] = c
	}
}

// Stop implements signalSys.
func (f *FakeSignals) Stop(c chan<- os.Signal) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for s, sc := range f.subs {
		if sc == c {
			delete(f.subs, s)
		}
	}
}

// Raise implements signalSys.
func (f *FakeSignals) Raise(sig os.Signal) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Raised = append(f.Raised, sig)
	return nil
}

// Send delivers sig like the runtime does: without blocking, and only when
// someone subscribed. It reports whether sig was subscribed.
func (f *FakeSignals) Send(sig os.Signal) bool {
	f.mu.Lock()
	c, ok := f.subs[sig]
	f.mu.Unlock()
	if ok {
		select {
		case c <- sig:
		default:
		}
	}
	return ok
}

// NewSignalsForTest lets tests deliver signals without touching the process.
func NewSignalsForTest(log Logger, fake *FakeSignals) *Signals {
	s := newSignals(fake, SignalChannels{})
	s.SetLog(log)
	return s
}

// NewNotifierForTest records what would be sent; the monotonic clock
// reads 1234µs.
func NewNotifierForTest(sent *[]string) *Notifier {
	return &Notifier{
		send:      func(s string) (bool, error) { *sent = append(*sent, s); return true, nil },
		monotonic: func() string { return "MONOTONIC_USEC=1234\n" },
	}
}
