package jobs

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/vpo-project/vpo/libs/logging"
	"github.com/vpo-project/vpo/libs/store"
)

// Defaults applied by NewPool to zero PoolOptions fields.
const (
	DefaultLease            = 30 * time.Second
	DefaultPollInterval     = time.Second
	DefaultShutdownGrace    = time.Second
	DefaultProgressInterval = time.Second

	// writeTimeout is how long Shutdown waits, beyond ShutdownGrace, for
	// interrupted jobs to be requeued.
	writeTimeout = 10 * time.Second
	// errorBackoff bounds the wait after a failed claim.
	errorBackoff = 5 * time.Second
)

// PoolOptions configures a Pool. Zero fields take the defaults documented
// on each field.
type PoolOptions struct {
	// Workers is the maximum number of jobs run at once. Default
	// runtime.GOMAXPROCS(0).
	Workers int
	// Lease is how long a claimed job stays reserved to this pool without
	// renewal; running jobs renew it every Lease/3. Default 30s.
	Lease time.Duration
	// PollInterval is how often an idle pool looks for jobs inserted by
	// other processes; local submitters call Notify instead. Default 1s.
	PollInterval time.Duration
	// RecoverInterval is how often expired leases (of crashed workers) are
	// recovered; recovery also runs when Run starts. Each recovery first
	// renews the leases of the jobs this pool runs. Default Lease.
	RecoverInterval time.Duration
	// ShutdownGrace is how long Shutdown waits, after cancelling and
	// requeueing the jobs still running at its deadline, for their handlers
	// to return before abandoning them; handlers cancelled as stalled or
	// by their user get as long. Default 1s.
	ShutdownGrace time.Duration
	// ProgressInterval is the minimum interval between two progress writes
	// of one job. Default 1s.
	ProgressInterval time.Duration
	// Owner identifies this pool in leases. Default "hostname:pid:random".
	Owner string
	// Log receives the pool's log lines. Default: discard.
	Log *logrus.Entry
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// StallTimeout is how long a handler may run without a progress report
	// (the clock starts when it starts) before its run is cancelled and
	// the job failed as stalled ("stalled: no progress for 10m0s"), to be
	// retried while it has attempts left. Default DefaultStallTimeout; a
	// negative value switches stall detection off. See SetStallTimeouts.
	StallTimeout time.Duration
	// StallTimeouts overrides StallTimeout per job kind; an entry <= 0
	// switches stall detection off for its kind.
	StallTimeouts map[string]time.Duration
	// Observer is told of claims, ends of runs, stalls and lost leases
	// (metrics). Default: nobody.
	Observer Observer
	// Limits bounds the number of jobs of a kind this pool runs at once
	// (kind → limit); kinds without an entry are bounded only by Workers.
	// See SetLimits.
	Limits map[string]int
}

// Causes of a job context's cancellation.
var (
	errCancelRequested = errors.New("job cancellation requested")
	errLeaseLost       = errors.New("job lease lost")
	errShutdown        = errors.New("worker pool shutting down")
)

type poolState int

const (
	stateIdle poolState = iota
	stateRunning
	stateStopped
)

// Pool claims queued jobs and runs them with at most Workers at a time.
// Create it with NewPool, start it with Run, stop it with Shutdown.
type Pool struct {
	q     Queue
	reg   *Registry
	opts  PoolOptions
	log   *logrus.Entry
	owner string

	wake      chan struct{} // Notify tokens, capacity 1
	slotFreed chan struct{} // capacity became available, capacity 1
	stopping  chan struct{} // closed: stop claiming
	interrupt chan struct{} // closed: cancel and requeue running jobs
	done      chan struct{} // closed when Run has returned (or never will run)
	started   chan struct{} // closed when Run has started

	stopOnce      sync.Once
	interruptOnce sync.Once
	jobs          sync.WaitGroup
	// handlers counts the job handlers running, abandoned ones included.
	handlers sync.WaitGroup

	mu           sync.Mutex
	state        poolState
	limit        int
	active       int
	running      map[string]int           // kind → jobs of that kind running now
	kindLimits   map[string]int           // kind → most jobs of that kind at once (SetLimits)
	stallDefault time.Duration            // 0: off (SetStallTimeouts)
	stallPerKind map[string]time.Duration // overrides of stallDefault
	runs         map[string]*claimRun     // running job id → the run of its latest claim
	paused       bool                     // Pause: claim nothing
	drain        bool                     // the pause lets running jobs finish
	window       Window                   // SetWindow; nil: always open
	windowKinds  []string                 // the kinds window holds back while closed
}

