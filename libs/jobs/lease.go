package jobs

import "time"

// SetLease changes how long a claimed job stays leased without renewal
// (at least 1ms), for example on a configuration reload. Jobs claimed from
// now on get the new lease; running jobs take it at their next renewal,
// which then also follows the new interval (a third of the lease). The
// interval of the recovery of expired leases stays what it was at start.
func (p *Pool) SetLease(d time.Duration) {
	d = max(d, time.Millisecond)
	p.mu.Lock()
	p.opts.Lease = d
	p.mu.Unlock()
}

// Lease returns how long a claimed job stays leased without renewal.
func (p *Pool) Lease() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.opts.Lease
}

// renewEvery is how often a running job renews its lease.
func (p *Pool) renewEvery() time.Duration {
	return max(p.Lease()/3, time.Millisecond)
}
