package jobs

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

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
	// recovered; recovery also runs when Run starts. Default Lease.
	RecoverInterval time.Duration
	// ShutdownGrace is how long Shutdown waits, after cancelling and
	// requeueing the jobs still running at its deadline, for their handlers
	// to return before abandoning them. Default 1s.
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

	mu     sync.Mutex
	state  poolState
	limit  int
	active int
	pokes  map[string]chan struct{} // running job id → "check its state now"
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
	log := opts.Log
	if log == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		log = logrus.NewEntry(l)
	}
	return &Pool{
		q:         q,
		reg:       reg,
		opts:      opts,
		log:       log,
		owner:     opts.Owner,
		wake:      make(chan struct{}, 1),
		slotFreed: make(chan struct{}, 1),
		stopping:  make(chan struct{}),
		interrupt: make(chan struct{}),
		done:      make(chan struct{}),
		started:   make(chan struct{}),
		limit:     opts.Workers,
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
	wait := func(d time.Duration) bool {
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
	for {
		if !p.waitSlot() {
			return
		}
		job, ok, err := p.q.ClaimJob(ctx, p.owner, p.Lease(), p.opts.Now())
		if err != nil {
			p.log.WithError(err).Error("claim job")
			if !wait(min(p.opts.PollInterval, errorBackoff)) {
				return
			}
			continue
		}
		if !ok {
			if !wait(p.opts.PollInterval) {
				return
			}
			continue
		}
		select {
		case <-p.stopping:
			// Claimed while Shutdown began: give it back untouched.
			p.requeue(ctx, p.jobLog(job), job)
			return
		default:
		}
		p.mu.Lock()
		p.active++
		p.mu.Unlock()
		p.jobs.Add(1)
		go p.runJob(ctx, job)
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

func (p *Pool) release() {
	p.mu.Lock()
	p.active--
	p.mu.Unlock()
	select {
	case p.slotFreed <- struct{}{}:
	default:
	}
	p.jobs.Done()
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

func (p *Pool) recoverExpired(ctx context.Context) {
	requeued, failed, err := p.q.RecoverExpired(ctx, p.opts.Now())
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

// CheckCancel makes the worker running job id look at its stored state at
// once (instead of at its next lease renewal), so a cancellation requested
// through this process takes effect promptly. Unknown ids are ignored.
func (p *Pool) CheckCancel(id string) {
	p.mu.Lock()
	c := p.pokes[id]
	p.mu.Unlock()
	if c != nil {
		select {
		case c <- struct{}{}:
		default:
		}
	}
}

func (p *Pool) registerPoke(id string) chan struct{} {
	c := make(chan struct{}, 1)
	p.mu.Lock()
	if p.pokes == nil {
		p.pokes = map[string]chan struct{}{}
	}
	p.pokes[id] = c
	p.mu.Unlock()
	return c
}

func (p *Pool) unregisterPoke(id string) {
	p.mu.Lock()
	delete(p.pokes, id)
	p.mu.Unlock()
}

// runJob runs one claimed job to its end and records the outcome.
func (p *Pool) runJob(ctx context.Context, job store.Job) {
	defer p.release()
	log := p.jobLog(job)
	h, ok := p.reg.Lookup(job.Kind)
	if !ok {
		msg := fmt.Sprintf("no handler registered for job kind %q (registered: %s)",
			job.Kind, strings.Join(p.reg.Kinds(), ", "))
		log.Error(msg)
		p.write(ctx, log, "fail", func(wctx context.Context) error {
			return p.q.FailJob(wctx, job.ID, p.owner, msg, p.opts.Now())
		})
		return
	}
	log.Debug("job started")

	jctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	prog := &progress{reported: make(chan struct{}, 1)}
	done := make(chan outcome, 1) // buffered: an abandoned handler never blocks
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- outcome{err: fmt.Errorf("job handler panicked: %v", r)}
			}
		}()
		res, err := h.Run(jctx, job, prog)
		done <- outcome{result: res, err: err}
	}()

	poke := p.registerPoke(job.ID)
	defer p.unregisterPoke(job.ID)

	renew := time.NewTicker(p.renewEvery())
	defer renew.Stop()
	renewC := renew.C
	loseLease := func(err error) {
		renewC = nil
		if jctx.Err() == nil {
			log.WithError(err).Warn("job lease lost: cancelling handler, its result will be discarded")
		}
		cancel(errLeaseLost)
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
		pct, msg, dirty := prog.take()
		if !dirty || renewC == nil {
			return
		}
		lastFlush = time.Now()
		err := p.q.UpdateProgress(ctx, job.ID, p.owner, pct, msg)
		switch {
		case errors.Is(err, store.ErrLeaseLost) || errors.Is(err, store.ErrNotFound):
			loseLease(err)
		case err != nil:
			log.WithError(err).Warn("update job progress")
		}
	}
	renewNow := func() {
		cancelRequested, err := p.q.RenewLease(ctx, job.ID, p.owner, p.Lease(), p.opts.Now())
		switch {
		case errors.Is(err, store.ErrLeaseLost) || errors.Is(err, store.ErrNotFound):
			loseLease(err)
		case err != nil:
			log.WithError(err).Warn("renew job lease")
		case cancelRequested && jctx.Err() == nil:
			log.Info("job cancellation requested: cancelling handler")
			cancel(errCancelRequested)
		}
	}
	for {
		select {
		case o := <-done:
			p.finish(ctx, log, job, o, context.Cause(jctx))
			return
		case <-poke:
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
		case <-p.interrupt:
			select {
			case o := <-done:
				p.finish(ctx, log, job, o, context.Cause(jctx))
				return
			default:
			}
			cancel(errShutdown)
			if renewC != nil {
				p.requeue(ctx, log, job)
			}
			grace := time.NewTimer(p.opts.ShutdownGrace)
			defer grace.Stop()
			select {
			case <-done:
				log.Debug("interrupted job handler returned")
			case <-grace.C:
				log.WithField("grace", p.opts.ShutdownGrace.String()).
					Warn("job handler ignored cancellation: abandoned")
			}
			return
		}
	}
}

func (p *Pool) requeue(ctx context.Context, log *logrus.Entry, job store.Job) {
	if p.write(ctx, log, "requeue", func(wctx context.Context) error {
		return p.q.RequeueInterrupted(wctx, job.ID, p.owner, p.opts.Now())
	}) {
		log.Info("job interrupted by shutdown, requeued")
	}
}

// finish records the outcome of a handler that returned.
func (p *Pool) finish(ctx context.Context, log *logrus.Entry, job store.Job, o outcome, cause error) {
	switch {
	case errors.Is(cause, errLeaseLost):
		log.Warn("job handler returned after its lease was lost: outcome discarded")
	case errors.Is(cause, errCancelRequested) && o.err != nil:
		if p.write(ctx, log, "finish cancelled", func(wctx context.Context) error {
			return p.q.FinishCancelled(wctx, job.ID, p.owner, p.opts.Now())
		}) {
			log.Info("job cancelled")
		}
	case o.err != nil:
		p.fail(ctx, log, job, o.err.Error())
	default:
		var invalid bool
		if p.write(ctx, log, "complete", func(wctx context.Context) error {
			err := p.q.CompleteJob(wctx, job.ID, p.owner, o.result, p.opts.Now())
			invalid = errors.Is(err, store.ErrInvalid)
			return err
		}) {
			log.Info("job completed")
		} else if invalid {
			p.fail(ctx, log, job, "job handler returned a result that is not valid JSON")
		}
	}
}

func (p *Pool) fail(ctx context.Context, log *logrus.Entry, job store.Job, msg string) {
	log = log.WithFields(logrus.Fields{"error": msg, "attempt": job.Attempts, "max_attempts": job.MaxAttempts})
	if !p.write(ctx, log, "fail", func(wctx context.Context) error {
		return p.q.FailJob(wctx, job.ID, p.owner, msg, p.opts.Now())
	}) {
		return
	}
	if job.Attempts >= job.MaxAttempts {
		log.Error("job failed")
	} else {
		log.Warn("job attempt failed, will retry")
	}
}

// write runs one storage write for a job and logs its failure. It reports
// success. ctx is never cancelled (see Run); the busy timeout of the
// storage bounds lock waits.
func (p *Pool) write(ctx context.Context, log *logrus.Entry, op string, f func(context.Context) error) bool {
	err := f(ctx)
	switch {
	case err == nil:
		return true
	case errors.Is(err, store.ErrLeaseLost):
		log.WithError(err).Warn(op + " job: lease lost, outcome discarded")
	default:
		log.WithError(err).Error(op + " job")
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

// progress keeps the latest report of a handler until the pool writes it.
type progress struct {
	reported chan struct{} // capacity 1: a report is pending
	mu       sync.Mutex
	percent  float64
	message  string
	dirty    bool
}

func (r *progress) Report(percent float64, message string) {
	r.mu.Lock()
	r.percent, r.message, r.dirty = percent, message, true
	r.mu.Unlock()
	select {
	case r.reported <- struct{}{}:
	default:
	}
}

func (r *progress) take() (float64, string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	dirty := r.dirty
	r.dirty = false
	return r.percent, r.message, dirty
}