// NewPool returns a pool that takes jobs from q and runs them with the
// handlers of reg.
func NewPool(q Queue, reg *Registry, opts PoolOptions) *Pool {
	if opts.Workers <= 0 {
		opts.Workers = runtime.GOMAXPROCS(0)
	}
	if opts.Lease <= 0 {
		opts.Lease = DefaultLease
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = DefaultPollInterval
	}
	if opts.RecoverInterval <= 0 {
		opts.RecoverInterval = opts.Lease
	}
	if opts.ShutdownGrace <= 0 {
		opts.ShutdownGrace = DefaultShutdownGrace
	}
	if opts.ProgressInterval <= 0 {
		opts.ProgressInterval = DefaultProgressInterval
	}
	if opts.Owner == "" {
		opts.Owner = defaultOwner()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.StallTimeout == 0 {
		opts.StallTimeout = DefaultStallTimeout
	}
	if opts.Observer == nil {
		opts.Observer = nopObserver{}
	}
	log := opts.Log
	if log == nil {
		log = logging.Discard()
	}
	return &Pool{
		q:            q,
		reg:          reg,
		opts:         opts,
		log:          log,
		owner:        opts.Owner,
		wake:         make(chan struct{}, 1),
		slotFreed:    make(chan struct{}, 1),
		stopping:     make(chan struct{}),
		interrupt:    make(chan struct{}),
		done:         make(chan struct{}),
		started:      make(chan struct{}),
		limit:        opts.Workers,
		running:      make(map[string]int),
		kindLimits:   maps.Clone(opts.Limits),
		stallDefault: max(opts.StallTimeout, 0),
		stallPerKind: maps.Clone(opts.StallTimeouts),
		runs:         make(map[string]*claimRun),
	}
}

func defaultOwner() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown"
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s:%d:%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

// Owner returns the lease owner name of this pool.
func (p *Pool) Owner() string { return p.owner }

// Run claims and runs jobs until Shutdown is called or ctx is cancelled,
// then returns nil once every running job has finished, been requeued or
// been abandoned. Expired leases are recovered when Run starts and every
// RecoverInterval. Cancelling ctx is an immediate shutdown: running jobs
// are cancelled and requeued at once (use Shutdown for a graceful stop).
// Run may be called once; if Shutdown came first it returns nil at once.
func (p *Pool) Run(ctx context.Context) error {
	p.mu.Lock()
	switch p.state {
	case stateRunning:
		p.mu.Unlock()
		return errors.New("run worker pool: already running")
	case stateStopped:
		p.mu.Unlock()
		return nil
	}
	p.state = stateRunning
	close(p.started)
	p.mu.Unlock()
	defer close(p.done)
	defer func() {
		p.mu.Lock()
		p.state = stateStopped
		p.mu.Unlock()
	}()

	stopWatch := context.AfterFunc(ctx, func() {
		p.log.Info("worker pool context cancelled: interrupting running jobs")
		p.stop()
		p.interruptNow()
	})
	defer stopWatch()

	// Storage calls are not cut by ctx: interrupted jobs must still be
	// requeued. Each wait below also watches p.stopping.
	base := context.WithoutCancel(ctx)
	p.log.WithFields(logrus.Fields{
		"workers": p.Workers(), "owner": p.owner, "lease": p.Lease().String(), "kinds": strings.Join(p.reg.Kinds(), ","),
	}).Info("worker pool started")

	p.recoverExpired(base)
	var bg sync.WaitGroup
	bg.Go(func() { p.recoverLoop(base) })

	p.dispatch(base)

	p.jobs.Wait()
	bg.Wait()
	p.log.Info("worker pool stopped")
	return nil
}

// dispatch claims jobs while there is capacity, until stopping.
func (p *Pool) dispatch(ctx context.Context) {
	timer := time.NewTimer(p.opts.PollInterval)
	defer timer.Stop()
	// reopen > 0: a processing window holds kinds back; look again then.
	var reopen time.Duration
	wait := func(d time.Duration) bool {
		if reopen > 0 {
			d = min(d, reopen)
		}
		timer.Reset(d)
		select {
		case <-p.wake:
			return true
		case <-timer.C:
			return true
		case <-p.stopping:
			return false
		}
	}
	claimFailing := false
	for {
		if !p.waitSlot() {
			return
		}
		// Only kinds this pool can run are claimed: a job of another kind
		// (queued by a newer version, or a kind switched off) stays queued
		// with its attempts untouched for a process that has it. Nor are
		// kinds at their limit (SetLimits): their jobs wait for a slot of
		// their kind while other kinds take the free workers. Nothing is
		// claimed while the queue is paused, nor kinds whose processing
		// window is closed (see SetWindow, Pause).
		var kinds []string
		kinds, reopen = p.claimableKinds()
		if len(kinds) == 0 {
			if !p.waitKindSlot(reopen) {
				return
			}
			continue
		}
		job, ok, err := p.q.ClaimJob(ctx, p.owner, kinds, p.Lease(), p.opts.Now())
		if err != nil {
			// Logged once while it lasts (a database outage would
			// otherwise log every second), and its end once.
			if !claimFailing {
				p.log.WithError(err).Error("claim job: no job is started while this lasts (retrying)")
				claimFailing = true
			}
			if !wait(min(p.opts.PollInterval, errorBackoff)) {
				return
			}
			continue
		}
		if claimFailing {
			claimFailing = false
			p.log.Info("claiming jobs again")
		}
		if !ok {
			if !wait(p.opts.PollInterval) {
				return
			}
			continue
		}
		r, jctx := p.newRun(ctx, job)
		select {
		case <-p.stopping:
			// Claimed while Shutdown began: give it back untouched.
			p.requeue(ctx, r, errShutdown)
			r.cancel(nil)
			return
		default:
		}
		if paused, _ := p.Paused(); paused {
			// Claimed while the queue was paused: give it back untouched.
			p.requeue(ctx, r, errPaused)
			r.cancel(nil)
			continue
		}
		p.mu.Lock()
		p.active++
		p.running[job.Kind]++
		p.mu.Unlock()
		p.jobs.Add(1)
		stale := p.track(r)
		if p.pausedHard() {
			// Paused (without drain) after the check above, before the
			// run was tracked, so Pause did not see it.
			r.pause()
		}
		go p.runJob(ctx, jctx, r, stale)
	}
}

// waitSlot waits until fewer than limit jobs run; false when stopping.
func (p *Pool) waitSlot() bool {
	for {
		select {
		case <-p.stopping:
			return false
		default:
		}
		p.mu.Lock()
		free := p.active < p.limit
		p.mu.Unlock()
		if free {
			return true
		}
		select {
		case <-p.slotFreed:
		case <-p.stopping:
			return false
		}
	}
}

// waitKindSlot waits, when no kind may be claimed (every kind at its
// limit or outside its processing window, or the queue paused), until a
// job ends, the limits, window or pause change, or reopen (> 0) has
// passed; false when stopping.
func (p *Pool) waitKindSlot(reopen time.Duration) bool {
	var timeout <-chan time.Time
	if reopen > 0 {
		t := time.NewTimer(reopen)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-p.slotFreed:
		return true
	case <-timeout:
		return true
	case <-p.stopping:
		return false
	}
}

// release frees the worker of a run that returned. handler is nil, or
// the handlerDone of a run that abandoned its handler: the slot of its
// kind (SetLimits) stays taken until that handler returns, since it still
// runs; the worker is freed at once, so that handlers that never return
// cannot stop the pool.
func (p *Pool) release(kind string, handler <-chan struct{}) {
	p.mu.Lock()
	p.active--
	p.mu.Unlock()
	if handler == nil {
		p.releaseKind(kind)
	} else {
		p.slotFree()
		go func() {
			<-handler
			p.releaseKind(kind)
		}()
	}
	p.jobs.Done()
}

// releaseKind frees a slot of kind.
func (p *Pool) releaseKind(kind string) {
	p.mu.Lock()
	if p.running[kind]--; p.running[kind] <= 0 {
		delete(p.running, kind)
	}
	p.mu.Unlock()
	p.slotFree()
}

// slotFree wakes dispatch when it waits for a free worker or kind slot.
func (p *Pool) slotFree() {
	select {
	case p.slotFreed <- struct{}{}:
	default:
	}
}

func (p *Pool) recoverLoop(ctx context.Context) {
	t := time.NewTicker(p.opts.RecoverInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			p.recoverExpired(ctx)
		case <-p.stopping:
			return
		}
	}
}

