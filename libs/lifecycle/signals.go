package lifecycle

import (
	"context"
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// Signals is an actor that returns when the first termination signal
// (SIGTERM or SIGINT) arrives. Later signals only log: there is exactly one
// shutdown.
type Signals struct {
	log    Logger
	ch     chan os.Signal
	stop   chan struct{}
	once   sync.Once
	notify func(chan<- os.Signal, ...os.Signal)
}

// NewSignals subscribes to SIGTERM and SIGINT at once, so signals that
// arrive before Run are not lost.
func NewSignals(log Logger) *Signals {
	return newSignals(log, signal.Notify)
}

func newSignals(log Logger, notify func(chan<- os.Signal, ...os.Signal)) *Signals {
	s := &Signals{
		log:    log,
		ch:     make(chan os.Signal, 4),
		stop:   make(chan struct{}),
		notify: notify,
	}
	s.notify(s.ch, syscall.SIGTERM, syscall.SIGINT)
	return s
}

// SetLog replaces the logger; call it before Run (e.g. once the daemon's
// configured logger exists).
func (s *Signals) SetLog(log Logger) { s.log = log }

// Name implements Actor.
func (s *Signals) Name() string { return "signals" }

// Run implements Actor: it returns nil on the first signal, or when
// Shutdown is called. Signals that follow are logged until Close.
func (s *Signals) Run(ctx context.Context) error {
	select {
	case sig := <-s.ch:
		s.log.Infof("received %s, shutting down gracefully", sig)
	case <-s.stop:
	case <-ctx.Done():
	}
	go s.logLater()
	return nil
}

func (s *Signals) logLater() {
	for {
		select {
		case sig := <-s.ch:
			s.log.Warnf("received %s again; shutdown already in progress", sig)
		case <-s.stop:
			return
		}
	}
}

// Shutdown implements Actor.
func (s *Signals) Shutdown(context.Context) error {
	s.once.Do(func() { close(s.stop) })
	return nil
}

// Close stops logging signals. The subscription stays, so a signal that
// arrives while the process finishes its exit is ignored rather than
// killing it: there is one shutdown, and it ends with the process's own
// exit code.
func (s *Signals) Close() {
	s.once.Do(func() { close(s.stop) })
}
