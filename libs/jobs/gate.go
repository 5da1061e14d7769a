package jobs

import (
	"errors"
	"slices"
	"time"
)

// Window is a processing window: the times at which jobs of the scheduled
// kinds may be claimed (config.Schedule satisfies it). Open reports whether
// t lies in the window; NextOpen returns the first time at or after t at
// which it is open (t itself when Open(t)).
type Window interface {
	Open(t time.Time) bool
	NextOpen(t time.Time) time.Time
}

// errPaused is the cause of a job context cancelled because the queue was
// paused without drain.
var errPaused = errors.New("queue paused")

// gateRecheck bounds the wait of a pool whose window is closed before it
// looks at the window again, so that a clock set forward or back (or a
// window changed by SetWindow) is noticed.
const gateRecheck = time.Minute

// gateMinWait is the shortest wait for a window to open, so that a window
// whose NextOpen lies in the past while it is closed cannot make the pool
// spin.
const gateMinWait = 10 * time.Millisecond

// SetWindow sets the processing window of kinds: while w is closed, no job
// of those kinds is claimed (jobs of them that run go on to their end);
// other kinds are not affected. A nil w (or no kinds) means always open.
// The pool looks for jobs again when w opens (it wakes at w.NextOpen).
// kinds is copied.
func (p *Pool) SetWindow(w Window, kinds []string) {
	p.mu.Lock()
	p.window = w
	p.windowKinds = slices.Clone(kinds)
	p.mu.Unlock()
	p.slotFree()
	p.Notify()
}

// WindowOpen reports whether the processing window is open now, and, when
// it is closed, when it opens next. A pool without a window (or with no
// scheduled kinds) is always open.
func (p *Pool) WindowOpen() (open bool, next time.Time) {
	p.mu.Lock()
	w, kinds := p.window, len(p.windowKinds)
	p.mu.Unlock()
	if w == nil || kinds == 0 {
		return true, time.Time{}
	}
	now := p.opts.Now()
	if w.Open(now) {
		return true, time.Time{}
	}
	return false, w.NextOpen(now)
}

// Pause stops the pool from claiming jobs until Resume. With drain, the
// jobs that run go on to their end; without it they are interrupted at
// once: their handlers' contexts are cancelled and the jobs requeued
// without spending an attempt, as at a shutdown (a handler that ignores
// its cancellation is abandoned after ShutdownGrace, as then). Pausing a
// paused pool without drain interrupts what its draining still runs.
// Pause may be called before Run (a pause restored at start).
func (p *Pool) Pause(drain bool) {
	p.mu.Lock()
	was, wasDrain := p.paused, p.drain
	p.paused, p.drain = true, drain
	var interrupt []*claimRun
	if !drain {
		for _, r := range p.runs {
			interrupt = append(interrupt, r)
		}
	}
	p.mu.Unlock()
	switch {
	case was && wasDrain == drain:
		return
	case drain:
		p.log.WithField("running", p.Active()).Info("queue paused: no new job is claimed; running jobs finish (drain)")
	default:
		p.log.WithField("running", len(interrupt)).Info("queue paused: no new job is claimed; running jobs are interrupted and requeued")
	}
	for _, r := range interrupt {
		r.pause()
	}
}

// Resume lets a paused pool claim jobs again.
func (p *Pool) Resume() {
	p.mu.Lock()
	was := p.paused
	p.paused, p.drain = false, false
	p.mu.Unlock()
	if !was {
		return
	}
	p.log.Info("queue resumed: claiming jobs again")
	p.slotFree()
	p.Notify()
}

// Paused reports whether the pool is paused, and whether that pause lets
// running jobs finish (drain).
func (p *Pool) Paused() (paused, drain bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.paused, p.drain
}

// pausedHard reports whether the pool is paused without drain.
func (p *Pool) pausedHard() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.paused && !p.drain
}

// heldByWindow reports, with p.mu held, whether kind is outside its
// processing window at now, and if so how long until the window opens
// (bounded by gateRecheck and gateMinWait).
func (p *Pool) heldByWindow(kind string, now time.Time) (held bool, reopen time.Duration) {
	if p.window == nil || !slices.Contains(p.windowKinds, kind) || p.window.Open(now) {
		return false, 0
	}
	return true, min(max(p.window.NextOpen(now).Sub(now), gateMinWait), gateRecheck)
}

// pause interrupts the run: its handler's context is cancelled and its
// job requeued (see runJob). Idempotent.
func (r *claimRun) pause() {
	r.pauseOnce.Do(func() { close(r.paused) })
}