// recoverExpired takes back the jobs whose lease expired: their owner
// died or lost the database. This pool first renews the leases of the runs
// it holds, so that after a pause of the process (SIGSTOP, suspend) longer
// than the lease its own live jobs are not recovered, requeued and claimed
// again at the cost of an attempt, whichever of this and the runs' own
// renewals comes first. Recovery uses the time read before those renewals:
// a lease renewed by them cannot count as expired even if the process is
// paused again in between.
func (p *Pool) recoverExpired(ctx context.Context) {
	now := p.opts.Now()
	p.renewOwn(ctx)
	// The jobs this pool still runs are never taken back from it, not
	// even one whose handler returned during the pause and whose outcome
	// is being written (renewOwn no longer renews it).
	requeued, failed, err := p.q.RecoverExpired(ctx, now, p.runningIDs()...)
	if err != nil {
		p.log.WithError(err).Error("recover jobs with expired leases")
		return
	}
	if requeued+failed > 0 {
		p.log.WithFields(logrus.Fields{"requeued": requeued, "failed": failed}).
			Warn("recovered jobs whose lease expired")
	}
	if requeued > 0 {
		p.Notify()
	}
}

// runningIDs returns the ids of the jobs this pool runs now.
func (p *Pool) runningIDs() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	ids := make([]string, 0, len(p.runs))
	for id := range p.runs {
		ids = append(ids, id)
	}
	return ids
}

// renewOwn renews the lease of every run this pool holds now. A renewal
// refused because the claim is no longer the job's stops that run (as its
// own renewals do); a requested cancellation is handed to the run.
func (p *Pool) renewOwn(ctx context.Context) {
	p.mu.Lock()
	runs := make([]*claimRun, 0, len(p.runs))
	for _, r := range p.runs {
		runs = append(runs, r)
	}
	p.mu.Unlock()
	now := p.opts.Now()
	for _, r := range runs {
		// A run renewed less than a renewal interval ago needs none now:
		// the recovery pass runs often (every second in the daemon), and
		// only after a pause of the process are the leases stale.
		r.mu.Lock()
		fresh := now.Before(r.expires.Add(p.renewEvery() - p.Lease()))
		r.mu.Unlock()
		if fresh {
			continue
		}
		if p.renew(ctx, r) {
			select {
			case r.poke <- struct{}{}: // the run cancels its handler
			default:
			}
		}
	}
}

