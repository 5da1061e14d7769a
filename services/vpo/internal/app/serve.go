package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/sirupsen/logrus"

	"github.com/vpo-project/vpo/libs/config"
	"github.com/vpo-project/vpo/libs/health"
	"github.com/vpo-project/vpo/libs/jobs"
	"github.com/vpo-project/vpo/libs/lifecycle"
	"github.com/vpo-project/vpo/libs/logging"
	"github.com/vpo-project/vpo/libs/store"
	"github.com/vpo-project/vpo/services/vpo/internal/server"
)

// shutdownGrace is how long past shutdown_timeout vpo still waits for its
// parts to return before exiting anyway.
const shutdownGrace = 500 * time.Millisecond

func addServe(app *kingpin.Application, env Env, cmds map[string]commandFunc) {
	cmd := app.Command("serve", "Run the daemon in the foreground until SIGTERM or SIGINT.")
	flags := addConfigFlags(cmd, true)
	cmds[cmd.FullCommand()] = func(ctx context.Context) error {
		return serve(ctx, env, flags)
	}
}

// journalStderr reports whether stderr is connected to systemd's journal.
func journalStderr(env Env) bool {
	f, ok := env.Stderr.(*os.File)
	return ok && logging.StderrIsJournal(f, env.getenv("JOURNAL_STREAM"))
}

// bootstrapLogger logs start-up failures before the configuration is known:
// it honours --log-level/--log-format when they are valid.
func bootstrapLogger(env Env, flags *configFlags, journal bool) *logrus.Logger {
	opts := logging.Options{Level: "info", Format: "text", Output: env.Stderr, Journal: journal}
	if flags.levelSet {
		opts.Level = flags.level
	}
	if flags.fmtSet {
		opts.Format = flags.format
	}
	if l, err := logging.New(opts); err == nil {
		return l
	}
	opts.Level, opts.Format = "info", "text"
	l, _ := logging.New(opts)
	return l
}

