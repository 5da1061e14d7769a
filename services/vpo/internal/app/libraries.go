package app

import (
	"context"
	"slices"
	"strconv"

	"github.com/sirupsen/logrus"

	"github.com/vpo-project/vpo/libs/config"
	"github.com/vpo-project/vpo/libs/health"
	"github.com/vpo-project/vpo/libs/jobs"
	"github.com/vpo-project/vpo/libs/logging"
	"github.com/vpo-project/vpo/libs/store"
	"github.com/vpo-project/vpo/services/vpo/internal/library"
	"github.com/vpo-project/vpo/services/vpo/internal/scan"
	"github.com/vpo-project/vpo/services/vpo/internal/server"
)

// testWatchLimitEnv is the test knob that caps the directory watches of
// all libraries together (library.Options.WatchLimit), so that tests can
// make a watch fail as a full fs.inotify.max_user_watches does. It is
// read only when jobs.test_kinds is on.
const testWatchLimitEnv = "VPO_TEST_WATCH_LIMIT"

// librarySpecs maps the configuration's [[library]] tables to the
// manager's specs (the ID comes from the path).
func librarySpecs(cfg config.Config) []library.Spec {
	specs := make([]library.Spec, 0, len(cfg.Libraries))
	for _, l := range cfg.Libraries {
		specs = append(specs, library.Spec{Path: l.Path, Policy: l.Policy, Watch: l.Watch,
			Hold: l.Hold, RescanInterval: l.RescanInterval})
	}
	return specs
}

// libraryParts wires the library manager into serve.
type libraryParts struct {
	manager *library.Manager
}

// newLibraries builds the library manager of cfg: jobs go to st and wake
// pool, the start-up rescans wait for the pool to run, and completed
// scans (scan.Scanner's OnFinished hook) queue the applies of what they
// found.
func newLibraries(cfg config.Config, env Env, st *store.Store, pool *jobs.Pool, reg *jobs.Registry, logger *logrus.Logger) libraryParts {
	log := logging.Component(logger, "library")
	opts := library.Options{
		Store: st, Log: log, Submitted: pool.Notify, Ready: pool.Started(), WatchLimit: watchLimit(cfg, env, log),
	}
	specs := librarySpecs(cfg)
	m := library.New(opts, specs)
	if !hookScans(reg, m) && slices.ContainsFunc(specs, func(s library.Spec) bool { return s.Policy != "" }) {
		log.Warn("the scanner reports no finished scans: rescans record files but queue no applies")
	}
	return libraryParts{manager: m}
}

// watchLimit is the test knob VPO_TEST_WATCH_LIMIT: a positive number,
// honoured only with jobs.test_kinds on; 0 otherwise.
func watchLimit(cfg config.Config, env Env, log *logrus.Entry) int {
	v := env.getenv(testWatchLimitEnv)
	if v == "" || !cfg.Jobs.TestKinds {
		return 0
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		log.Errorf("%s=%q is not a positive number; ignored", testWatchLimitEnv, v)
		return 0
	}
	log.Warnf("test-only watch limit of %d directories ([jobs] test_kinds, %s)", n, testWatchLimitEnv)
	return n
}

// scanFinisher is the scanner's hook for completed scans.
type scanFinisher interface {
	OnFinished(scan.FinishedFunc)
}

// The scan handler serve registers has the hook: a change of its
// signature must break the build, not silently stop the applies.
var _ scanFinisher = (*scan.Scanner)(nil)

// hookScans makes every completed scan call m.ScanFinished; false when
// the registered scan handler has no such hook.
func hookScans(reg *jobs.Registry, m *library.Manager) bool {
	h, ok := reg.Lookup(scan.Kind)
	if !ok {
		return false
	}
	f, ok := h.(scanFinisher)
	if !ok {
		return false
	}
	f.OnFinished(func(ctx context.Context, root string, res scan.Result) {
		// Only a scan with the subdirectories can be a library's rescan:
		// the watcher's scans of one directory record files whose applies
		// it queued already.
		if res.Recursive {
			m.ScanFinished(ctx, root)
		}
	})
	return true
}

// stats adds "libraries" to the /health document of stats.
func (p libraryParts) stats(stats func(ctx context.Context) map[string]any) func(ctx context.Context) map[string]any {
	return func(ctx context.Context) map[string]any {
		out := stats(ctx)
		out["libraries"] = p.manager.Status()
		return out
	}
}

// api is the /api/libraries endpoints.
func (p libraryParts) api(hl *health.Health, logger *logrus.Logger) *server.LibrariesAPI {
	return server.NewLibrariesAPI(server.LibrariesAPIOptions{
		Libraries: p.manager,
		Accepting: func() bool { return !hl.ShuttingDown() },
		Log:       logging.Component(logger, "api"),
	})
}

// reload puts the libraries of a reloaded configuration into effect.
func (p libraryParts) reload(libs []config.Library) {
	p.manager.Set(librarySpecs(config.Config{Libraries: libs}))
}