// renew extends the lease of r, unless r lost its claim or is writing its
// outcome, and reports whether a cancellation of the job was requested. A
// renewal refused because the claim is no longer the job's stops r.
func (p *Pool) renew(ctx context.Context, r *claimRun) (cancelRequested bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.over || r.gone.Load() {
		return false
	}
	now := p.opts.Now()
	// A database that stops answering without an error (a partition)
	// must not hold the renewal past the lease: the call ends a little
	// before it, leaving the run time to stop while it holds the job.
	// (After a pause of the process past the lease, the renewal is still
	// tried, briefly: if no one recovered the job meanwhile it is still
	// this run's.)
	deadline := r.expires.Add(-p.renewEvery() / 3)
	if floor := now.Add(p.renewEvery() / 3); deadline.Before(floor) {
		deadline = floor
	}
	rctx, cancel := context.WithDeadline(ctx, deadline)
	cancelRequested, err := p.q.RenewLease(rctx, r.lease, p.Lease(), now)
	cancel()
	switch {
	case errors.Is(err, store.ErrLeaseLost) || errors.Is(err, store.ErrNotFound):
		r.lose(err)
	case err != nil && !p.opts.Now().Add(p.renewEvery()).Before(r.expires):
		// The database cannot be reached (or refuses) and the lease ends
		// before the next renewal: once it has, another process may
		// recover the job and run it. Stop now, while this run still
		// holds the job alone; the job is recovered once the lease has
		// expired, by whichever process sees it first.
		r.lose(fmt.Errorf("lease expires at %s and could not be renewed: %w", r.expires.Format(time.RFC3339Nano), err))
	case err != nil:
		r.log.WithError(err).Warn("renew job lease")
	default:
		r.expires = now.Add(p.Lease())
	}
	return cancelRequested
}

// Notify wakes an idle pool to look for queued jobs at once. Call it after
// submitting a job in this process.
func (p *Pool) Notify() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Shutdown stops claiming jobs at once and waits for running jobs to finish
// until ctx is done. Jobs still running then have their context cancelled
// and are requeued without consuming an attempt; their handlers get
// ShutdownGrace to return, after which they are abandoned (logged) so that
// the process can exit. Run returns before Shutdown does, except when Run
// itself is stuck in storage (then Shutdown returns an error).
func (p *Pool) Shutdown(ctx context.Context) error {
	p.mu.Lock()
	if p.state == stateIdle {
		p.state = stateStopped
		p.stop()
		close(p.done)
		p.mu.Unlock()
		return nil
	}
	p.mu.Unlock()

	p.stop()
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
	}
	p.log.WithField("active", p.Active()).Warn("shutdown deadline reached: interrupting running jobs")
	p.interruptNow()
	t := time.NewTimer(p.opts.ShutdownGrace + writeTimeout)
	defer t.Stop()
	select {
	case <-p.done:
		return nil
	case <-t.C:
		return fmt.Errorf("shut down worker pool: not stopped %s after the deadline", p.opts.ShutdownGrace+writeTimeout)
	}
}

// WaitHandlers waits until every job handler the pool started has
// returned, those Shutdown abandoned included, or until ctx is done; it
// reports whether they all returned. Call it after Shutdown and before
// closing what handlers use (the store): an abandoned handler may still
// record its outcome.
func (p *Pool) WaitHandlers(ctx context.Context) bool {
	done := make(chan struct{})
	go func() {
		p.handlers.Wait()
		close(done)
	}()
	select {
	case <-done:
		return true
	case <-ctx.Done():
		return false
	}
}

func (p *Pool) stop() {
	p.stopOnce.Do(func() {
		close(p.stopping)
		p.log.Debug("worker pool stops claiming jobs")
	})
}

func (p *Pool) interruptNow() {
	p.interruptOnce.Do(func() { close(p.interrupt) })
}

// Started is closed once Run has started (and Running reports true until
// a shutdown begins). It stays open when Shutdown comes before Run.
func (p *Pool) Started() <-chan struct{} { return p.started }

// Running reports whether Run is taking work: started and not shutting
// down.
func (p *Pool) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state != stateRunning {
		return false
	}
	select {
	case <-p.stopping:
		return false
	default:
		return true
	}
}

// Workers returns the maximum number of jobs run at once.
func (p *Pool) Workers() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.limit
}

// Active returns the number of jobs running now.
func (p *Pool) Active() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.active
}

// SetWorkers changes the maximum number of jobs run at once (at least 1).
// Shrinking does not interrupt running jobs; no new job is claimed until
// fewer than n run.
func (p *Pool) SetWorkers(n int) {
	n = max(n, 1)
	p.mu.Lock()
	p.limit = n
	p.mu.Unlock()
	select {
	case p.slotFreed <- struct{}{}:
	default:
	}
}

type outcome struct {
	result json.RawMessage
	err    error
}

// CheckCancel makes the worker running job id, and those running its child
// jobs here, look at their stored state at once (instead of at their next
// lease renewal), so a cancellation requested through this process takes
// effect promptly. Unknown ids are ignored.
func (p *Pool) CheckCancel(id string) {
	p.mu.Lock()
	var runs []*claimRun
	for jobID, r := range p.runs {
		if jobID == id || r.job.ParentID == id {
			runs = append(runs, r)
		}
	}
	p.mu.Unlock()
	for _, r := range runs {
		select {
		case r.poke <- struct{}{}:
		default:
		}
	}
}

// newRun prepares the run of a job this pool just claimed and returns it
// with the context its handler gets.
func (p *Pool) newRun(ctx context.Context, job store.Job) (*claimRun, context.Context) {
	jctx, cancel := context.WithCancelCause(ctx)
	p.opts.Observer.JobClaimed(job.Kind)
	now := p.opts.Now()
	expires := now.Add(p.Lease())
	if job.LeaseExpiresAt != nil {
		expires = *job.LeaseExpiresAt
	}
	return &claimRun{job: job, lease: job.Lease(), log: p.jobLog(job), cancel: cancel, obs: p.opts.Observer,
		started: now, expires: expires, poke: make(chan struct{}, 1), handlerDone: make(chan struct{}), paused: make(chan struct{})}, jctx
}