func serve(ctx context.Context, env Env, flags *configFlags) error {
	journal := journalStderr(env)
	// Subscribe to signals first: a SIGTERM during start-up must still mean
	// a graceful stop, not the default kill.
	boot := logging.Component(bootstrapLogger(env, flags, journal), "daemon")
	signals := lifecycle.NewSignals(boot)
	defer signals.Close()

	loaded, err := config.Load(flags.options(env))
	if err != nil {
		boot.Errorf("invalid configuration: %v", err)
		return reported(ExitConfig)
	}
	cfg := loaded.Config
	logger, err := logging.New(logging.Options{
		Level: cfg.Logging.Level, Format: cfg.Logging.Format, Output: env.Stderr, Journal: journal,
	})
	if err != nil {
		boot.Errorf("invalid configuration: %v", err)
		return reported(ExitConfig)
	}
	defer func() { _ = logging.Flush(logger) }()
	log := logging.Component(logger, "daemon")
	signals.SetLog(log)
	for _, w := range loaded.Warnings {
		log.Warn(w)
	}
	configFile := loaded.File
	if configFile == "" {
		configFile = "(none, built-in defaults)"
	}
	log.WithFields(logrus.Fields{
		"version": env.Build.Version, "commit": env.Build.Commit, "config_file": configFile,
		"address": cfg.Addr(), "database": cfg.Database.Path, "workers": cfg.Jobs.Workers,
	}).Info("starting vpo")

	st, err := store.Open(ctx, cfg.Database.Path, store.Options{})
	if err != nil {
		log.Errorf("cannot open the library database: %v", err)
		return reported(ExitDatabase)
	}
	storeClosed := false
	closeStore := func() error {
		if storeClosed {
			return nil
		}
		storeClosed = true
		return st.Close()
	}
	defer func() { _ = closeStore() }()

	if cfg.Server.AuthToken == "" && !loopbackBind(cfg.Server.Bind) {
		log.Errorf("refusing to listen on non-loopback address %s without [server] auth_token (or VPO_AUTH_TOKEN)", cfg.Server.Bind)
		return reported(ExitConfig)
	}

	ln, err := server.Listen(ctx, cfg.Addr())
	if err != nil {
		log.Errorf("cannot start the HTTP server: %v", err)
		return reported(ExitBind)
	}

	registry, err := newRegistry(cfg, st, logger)
	if err != nil {
		_ = ln.Close()
		log.Errorf("job kinds: %v", err)
		return reported(ExitFailure)
	}
	pool := jobs.NewPool(st, registry, jobs.PoolOptions{
		Workers: cfg.Jobs.Workers,
		Lease:   cfg.Jobs.LeaseDuration,
		Log:     logging.Component(logger, "jobs"),
	})

	hl := health.New(health.Options{
		Version:  env.Build.Version,
		Database: health.CheckerFunc(st.Ping),
		Ready:    pool.Running,
		Stats:    jobStats(st, pool),
	})
	api := server.NewJobsAPI(server.JobsAPIOptions{
		Store:     st,
		Kinds:     registry,
		Submitted: pool.Notify,
		Accepting: func() bool { return !hl.ShuttingDown() },
		AuthToken: cfg.Server.AuthToken,
	})
	httpLog := logging.Component(logger, "http")
	httpSrv := server.NewHTTPServer(ln, server.NewRouter(server.RouterOptions{
		Health: hl, Jobs: api, Log: httpLog,
	}), func(s string) { httpLog.Debug(s) })

	notifier := lifecycle.NewNotifier()
	group := lifecycle.NewGroup(lifecycle.GroupOptions{
		ShutdownTimeout: cfg.Server.ShutdownTimeout,
		Grace:           shutdownGrace,
		Log:             log,
		OnShutdown: func(reason string) {
			hl.SetShuttingDown()
			if err := notifier.Stopping("shutting down: " + reason); err != nil {
				log.Warnf("systemd notify: %v", err)
			}
		},
	})
	group.Add(signals)
	group.Add(&poolActor{pool: pool})
	group.Add(httpSrv)

	hl.SetReady(true)
	status := fmt.Sprintf("serving on http://%s, %d workers", httpSrv.Addr(), cfg.Jobs.Workers)
	if err := notifier.Ready(status); err != nil {
		log.Warnf("systemd notify: %v", err)
	}
	log.WithField("address", httpSrv.Addr().String()).Info("vpo is ready")

	runErr := group.Run(ctx)
	if err := closeStore(); err != nil {
		log.Errorf("close database: %v", err)
		if runErr == nil {
			runErr = err
		}
	}
	if runErr != nil {
		if errors.Is(runErr, lifecycle.ErrStopTimeout) {
			log.Errorf("vpo stopped, but not everything finished within shutdown_timeout %s", cfg.Server.ShutdownTimeout)
		} else {
			log.Errorf("vpo stopped after a failure: %v", runErr)
		}
		return reported(ExitFailure)
	}
	log.Info("vpo stopped cleanly")
	return nil
}

// poolActor adapts the worker pool to lifecycle.Actor.
type poolActor struct{ pool *jobs.Pool }

func (a *poolActor) Name() string                       { return "workers" }
func (a *poolActor) Run(ctx context.Context) error      { return a.pool.Run(ctx) }
func (a *poolActor) Shutdown(ctx context.Context) error { return a.pool.Shutdown(ctx) }

// jobStats adds the queue's numbers to /health. The queued count comes
// from the database, so it is cached briefly: bursts of health requests do
// not turn into bursts of queries.
func jobStats(st *store.Store, pool *jobs.Pool) func(ctx context.Context) map[string]any {
	const ttl = 500 * time.Millisecond
	var (
		mu     sync.Mutex
		queued int
		at     time.Time
	)
	return func(ctx context.Context) map[string]any {
		mu.Lock()
		defer mu.Unlock()
		if time.Since(at) > ttl {
			qctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
			counts, err := st.CountJobs(qctx)
			cancel()
			if err == nil {
				queued, at = counts["queued"], time.Now()
			}
		}
		return map[string]any{"workers": pool.Workers(), "jobs_running": pool.Active(), "jobs_queued": queued}
	}
}
