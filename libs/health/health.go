package health

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults for zero Options fields.
const (
	DefaultTimeout  = 50 * time.Millisecond
	DefaultCacheFor = 250 * time.Millisecond
)

// Options configures New.
type Options struct {
	// Version is reported as is, e.g. "1.4.0".
	Version string
	// Database checks the database, e.g. by pinging it. Nil means not
	// configured, which reports the database as disconnected.
	Database Checker
	// Timeout bounds one database check. Zero or less means DefaultTimeout.
	Timeout time.Duration
	// CacheFor is how long a check result is reused, so that bursts of
	// probes cost one check. Zero means DefaultCacheFor; less than zero
	// disables reuse (concurrent callers still share one check).
	CacheFor time.Duration
	// Now returns the current time. Nil means time.Now; tests inject a clock.
	Now func() time.Time
	// Stats returns extra top-level fields of the /health document, such as
	// jobs_queued, jobs_running or workers. It is called for every Report,
	// so it must be cheap. Nil adds nothing.
	Stats func(ctx context.Context) map[string]any
	// Ready is an extra readiness condition, e.g. "the worker pool runs".
	// It is called for every readiness evaluation. Nil means always true.
	Ready func() bool
	// RenderFor, when above zero, is how long the /health document, once
	// written, is served again as is to the requests that follow, unless
	// something it shows changed meanwhile: the state setters below, a
	// database check with another outcome, or Changed. Under load the
	// document is then made a few times a second, not for every request;
	// Stats values may lag by up to RenderFor. Zero renders every request.
	RenderFor time.Duration
}

// Health holds the liveness and readiness state of the daemon. It is safe
// for concurrent use.
type Health struct {
	version string
	now     func() time.Time
	start   time.Time
	stats   func(ctx context.Context) map[string]any
	ready   func() bool
	db      *probe

	started      atomic.Bool
	shuttingDown atomic.Bool

	renderFor time.Duration
	gen       atomic.Uint64 // bumped by every change the document shows
	rendered  atomic.Pointer[renderedDoc]

	reloadMu    sync.Mutex
	reloads     int
	lastReload  time.Time // zero: none yet
	reloadError string    // "": the last reload did not fail
}

// New returns a Health that is not ready yet. Uptime counts from now.
func New(opts Options) *Health {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.CacheFor == 0 {
		opts.CacheFor = DefaultCacheFor
	}
	h := &Health{
		version:   opts.Version,
		now:       opts.Now,
		start:     opts.Now(),
		stats:     opts.Stats,
		ready:     opts.Ready,
		renderFor: opts.RenderFor,
		db: &probe{
			checker:  opts.Database,
			timeout:  opts.Timeout,
			cacheFor: opts.CacheFor,
			now:      opts.Now,
		},
	}
	h.db.changed = h.Changed
	return h
}

// Changed tells /health that something its document shows has changed
// (the queue was paused, say): the next request writes it anew rather
// than serving the one written up to RenderFor ago.
func (h *Health) Changed() {
	h.gen.Add(1)
}

// SetReady records whether the daemon has finished starting: call it with
// true once the store is open and the listener is bound.
func (h *Health) SetReady(ready bool) {
	h.started.Store(ready)
	h.Changed()
}

// SetShuttingDown records that shutdown has begun. It cannot be undone.
func (h *Health) SetShuttingDown() {
	h.shuttingDown.Store(true)
	h.Changed()
}

// ConfigReloaded records a successful configuration reload. Only a reload
// that changed something counts and sets the time; any success clears the
// error of an earlier failed reload.
func (h *Health) ConfigReloaded(changed bool) {
	now := h.now()
	defer h.Changed()
	h.reloadMu.Lock()
	defer h.reloadMu.Unlock()
	h.reloadError = ""
	if changed {
		h.reloads++
		h.lastReload = now
	}
}

// ConfigReloadFailed records a reload that changed nothing because the new
// configuration was invalid; msg says where and why.
func (h *Health) ConfigReloadFailed(msg string) {
	defer h.Changed()
	h.reloadMu.Lock()
	defer h.reloadMu.Unlock()
	h.reloadError = msg
}

// ShuttingDown reports whether SetShuttingDown was called.
func (h *Health) ShuttingDown() bool {
	return h.shuttingDown.Load()
}

// Report evaluates the state of the daemon, checking the database (see
// Options.Timeout and Options.CacheFor) and collecting Options.Stats.
func (h *Health) Report(ctx context.Context) Report {
	shuttingDown := h.shuttingDown.Load()
	started := h.started.Load()
	extraReady := h.extraReady()
	dbErr := h.db.check(ctx)

	r := Report{
		Database:      DatabaseConnected,
		UptimeSeconds: h.now().Sub(h.start).Seconds(),
		Version:       h.version,
		ShuttingDown:  shuttingDown,
		Ready:         notReadyReason(shuttingDown, started, extraReady, dbErr) == "",
	}
	if dbErr != nil {
		r.Database = DatabaseDisconnected
	}
	h.reloadMu.Lock()
	r.ConfigReloadCount = h.reloads
	if !h.lastReload.IsZero() {
		t := h.lastReload.UTC()
		r.LastConfigReload = &t
	}
	if h.reloadError != "" {
		msg := h.reloadError
		r.ConfigReloadError = &msg
	}
	h.reloadMu.Unlock()
	switch {
	case shuttingDown:
		r.Status = StatusUnhealthy
	case dbErr != nil:
		r.Status = StatusDegraded
	case !started || !extraReady:
		r.Status = StatusUnhealthy
	default:
		r.Status = StatusHealthy
	}
	if h.stats != nil {
		r.Extra = h.stats(ctx)
	}
	return r
}

// readiness returns why the daemon is not ready, or "" when it is. The
// database is checked only when everything else is ready.
func (h *Health) readiness(ctx context.Context) string {
	shuttingDown := h.shuttingDown.Load()
	started := h.started.Load()
	extraReady := h.extraReady()
	if reason := notReadyReason(shuttingDown, started, extraReady, nil); reason != "" {
		return reason
	}
	return notReadyReason(false, true, true, h.db.check(ctx))
}

func (h *Health) extraReady() bool {
	return h.ready == nil || h.ready()
}

// Reasons given by the readiness handler for answering 503.
const (
	ReasonShuttingDown         = "shutting_down"
	ReasonStarting             = "starting"
	ReasonNotReady             = "not_ready"
	ReasonDatabaseDisconnected = "database_disconnected"
)

func notReadyReason(shuttingDown, started, extraReady bool, dbErr error) string {
	switch {
	case shuttingDown:
		return ReasonShuttingDown
	case !started:
		return ReasonStarting
	case !extraReady:
		return ReasonNotReady
	case dbErr != nil:
		return ReasonDatabaseDisconnected
	default:
		return ""
	}
}
