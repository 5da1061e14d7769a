package health

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// probe runs a Checker on behalf of many concurrent callers: at most one
// check is in flight, callers that arrive meanwhile wait for its result, and
// a result is reused for cacheFor.
type probe struct {
	checker  Checker
	timeout  time.Duration
	cacheFor time.Duration // < 0: never reuse a finished result
	now      func() time.Time
	changed  func() // called when a check's outcome differs from the last

	mu       sync.Mutex
	inflight *probeCall // callers are waiting for this check
	running  bool       // the checker has not returned yet (may outlive inflight)
	last     probeResult
}

// probeCall is one check shared by every caller that waits for it.
type probeCall struct {
	done chan struct{} // closed when err is set
	err  error
}

type probeResult struct {
	valid bool
	at    time.Time
	err   error
}

// check returns the result of a recent, the running or a new check, or the
// error of ctx if it ends first.
func (p *probe) check(ctx context.Context) error {
	if p.checker == nil {
		return errors.New("database check not configured")
	}

	p.mu.Lock()
	if p.last.valid && p.cacheFor >= 0 && p.now().Sub(p.last.at) < p.cacheFor {
		err := p.last.err
		p.mu.Unlock()
		return err
	}
	call := p.inflight
	if call == nil {
		if p.running {
			// The last check outlived its timeout and still holds the
			// database; do not stack another one on top of it.
			err := errors.New("database check: previous check still running")
			p.last = probeResult{valid: true, at: p.now(), err: err}
			p.mu.Unlock()
			return err
		}
		call = &probeCall{done: make(chan struct{})}
		p.inflight = call
		p.running = true
		// Detached from the first caller's cancellation so that its
		// going away does not fail the check for everyone else; bounded
		// by the timeout instead.
		go p.run(context.WithoutCancel(ctx), call)
	}
	p.mu.Unlock()

	select {
	case <-call.done:
		return call.err
	case <-ctx.Done():
		return fmt.Errorf("database check: %w", ctx.Err())
	}
}

// run performs the check for call and publishes its result. The result is
// ready after timeout even if the checker ignores its context.
func (p *probe) run(ctx context.Context, call *probeCall) {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()

	result := make(chan error, 1)
	go func() {
		err := p.invoke(ctx)
		p.mu.Lock()
		p.running = false
		p.mu.Unlock()
		result <- err
	}()

	var err error
	select {
	case err = <-result:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		err = fmt.Errorf("database check: %w", err)
	}

	p.mu.Lock()
	differs := p.last.valid && errText(p.last.err) != errText(err)
	p.last = probeResult{valid: true, at: p.now(), err: err}
	p.inflight = nil
	p.mu.Unlock()
	if differs && p.changed != nil {
		p.changed()
	}

	call.err = err
	close(call.done)
}

// invoke calls the checker, turning a panic into an error: a broken check
// must not take the daemon down.
func (p *probe) invoke(ctx context.Context) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("checker panicked: %v", r)
		}
	}()
	return p.checker.Check(ctx)
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