// track makes r the run of its job. A run of an older claim of the same
// job still going here (this pool claimed the job again after another
// process recovered its expired lease, as after a suspend or SIGSTOP
// longer than the lease, or after a handler ignoring its cancellation was
// abandoned) is stopped at once: it no longer holds the job. That stale
// run is returned: r must not start its handler before the stale one has
// returned. A run stays tracked until its handler, and the stale handlers
// it waited for, have returned (see runJob), even when the run itself
// ended earlier.
func (p *Pool) track(r *claimRun) (stale *claimRun) {
	p.mu.Lock()
	old := p.runs[r.lease.JobID]
	p.runs[r.lease.JobID] = r
	p.mu.Unlock()
	if old != nil {
		old.lose(fmt.Errorf("job %s claimed again (token %d) while the run of token %d was still going: %w",
			r.lease.JobID, r.lease.Token, old.lease.Token, store.ErrLeaseLost))
	}
	return old
}

// awaitStale waits, renewing the lease of r, until the handler of stale (a
// run of an older claim of the same job, just stopped) has returned, so
// that no job ever has two handlers running at once in this process. It
// reports whether r may start its handler: not when r lost its own claim
// meanwhile, nor when the pool is interrupted (r's job is then requeued).
// A requested cancellation cancels r's context; its handler still starts,
// sees it and returns.
func (p *Pool) awaitStale(ctx, jctx context.Context, r, stale *claimRun) bool {
	select {
	case <-stale.handlerDone:
		return true
	default:
	}
	r.log.WithFields(logrus.Fields{"lease_token": r.lease.Token, "stale_lease_token": stale.lease.Token}).
		Info("job claimed again: waiting for the handler of its stale run to return")
	renew := time.NewTicker(p.renewEvery())
	defer renew.Stop()
	// A stale handler that never returns (one abandoned as stalled) must
	// not keep the job running: the wait is subject to the stall timeout.
	waitStart := p.opts.Now()
	_, _, stallWait := p.checkStall(r.job.Kind, waitStart)
	stallTimer := time.NewTimer(stallWait)
	defer stallTimer.Stop()
	for {
		select {
		case <-stale.handlerDone:
			return true
		case <-r.poke:
		case <-renew.C:
		case <-stallTimer.C:
			stalled, timeout, wait := p.checkStall(r.job.Kind, waitStart)
			if !stalled {
				stallTimer.Reset(wait)
				continue
			}
			r.stalled = timeout
			r.obs.JobStalled(r.job.Kind)
			r.log.WithField("stall_timeout", timeout.String()).
				Warn("job stalled: the handler of its previous run has not returned for " + timeout.String())
			r.cancel(errStalled)
			r.end()
			if !r.gone.Load() {
				p.fail(ctx, r, stalledMessage(timeout))
			}
			return false
		case <-p.interrupt:
			r.cancel(errShutdown)
			r.end()
			if !r.gone.Load() {
				p.requeue(ctx, r, errShutdown)
			}
			return false
		case <-r.paused:
			r.cancel(errPaused)
			r.end()
			if !r.gone.Load() {
				p.requeue(ctx, r, errPaused)
			}
			return false
		}
		renew.Reset(p.renewEvery())
		if p.renew(ctx, r) && jctx.Err() == nil {
			r.log.Info("job cancellation requested: cancelling handler")
			r.cancel(errCancelRequested)
		}
		if r.gone.Load() {
			return false
		}
	}
}

// untrack forgets r, unless a newer claim's run took its place.
func (p *Pool) untrack(r *claimRun) {
	p.mu.Lock()
	if p.runs[r.lease.JobID] == r {
		delete(p.runs, r.lease.JobID)
	}
	p.mu.Unlock()
}

