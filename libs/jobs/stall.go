package jobs

import (
	"errors"
	"fmt"
	"maps"
	"time"
)

// DefaultStallTimeout is how long a handler may go without a progress
// report before its run is cancelled as stalled, unless configured.
const DefaultStallTimeout = 10 * time.Minute

// stallRecheck bounds the wait between two stall checks of a run, so that
// a changed timeout (SetStallTimeouts) reaches running jobs soon.
const stallRecheck = time.Minute

// errStalled is the cause of a job context cancelled because its handler
// made no progress report for the stall timeout of its kind.
var errStalled = errors.New("job stalled: no progress reported")

// stalledMessage is the error stored with a job whose run stalled.
func stalledMessage(timeout time.Duration) string {
	return fmt.Sprintf("stalled: no progress for %s", timeout)
}

// SetStallTimeouts changes how long a handler may run without a progress
// report (Report or ReportETA; the clock starts when the handler starts)
// before its run is cancelled and the job failed as stalled, for example on
// a configuration reload. def applies to every kind without an entry in
// perKind; a duration <= 0 (def or an entry) switches stall detection off
// for the kinds it applies to. perKind is copied. Running jobs take the
// new timeouts at their next stall check, within a minute.
func (p *Pool) SetStallTimeouts(def time.Duration, perKind map[string]time.Duration) {
	p.mu.Lock()
	p.stallDefault = max(def, 0)
	p.stallPerKind = maps.Clone(perKind)
	p.mu.Unlock()
}

// StallTimeout returns the stall timeout of kind; 0 means off.
func (p *Pool) StallTimeout(kind string) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	if d, ok := p.stallPerKind[kind]; ok {
		return max(d, 0)
	}
	return p.stallDefault
}

// checkStall reports whether the run of a job of kind, whose handler last
// reported progress (or started) at alive, has stalled, with the timeout
// that applied; otherwise wait is how long until the next check.
func (p *Pool) checkStall(kind string, alive time.Time) (stalled bool, timeout, wait time.Duration) {
	timeout = p.StallTimeout(kind)
	if timeout <= 0 {
		return false, 0, stallRecheck
	}
	idle := p.opts.Now().Sub(alive)
	if idle >= timeout {
		return true, timeout, 0
	}
	return false, timeout, min(timeout-idle, stallRecheck)
}
