package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Actor is one long-running part of a daemon.
//
// Run blocks until the actor is done and returns nil on a clean stop.
// Shutdown asks Run to return; its context carries the shutdown deadline and
// Shutdown should return once the actor has stopped or the deadline passed.
type Actor interface {
	Name() string
	Run(ctx context.Context) error
	Shutdown(ctx context.Context) error
}

// Logger is the little the group needs to report what it does.
type Logger interface {
	Infof(format string, args ...any)
	Warnf(format string, args ...any)
	Errorf(format string, args ...any)
}

// ErrStopTimeout is returned when an actor had not returned from Run by the
// shutdown deadline plus the grace period.
var ErrStopTimeout = errors.New("actors still running after the shutdown deadline")

// GroupOptions configures a Group.
type GroupOptions struct {
	// ShutdownTimeout bounds the whole shutdown: every Shutdown call shares
	// this deadline.
	ShutdownTimeout time.Duration
	// Grace is how long past the deadline the group still waits for Run to
	// return before giving up on an actor. Default 500ms.
	Grace time.Duration
	// OnShutdown runs once, first, when shutdown starts (mark not ready,
	// send STOPPING=1, …).
	OnShutdown func(reason string)
	Log        Logger
	// After is time.After; tests replace it.
	After func(time.Duration) <-chan time.Time
}

// Group runs actors and shuts them all down when the first returns.
type Group struct {
	opts   GroupOptions
	actors []Actor

	mu      sync.Mutex
	timeout time.Duration // ShutdownTimeout, changed by SetShutdownTimeout
}

// StopReasoner is an Actor that can say why its Run returned, such as the
// signal that ended it; the group then names that reason instead of
// "<name> stopped".
type StopReasoner interface {
	StopReason() string
}

// NewGroup returns an empty group.
func NewGroup(opts GroupOptions) *Group {
	if opts.Grace <= 0 {
		opts.Grace = 500 * time.Millisecond
	}
	if opts.After == nil {
		opts.After = time.After
	}
	return &Group{opts: opts, timeout: opts.ShutdownTimeout}
}

// SetShutdownTimeout changes the deadline of a shutdown that has not begun
// yet (e.g. on a configuration reload).
func (g *Group) SetShutdownTimeout(d time.Duration) {
	g.mu.Lock()
	g.timeout = d
	g.mu.Unlock()
}

// ShutdownTimeout returns the current shutdown deadline.
func (g *Group) ShutdownTimeout() time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.timeout
}

// Add appends an actor. On shutdown, actors are asked to stop one after
// the other in the order they were added (e.g. workers before the HTTP
// server, so /health answers 503 while jobs drain).
func (g *Group) Add(a Actor) { g.actors = append(g.actors, a) }

type result struct {
	actor Actor
	name  string
	err   error
}

// Run starts every actor and blocks until all have returned, or until the
// shutdown deadline plus grace has passed. It returns the first actor error
// (an actor that returned an error caused the shutdown), ErrStopTimeout when
// an actor did not stop in time, or nil.
func (g *Group) Run(ctx context.Context) error {
	if len(g.actors) == 0 {
		return nil
	}
	done := make(chan result, len(g.actors))
	for _, a := range g.actors {
		go func(a Actor) {
			done <- result{actor: a, name: a.Name(), err: a.Run(ctx)}
		}(a)
	}

	var first result
	running := len(g.actors)
	select {
	case first = <-done:
		running--
	case <-ctx.Done():
		first = result{name: "context", err: nil}
	}
	reason := first.name + " stopped"
	if r, ok := first.actor.(StopReasoner); ok && r.StopReason() != "" {
		reason = r.StopReason()
	}
	if first.err != nil {
		reason = fmt.Sprintf("%s failed: %v", first.name, first.err)
	}
	if g.opts.OnShutdown != nil {
		g.opts.OnShutdown(reason)
	}
	if first.err != nil {
		g.errorf("%s; shutting down", reason)
	} else {
		g.infof("shutdown started (%s)", reason)
	}

	timeout := g.ShutdownTimeout()
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	// Shutdown runs in the order actors were added, all sharing one
	// deadline, while the group keeps collecting Run results.
	shutdownDone := make(chan struct{})
	go func() {
		defer close(shutdownDone)
		for _, a := range g.actors {
			if err := a.Shutdown(shutdownCtx); err != nil {
				g.warnf("%s: shutdown: %v", a.Name(), err)
			}
		}
	}()

	giveUp := g.opts.After(timeout + g.opts.Grace)
	firstErr := first.err
	for running > 0 {
		select {
		case r := <-done:
			running--
			if r.err != nil {
				g.warnf("%s: %v", r.name, r.err)
				if firstErr == nil {
					firstErr = fmt.Errorf("%s: %w", r.name, r.err)
				}
			}
		case <-giveUp:
			g.errorf("%d actor(s) still running after the shutdown deadline; giving up on them", running)
			return ErrStopTimeout
		}
	}
	// Shutdown calls may still be finishing their bookkeeping; they are
	// bounded by shutdownCtx.
	select {
	case <-shutdownDone:
	case <-giveUp:
		g.errorf("shutdown steps still running after the shutdown deadline; giving up on them")
		return ErrStopTimeout
	}
	if first.err != nil {
		return fmt.Errorf("%s: %w", first.name, first.err)
	}
	return firstErr
}

func (g *Group) infof(f string, a ...any) {
	if g.opts.Log != nil {
		g.opts.Log.Infof(f, a...)
	}
}

func (g *Group) warnf(f string, a ...any) {
	if g.opts.Log != nil {
		g.opts.Log.Warnf(f, a...)
	}
}

func (g *Group) errorf(f string, a ...any) {
	if g.opts.Log != nil {
		g.opts.Log.Errorf(f, a...)
	}
}