// runJob runs one claimed job to its end and records the outcome. ctx is
// for storage (never cancelled, see Run), jctx the handler's context.
// stale is the run of an older claim of the job still going here, or nil.
func (p *Pool) runJob(ctx, jctx context.Context, r, stale *claimRun) {
	abandoned := false // a handler that ignored its cancellation
	defer func() {
		if abandoned {
			p.release(r.job.Kind, r.handlerDone)
		} else {
			p.release(r.job.Kind, nil)
		}
	}()
	defer func() {
		// The run is over: a new claim of the job replacing it (see
		// track) is no lost lease worth a warning.
		r.lost.Do(func() { r.gone.Store(true) })
		select {
		case <-r.handlerDone:
			p.untrack(r)
			return
		default:
		}
		// Tracked until its handler (or the stale one it waited for)
		// returns: a new claim of the job here waits for it (see track),
		// so a job never has two handlers.
		go func() {
			<-r.handlerDone
			p.untrack(r)
		}()
	}()
	defer r.cancel(nil)
	handlerStarted := false
	defer func() {
		if !handlerStarted {
			r.handlerDoneAfter(stale)
		}
	}()
	job, log, cancel := r.job, r.log, r.cancel
	h, ok := p.reg.Lookup(job.Kind)
	if !ok {
		// Not reached while claims name only registered kinds; should it
		// happen, the job goes back untouched rather than losing an attempt.
		log.Errorf("no handler registered for job kind %q (registered: %s): job put back to queued",
			job.Kind, strings.Join(p.reg.Kinds(), ", "))
		r.end()
		p.write(ctx, r, "requeue", func(wctx context.Context) error {
			return p.q.RequeueInterrupted(wctx, r.lease, p.opts.Now())
		})
		return
	}
	if stale != nil && !p.awaitStale(ctx, jctx, r, stale) {
		return
	}
	log.WithField("lease_token", r.lease.Token).Debug("job started")

	prog := &progress{reported: make(chan struct{}, 1), now: p.opts.Now, alive: p.opts.Now()}
	done := make(chan outcome, 1) // buffered: an abandoned handler never blocks
	handlerStarted = true
	p.handlers.Add(1)
	go func() {
		defer p.handlers.Done()
		defer close(r.handlerDone)
		defer func() {
			if r := recover(); r != nil {
				done <- outcome{err: fmt.Errorf("job handler panicked: %v", r)}
			}
		}()
		res, err := h.Run(jctx, job, prog)
		done <- outcome{result: res, err: err}
	}()

	renew := time.NewTicker(p.renewEvery())
	defer renew.Stop()
	renewC := renew.C
	// Stall detection: checked when the timeout would be reached since the
	// latest report (or the start), and at least every stallRecheck.
	_, _, stallWait := p.checkStall(job.Kind, prog.lastAlive())
	stallTimer := time.NewTimer(stallWait)
	defer stallTimer.Stop()
	stallC := stallTimer.C
	// A handler cancelled as stalled or by its user gets ShutdownGrace to
	// return, then is abandoned.
	var (
		graceTimer *time.Timer
		graceC     <-chan time.Time
	)
	defer func() {
		if graceTimer != nil {
			graceTimer.Stop()
		}
	}()
	startGrace := func() {
		if graceC == nil {
			graceTimer = time.NewTimer(p.opts.ShutdownGrace)
			graceC = graceTimer.C
		}
	}
	if errors.Is(context.Cause(jctx), errCancelRequested) {
		startGrace() // requested while waiting for a stale handler
	}
	// Progress is written at most once per ProgressInterval: the first
	// report at once, later ones when the interval has passed.
	var (
		progTimer *time.Timer
		progC     <-chan time.Time
		lastFlush time.Time
	)
	defer func() {
		if progTimer != nil {
			progTimer.Stop()
		}
	}()
	flushProgress := func() {
		pct, msg, eta, dirty := prog.take()
		if !dirty || r.gone.Load() {
			return
		}
		lastFlush = time.Now()
		err := p.q.UpdateProgress(ctx, r.lease, pct, msg, eta)
		switch {
		case errors.Is(err, store.ErrLeaseLost) || errors.Is(err, store.ErrNotFound):
			r.lose(err)
		case err != nil:
			log.WithError(err).Warn("update job progress")
		}
	}
	renewNow := func() {
		if r.gone.Load() {
			renewC = nil
			return
		}
		if p.renew(ctx, r) && jctx.Err() == nil {
			log.Info("job cancellation requested: cancelling handler")
			cancel(errCancelRequested)
			startGrace()
		}
		if r.gone.Load() {
			renewC = nil
		}
	}
	for {
		select {
		case o := <-done:
			<-r.handlerDone // closed as the handler goroutine returns
			if o.err == nil && jctx.Err() == nil {
				// The last report of a successful run is what its job
				// says it did ("speed 2.1x, 00:04:00 of 00:04:00"), not
				// one a second older.
				flushProgress()
			}
			r.end()
			p.finish(ctx, r, o, context.Cause(jctx))
			return
		case <-r.poke:
			if renewC == nil {
				break
			}
			renew.Reset(p.renewEvery())
			renewNow()
		case <-renewC:
			renew.Reset(p.renewEvery()) // the lease may have changed (SetLease)
			renewNow()
		case <-prog.reported:
			if progC != nil {
				break // a flush is already scheduled
			}
			if wait := p.opts.ProgressInterval - time.Since(lastFlush); wait > 0 {
				if progTimer == nil {
					progTimer = time.NewTimer(wait)
				} else {
					progTimer.Reset(wait)
				}
				progC = progTimer.C
				break
			}
			flushProgress()
		case <-progC:
			progC = nil
			flushProgress()
		case <-stallC:
			stalled, timeout, wait := p.checkStall(job.Kind, prog.lastAlive())
			if !stalled {
				stallTimer.Reset(wait)
				break
			}
			stallC = nil
			if jctx.Err() != nil {
				break // cancelled already (by a user, a lost lease): that wins
			}
			r.stalled = timeout
			r.obs.JobStalled(r.job.Kind)
			log.WithField("stall_timeout", timeout.String()).
				Warn("job stalled: no progress reported for " + timeout.String() + ", cancelling it")
			cancel(errStalled)
			startGrace()
		case <-graceC:
			// The handler ignores its cancellation: give up on it (as at
			// shutdown) but end the job, so it does not stay running. The
			// handler still counts for its job (no other handler of the
			// job starts here before it returns, see track) and for the
			// limit of its kind.
			r.end()
			abandoned = true
			glog := log.WithField("grace", p.opts.ShutdownGrace.String())
			if errors.Is(context.Cause(jctx), errCancelRequested) {
				glog.Warn("cancelled job handler ignored cancellation: abandoned")
				if !r.gone.Load() && p.write(ctx, r, "finish cancelled", func(wctx context.Context) error {
					return p.q.FinishCancelled(wctx, r.lease, p.opts.Now())
				}) {
					log.Info("job cancelled")
				}
				return
			}
			glog.Warn("stalled job handler ignored cancellation: abandoned")
			if !r.gone.Load() {
				p.fail(ctx, r, stalledMessage(r.stalled))
			}
			return
		case <-p.interrupt:
			abandoned = p.interruptRun(ctx, r, jctx, done, errShutdown)
			return
		case <-r.paused:
			abandoned = p.interruptRun(ctx, r, jctx, done, errPaused)
			return
		}
	}
}

