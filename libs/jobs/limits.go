package jobs

import (
	"maps"
	"time"
)

// SetLimits changes the per-kind concurrency limits: limits[kind] is the
// most jobs of that kind this pool runs at once; a kind without an entry
// (or with one <= 0) is bounded only by Workers. A handler abandoned after
// ignoring its cancellation counts for its kind until it returns. A kind
// at its limit is not claimed, and never keeps other kinds from being
// claimed. Lowering a limit does not interrupt running jobs. limits is
// copied.
func (p *Pool) SetLimits(limits map[string]int) {
	p.mu.Lock()
	p.kindLimits = maps.Clone(limits)
	p.mu.Unlock()
	select {
	case p.slotFreed <- struct{}{}:
	default:
	}
}

// Limits returns a copy of the per-kind concurrency limits.
func (p *Pool) Limits() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.kindLimits)
}

// claimableKinds returns the registered kinds that may be claimed now,
// sorted (as Kinds returns them): none while the pool is paused; not the
// kinds whose processing window is closed (SetWindow), nor those at their
// limit. reopen > 0 is how long until a window holding a kind back should
// be looked at again. Called by dispatch, the only goroutine that adds
// running jobs, so a kind listed here still has a slot when its job is
// claimed.
func (p *Pool) claimableKinds() (kinds []string, reopen time.Duration) {
	kinds = p.reg.Kinds()
	now := p.opts.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.paused {
		return nil, 0
	}
	out := kinds[:0]
	for _, k := range kinds {
		if n, ok := p.kindLimits[k]; ok && n > 0 && p.running[k] >= n {
			continue
		}
		if held, d := p.heldByWindow(k, now); held {
			if reopen == 0 || d < reopen {
				reopen = d
			}
			continue
		}
		out = append(out, k)
	}
	return out, reopen
}
