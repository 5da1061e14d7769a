package app

import (
	"context"
	"sort"
	"strconv"
	"sync"

	"github.com/sirupsen/logrus"

	"github.com/vpo-project/vpo/libs/config"
	"github.com/vpo-project/vpo/libs/health"
	"github.com/vpo-project/vpo/libs/jobs"
	"github.com/vpo-project/vpo/libs/lifecycle"
	"github.com/vpo-project/vpo/libs/logging"
	"github.com/vpo-project/vpo/libs/store"
	"github.com/vpo-project/vpo/services/vpo/internal/apply"
	"github.com/vpo-project/vpo/services/vpo/internal/applyjob"
)

// applyFunc puts the new value of one live key into effect. Values are
// already validated, so it cannot fail.
type applyFunc func(old, new config.Config)

// liveParts are the running parts whose settings a reload may change.
type liveParts struct {
	logger    *logrus.Logger
	journal   bool
	pool      *jobs.Pool
	group     *lifecycle.Group
	retention *retention
	applier   *applyjob.Handler
	executor  *apply.Executor
	limits    jobLimits
	// libraries receives the libraries after a reload changed them; nil:
	// none wired.
	libraries func([]config.Library)
	queue     *queueControl // jobs.schedule, jobs.scheduled_kinds (see scheduleOf)
	node      nodeTags      // jobs.tags
}

// nodeTags applies jobs.tags: claims (the store) and the nodes list (the
// heartbeat).
type nodeTags struct {
	st   *store.Store
	beat *heartbeat
	name string
}

func (n nodeTags) set(tags []string) {
	if n.st == nil {
		return
	}
	_ = n.st.SetNode(n.name, tags) // checked by the configuration
	n.beat.SetTags(tags)
}

// appliers maps every live key (config.Key.Live) to what applies it. To
// make a key reloadable: mark it Live in libs/config and add its line here.
func appliers(p liveParts) map[string]applyFunc {
	return map[string]applyFunc{
		"logging.level": func(_, c config.Config) { _ = logging.SetLevel(p.logger, c.Logging.Level) },
		"logging.format": func(_, c config.Config) {
			_ = logging.SetFormat(p.logger, c.Logging.Format, p.journal)
		},
		"jobs.workers":            func(_, c config.Config) { p.pool.SetWorkers(c.Jobs.Workers) },
		"jobs.lease_duration":     func(_, c config.Config) { p.pool.SetLease(c.Jobs.LeaseDuration) },
		"server.shutdown_timeout": func(_, c config.Config) { p.group.SetShutdownTimeout(c.Server.ShutdownTimeout) },
		"jobs.retention_days":     func(_, c config.Config) { p.retention.SetDays(c.Jobs.RetentionDays) },
		"jobs.stall_timeout":      func(_, c config.Config) { p.limits.setStallTimeouts(c) },
		"jobs.stall_timeouts":     func(_, c config.Config) { p.limits.setStallTimeouts(c) },
		"jobs.limits":             func(_, c config.Config) { p.limits.setLimits(c) },
		"jobs.tags":               func(_, c config.Config) { p.node.set(c.Jobs.Tags) },
		// Encodes started from now on run at the new niceness.
		"jobs.nice": func(_, c config.Config) { p.executor.SetNice(c.Jobs.Nice) },
		// Apply jobs read the policies.* keys when they start.
		"policies.dir":              func(_, c config.Config) { p.applier.SetSettings(policySettings(c)) },
		"policies.keep_original":    func(_, c config.Config) { p.applier.SetSettings(policySettings(c)) },
		"policies.min_file_age":     func(_, c config.Config) { p.applier.SetSettings(policySettings(c)) },
		"policies.require_approval": func(_, c config.Config) { p.applier.SetSettings(policySettings(c)) },
		// The pool holds jobs of the scheduled kinds outside the window.
		"jobs.schedule":        func(_, c config.Config) { p.setSchedule(c) },
		"jobs.scheduled_kinds": func(_, c config.Config) { p.setSchedule(c) },
		// One change per library added, removed or changed; setting the
		// whole list is idempotent, so repeating it per change is fine.
		"library": func(_, c config.Config) {
			if p.libraries != nil {
				p.libraries(c.Libraries)
			}
		},
	}
}

func (p liveParts) setSchedule(c config.Config) {
	if p.queue != nil {
		p.limits.warnUnknown("jobs.scheduled_kinds", c.Jobs.ScheduledKinds)
		p.queue.setSchedule(scheduleOf(c))
	}
}

// reloader re-reads the configuration on SIGHUP and applies what can
// change while vpo runs. Reloads are serialised.
type reloader struct {
	load   func() (*config.Loaded, error)
	apply  map[string]applyFunc
	log    *logrus.Entry
	health *health.Health
	// reloaded, when set, is told each reload's result: "changed",
	// "unchanged" or "failed" (metrics).
	reloaded func(result string)
	announce *announcer

	mu      sync.Mutex
	running config.Config
}

// Reload re-reads the config file and environment with the flags given at
// start and applies the live changes. An invalid configuration changes
// nothing. A changed restart-only key is logged and keeps its value.
func (r *reloader) Reload(context.Context) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.announce.reloading()
	var failed error
	defer func() { r.announce.reloaded(failed) }()

	loaded, err := r.load()
	if err != nil {
		failed = err
		r.log.Errorf("configuration reload failed, keeping the running configuration: %v", err)
		r.health.ConfigReloadFailed(err.Error())
		r.count("failed")
		return
	}
	for _, w := range loaded.Warnings {
		r.log.Warn(w)
	}
	effective, live, restart := config.Reload(r.running, loaded.Config)
	for _, c := range restart {
		r.log.WithField("key", c.Key).Warnf("%s changed from %s to %s, but a new value takes a restart (systemctl restart vpo); keeping %s",
			c.Key, shownValue(c.Old), shownValue(c.New), shownValue(c.Old))
	}
	old := r.running
	for _, c := range live {
		f, ok := r.apply[c.Key]
		if !ok {
			// A key marked live without an applier (a test prevents it):
			// keep it as it runs.
			r.log.WithField("key", c.Key).Errorf("%s cannot be applied live; keeping %s", c.Key, shownValue(c.Old))
			continue
		}
		f(old, effective)
		switch {
		case c.Old == "": // a library added
			r.log.WithField("key", c.Key).Infof("%s added: %s", c.Key, c.New)
		case c.New == "": // a library removed
			r.log.WithField("key", c.Key).Infof("%s removed: %s", c.Key, c.Old)
		default:
			r.log.WithField("key", c.Key).Infof("%s changed from %s to %s", c.Key, shownValue(c.Old), shownValue(c.New))
		}
	}
	r.running = effective
	r.health.ConfigReloaded(len(live) > 0)
	if len(live) == 0 {
		r.count("unchanged")
		r.log.Info("configuration reloaded: nothing to change")
		return
	}
	r.count("changed")
	r.log.WithField("changed", len(live)).Info("configuration reloaded")
}

// shownValue drops the quotes of a TOML string literal for log messages
// (the text format would escape them): "debug" → debug.
func shownValue(literal string) string {
	if v, err := strconv.Unquote(literal); err == nil && v != "" {
		return v
	}
	return literal
}

// liveKeys lists the keys that appliers covers, sorted.
func liveKeys(m map[string]applyFunc) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func (r *reloader) count(result string) {
	if r.reloaded != nil {
		r.reloaded(result)
	}
}