// interruptRun stops the run r of a handler still going, because the
// pool shuts down or the queue was paused without drain (cause): its
// context is cancelled and its job requeued without spending an attempt
// (failed, if it had stalled). The handler gets ShutdownGrace to return;
// abandoned reports that it did not. A handler that returned just before
// has its outcome recorded instead.
func (p *Pool) interruptRun(ctx context.Context, r *claimRun, jctx context.Context, done <-chan outcome, cause error) (abandoned bool) {
	r.end()
	select {
	case o := <-done:
		<-r.handlerDone
		p.finish(ctx, r, o, context.Cause(jctx))
		return false
	default:
	}
	r.cancel(cause)
	switch {
	case r.gone.Load():
	case r.stalled > 0:
		p.fail(ctx, r, stalledMessage(r.stalled))
	default:
		p.requeue(ctx, r, cause)
	}
	grace := time.NewTimer(p.opts.ShutdownGrace)
	defer grace.Stop()
	select {
	case <-done:
		<-r.handlerDone
		r.log.Debug("interrupted job handler returned")
		return false
	case <-grace.C:
		r.log.WithField("grace", p.opts.ShutdownGrace.String()).
			Warn("job handler ignored cancellation: abandoned")
		return true
	}
}

// requeue gives the job of r back to the queue without spending an
// attempt; cause (errShutdown or errPaused) is why.
func (p *Pool) requeue(ctx context.Context, r *claimRun, cause error) {
	if p.write(ctx, r, "requeue", func(wctx context.Context) error {
		return p.q.RequeueInterrupted(wctx, r.lease, p.opts.Now())
	}) {
		r.ended(OutcomeInterrupted, p.opts.Now())
		if errors.Is(cause, errPaused) {
			r.log.Info("job interrupted by a pause of the queue, requeued")
			return
		}
		r.log.Info("job interrupted by shutdown, requeued")
	}
}

// finish records the outcome of a handler that returned; cause is why its
// context was cancelled, if it was.
func (p *Pool) finish(ctx context.Context, r *claimRun, o outcome, cause error) {
	switch {
	case errors.Is(cause, errLeaseLost):
		// Warned when the lease was lost.
		r.log.Info("job handler returned after its lease was lost: outcome discarded")
	case errors.Is(cause, errStalled):
		// Whatever the handler returned: it returned because it was
		// cancelled as stalled.
		p.fail(ctx, r, stalledMessage(r.stalled))
	case errors.Is(cause, errCancelRequested):
		// Whatever the handler returned, even success: its user asked
		// for the job to stop.
		if p.write(ctx, r, "finish cancelled", func(wctx context.Context) error {
			return p.q.FinishCancelled(wctx, r.lease, p.opts.Now())
		}) {
			r.ended(OutcomeCancelled, p.opts.Now())
			r.log.Info("job cancelled")
		}
	case errors.As(o.err, new(*Children)):
		p.awaitChildren(ctx, r, o.err)
	case errors.As(o.err, new(*FinalError)):
		if p.write(ctx, r, "fail", func(wctx context.Context) error {
			return p.q.FailJobFinal(wctx, r.lease, o.err.Error(), p.opts.Now())
		}) {
			r.ended(OutcomeFailed, p.opts.Now())
			r.log.WithField("error", o.err.Error()).Error("job failed (another attempt would not help)")
		}
	case o.err != nil:
		p.fail(ctx, r, o.err.Error())
	default:
		var invalid bool
		if p.write(ctx, r, "complete", func(wctx context.Context) error {
			err := p.q.CompleteJob(wctx, r.lease, o.result, p.opts.Now())
			invalid = errors.Is(err, store.ErrInvalid)
			return err
		}) {
			r.ended(OutcomeCompleted, p.opts.Now())
			r.log.Info("job completed")
		} else if invalid {
			p.fail(ctx, r, "job handler returned a result that is not valid JSON")
		}
	}
}

// awaitChildren stores the children a handler handed its work to and
// frees the worker; the job finishes with its last child. A job whose
// cancellation was requested meanwhile ends cancelled instead.
func (p *Pool) awaitChildren(ctx context.Context, r *claimRun, err error) {
	var ch *Children
	errors.As(err, &ch)
	var conflict bool
	if p.write(ctx, r, "await children", func(wctx context.Context) error {
		err := p.q.AwaitChildren(wctx, r.lease, ch.Jobs, ch.Counted, p.opts.Now())
		conflict = errors.Is(err, store.ErrConflict)
		return err
	}) {
		r.ended(OutcomeWaiting, p.opts.Now())
		r.log.WithField("children", len(ch.Jobs)).Info("job waits for its child jobs")
		p.Notify()
		return
	}
	if conflict && p.write(ctx, r, "finish cancelled", func(wctx context.Context) error {
		return p.q.FinishCancelled(wctx, r.lease, p.opts.Now())
	}) {
		r.ended(OutcomeCancelled, p.opts.Now())
		r.log.Info("job cancelled before its child jobs were stored")
	}
}

func (p *Pool) fail(ctx context.Context, r *claimRun, msg string) {
	log := r.log.WithFields(logrus.Fields{"error": msg, "attempt": r.job.Attempts, "max_attempts": r.job.MaxAttempts})
	if !p.write(ctx, r, "fail", func(wctx context.Context) error {
		return p.q.FailJob(wctx, r.lease, msg, p.opts.Now())
	}) {
		return
	}
	if r.job.Attempts >= r.job.MaxAttempts {
		r.ended(OutcomeFailed, p.opts.Now())
		log.Error("job failed")
	} else {
		r.ended(OutcomeRetried, p.opts.Now())
		log.Warn("job attempt failed, will retry")
	}
}

// write runs one storage write for the run r and logs its failure. It
// reports success. A write refused because r's claim is no longer the
// job's (store.ErrLeaseLost) means the lease was lost: r.lose. ctx is never
// cancelled (see Run); the busy timeout of the storage bounds lock waits.
func (p *Pool) write(ctx context.Context, r *claimRun, op string, f func(context.Context) error) bool {
	err := f(ctx)
	switch {
	case err == nil:
		return true
	case errors.Is(err, store.ErrLeaseLost):
		r.lose(fmt.Errorf("%s job: %w", op, err))
	default:
		r.log.WithError(err).Error(op + " job")
	}
	return false
}

// jobLog returns the logger for a job: job_id, kind and, when the payload
// has a "path", file_path.
func (p *Pool) jobLog(job store.Job) *logrus.Entry {
	fields := logrus.Fields{"job_id": job.ID, "job_kind": job.Kind, "attempt": job.Attempts}
	var pl struct {
		Path string `json:"path"`
	}
	if bytes.Contains(job.Payload, []byte(`"path"`)) && json.Unmarshal(job.Payload, &pl) == nil && pl.Path != "" {
		fields["file_path"] = pl.Path
	}
	return p.log.WithFields(fields)
}

// claimRun is one run of a claimed job: the claim's lease, what cancels
// the handler's context, and the channel that asks the run to look at the
// job's stored state now.
type claimRun struct {
	job     store.Job
	obs     Observer
	started time.Time // when this pool claimed it
	lease   store.Lease
	log     *logrus.Entry
	cancel  context.CancelCauseFunc // the handler's context, with one of the causes above
	poke    chan struct{}           // capacity 1
	lost    sync.Once
	gone    atomic.Bool // the claim is no longer the job's (lose was called)
	// handlerDone is closed once no handler of this run, nor of the stale
	// runs of the job it waited for, runs any more.
	handlerDone chan struct{}
	// paused is closed when a pause of the queue without drain interrupts
	// the run (see pause).
	paused    chan struct{}
	pauseOnce sync.Once

	mu   sync.Mutex // held by each lease renewal
	over bool       // guarded by mu: the run writes its outcome or gives the job back; no more renewals
	// expires is when the lease ends unless renewed (guarded by mu).
	expires time.Time

	// stalled is the stall timeout that cancelled the handler (0: not
	// stalled); written and read by the run's own goroutine.
	stalled time.Duration
}

// end marks that r writes its outcome or gives its job back now: a lease
// renewal still under way finishes first, none starts after.
func (r *claimRun) end() {
	r.mu.Lock()
	r.over = true
	r.mu.Unlock()
}

// handlerDoneAfter closes r.handlerDone, for a run that never started its
// handler, once the handler of stale (if any) has returned.
func (r *claimRun) handlerDoneAfter(stale *claimRun) {
	if stale == nil {
		close(r.handlerDone)
		return
	}
	go func() {
		<-stale.handlerDone
		close(r.handlerDone)
	}()
}

// lose records that the run's claim is no longer the job's current one (the
// lease expired and the job was recovered or claimed again, or it finished
// elsewhere): the handler's context is cancelled and whatever it returns is
// discarded. The first call logs one warning with the job id; later calls
// do nothing.
func (r *claimRun) lose(err error) {
	r.lost.Do(func() {
		r.gone.Store(true)
		r.obs.LeaseLost(r.job.Kind)
		r.log.WithError(err).WithField("lease_token", r.lease.Token).
			Warn("job lease lost: run stopped, its outcome is discarded")
		r.cancel(errLeaseLost)
	})
}

// progress keeps the latest report of a handler until the pool writes it,
// and when the handler last reported (for stall detection).
type progress struct {
	reported chan struct{} // capacity 1: a report is pending
	now      func() time.Time
	mu       sync.Mutex
	percent  float64
	message  string
	eta      time.Duration // < 0: unknown
	dirty    bool
	alive    time.Time // the latest report, or the start of the handler
}

func (r *progress) Report(percent float64, message string) {
	r.ReportETA(percent, message, -1)
}

func (r *progress) ReportETA(percent float64, message string, eta time.Duration) {
	now := r.now()
	r.mu.Lock()
	r.percent, r.message, r.eta, r.dirty = percent, message, eta, true
	r.alive = now
	r.mu.Unlock()
	select {
	case r.reported <- struct{}{}:
	default:
	}
}

func (r *progress) take() (float64, string, time.Duration, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	dirty := r.dirty
	r.dirty = false
	return r.percent, r.message, r.eta, dirty
}

func (r *progress) lastAlive() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.alive
}
