package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/sirupsen/logrus"

	"github.com/vpo-project/vpo/libs/config"
	"github.com/vpo-project/vpo/libs/health"
	"github.com/vpo-project/vpo/libs/jobs"
	"github.com/vpo-project/vpo/libs/lifecycle"
	"github.com/vpo-project/vpo/libs/logging"
	"github.com/vpo-project/vpo/libs/store"
	"github.com/vpo-project/vpo/services/vpo/internal/apply"
	"github.com/vpo-project/vpo/services/vpo/internal/applyjob"
	"github.com/vpo-project/vpo/services/vpo/internal/events"
	"github.com/vpo-project/vpo/services/vpo/internal/inplace"
	"github.com/vpo-project/vpo/services/vpo/internal/joblog"
	"github.com/vpo-project/vpo/services/vpo/internal/library"
	"github.com/vpo-project/vpo/services/vpo/internal/metrics"
	"github.com/vpo-project/vpo/services/vpo/internal/scan"
	"github.com/vpo-project/vpo/services/vpo/internal/server"
)

// shutdownGrace is how long past shutdown_timeout vpo still waits for its
// parts to return before exiting anyway: the handlers' grace and a second
// for the pool's bookkeeping. Then handlers abandoned still get up to
// handlerGrace before the store closes: packaging/vpo.service's
// TimeoutStopSec (shutdown_timeout's default + these 5 s + a margin)
// depends on both.
const shutdownGrace = handlerGrace + time.Second

// handlerGrace is how long the worker pool waits, after cancelling jobs at
// the deadline, for their handlers to return before abandoning them: an
// apply's cancellation removes its temporary file at once, then waits for
// the tool's kill and reap and ends its journal record, which takes a busy
// machine (a niced encoder with many threads) more than a moment.
const handlerGrace = 2 * time.Second

// serveCommand is the daemon's command; every other command gives the
// signals back to their default dispositions.
const serveCommand = "serve"

func addServe(app *kingpin.Application, env Env, cmds map[string]commandFunc) {
	cmd := app.Command(serveCommand, "Run the daemon in the foreground until SIGTERM or SIGINT; SIGHUP reloads the configuration.")
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
	// main subscribed to the signals first thing: a SIGTERM during
	// start-up still means a graceful stop, not the default kill.
	signals := env.Signals
	if signals == nil {
		signals = lifecycle.NewSignals()
	}
	defer signals.Close()
	journal := journalStderr(env)
	boot := logging.Component(bootstrapLogger(env, flags, journal), "daemon")
	signals.SetLog(boot)
	var quitLog atomic.Pointer[logrus.Entry]
	quitLog.Store(boot)
	signals.HandleQuit(func(os.Signal) { quit(env, quitLog.Load()) })

	loaded, err := config.Load(flags.options(env))
	// The tools vpo runs (ffprobe, ffmpeg, mkvmerge) inherit its
	// environment: not its secrets. (Reloads read env.Environ, kept.)
	hideSecrets()
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
	quitLog.Store(log)
	for _, w := range loaded.Warnings {
		log.Warn(w)
	}
	configFile := loaded.File
	if configFile == "" {
		configFile = "(none, built-in defaults)"
	}
	log.WithFields(logrus.Fields{
		"version": env.Build.Version, "commit": env.Build.Commit, "config_file": configFile,
		"address": cfg.Addr(), "database": databaseName(cfg), "workers": cfg.Jobs.Workers,
	}).Info("starting vpo")

	// A configuration problem: refuse before touching the database.
	if err := loaded.CheckServe(); err != nil {
		// One log line per problem (several libraries may have one).
		for _, problem := range splitJoined(err) {
			log.Errorf("invalid configuration: %v", problem)
		}
		return reported(ExitConfig)
	}

	// Bind before opening (and perhaps creating) the database: a start that
	// fails on the port leaves no new database file behind.
	ln, err := server.Listen(ctx, cfg.Addr())
	if err != nil {
		log.Errorf("cannot start the HTTP server: %v", err)
		return reported(ExitBind)
	}

	st, err := openStore(ctx, cfg, func(msg string) { log.Warn(msg) })
	if err != nil {
		_ = ln.Close()
		log.Errorf("cannot open the library database: %v", err)
		return reported(ExitDatabase)
	}
	if err := st.SetNode(cfg.Node.Name, cfg.Jobs.Tags); err != nil {
		_ = st.Close()
		_ = ln.Close()
		log.Errorf("invalid configuration: %v", err)
		return reported(ExitConfig)
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

	journalDir := filepath.Join(filepath.Dir(cfg.Database.Path), applyJournalDir)
	executor, err := apply.New(apply.Options{
		JournalDir: journalDir,
		InPlace: &inplace.Editor{
			JournalDir: filepath.Join(journalDir, "inplace"),
			Logger:     logging.Component(logger, "inplace"),
		},
		Logger: logging.Component(logger, "apply"),
		Nice:   cfg.Jobs.Nice,
	})
	if err != nil {
		_ = ln.Close()
		log.Errorf("cannot set up the policy executor: %v", err)
		return reported(ExitFailure)
	}
	// Before any worker runs: what applies killed mid-way left behind.
	recoverApplies(ctx, executor, logging.Component(logger, "apply"))
	applier := applyjob.New(st, executor, policySettings(cfg), logging.Component(logger, "apply"))
	registry, err := newRegistry(cfg, st, logger, applier)
	if err != nil {
		_ = ln.Close()
		log.Errorf("job kinds: %v", err)
		return reported(ExitFailure)
	}
	// The log lines of each job are kept with it.
	jobLogs := joblog.NewHook()
	logger.AddHook(jobLogs)
	// What other nodes store reaches this one through the feed (the
	// pool and queue it acts on are made below, before the broker runs).
	var feed *clusterFeed
	broker := events.New(st, events.Options{
		MaxStreams: cfg.Server.MaxEventStreams,
		Log:        logging.Component(logger, "events"),
		OnEvent:    func(e store.Event) { feed.onEvent(e) },
	})
	if err := broker.Prime(ctx); err != nil {
		_ = ln.Close()
		log.Errorf("cannot open the library database: %v", err)
		return reported(ExitDatabase)
	}
	mx := metrics.New(metrics.Options{
		Version: env.Build.Version, Commit: env.Build.Commit, GoVersion: runtime.Version(),
		JobCounts: st.CountJobsByKind, Streams: broker.Stats, JobLogDropped: jobLogs.Dropped,
	})
	countScans(registry, mx)
	applier.OnWritten(mx.Written)
	pool := jobs.NewPool(st, registry, jobs.PoolOptions{
		Observer:      mx,
		Workers:       cfg.Jobs.Workers,
		Lease:         cfg.Jobs.LeaseDuration,
		ShutdownGrace: handlerGrace,
		// Every node looks for expired leases every second (one indexed
		// UPDATE), so that a job of a node that died runs again within
		// about a second after its lease ends.
		RecoverInterval: recoverEvery,
		Log:             logging.Component(logger, "jobs"),
	})
	beat := newHeartbeat(st, store.Node{
		Name: cfg.Node.Name, Owner: pool.Owner(), Version: env.Build.Version, Address: ln.Addr().String(), StartedAt: time.Now(),
	}, cfg.Jobs.Tags, pool.Workers, pool.Lease, logging.Component(logger, "node"))
	limits := jobLimits{pool: pool, kinds: registry.Kinds(), log: logging.Component(logger, "jobs")}
	limits.setStallTimeouts(cfg)
	limits.setLimits(cfg)
	libs := newLibraries(cfg, env, st, pool, registry, logger)

	// The queue's processing window and its stored pause, in effect before
	// the first claim: a queue paused before a restart stays paused.
	queue := newQueueControl(pool, st, logging.Component(logger, "jobs"))
	queue.known = registry.Kinds()
	limits.warnUnknown("jobs.scheduled_kinds", cfg.Jobs.ScheduledKinds)
	queue.setSchedule(scheduleOf(cfg))
	if err := queue.restore(ctx); err != nil {
		_ = ln.Close()
		log.Errorf("cannot open the library database: %v", err)
		return reported(ExitDatabase)
	}

	var queued atomic.Int64 // jobs_queued, refreshed by the database check
	hl := health.New(health.Options{
		Version:  env.Build.Version,
		Database: timedCheck(databaseCheck(st, log, &queued), mx.DatabaseChecked),
		Ready:    pool.Running,
		Stats:    libs.stats(jobStats(pool, queue, &queued)),
		// Under load /health is written a few times a second, not for
		// every request (docs/benchmarks.md); what an operator changes
		// (pause, resume, window, reload, shutdown) shows at once.
		RenderFor: healthRenderFor,
		Timeout:   databaseCheckTimeout(cfg),
	})
	queue.changed = hl.Changed
	feed = newClusterFeed(pool.Notify, pool.CheckCancel, queue.follow)
	api := server.NewJobsAPI(server.JobsAPIOptions{
		Store:     st,
		Kinds:     registry,
		Submitted: pool.Notify,
		Cancelled: pool.CheckCancel,
		Accepting: func() bool { return !hl.ShuttingDown() },
		Log:       logging.Component(logger, "api"),
	})
	policiesAPI := server.NewPoliciesAPI(server.PoliciesAPIOptions{
		Store:     st,
		Dir:       func() string { return applier.Settings().Dir },
		Submitted: pool.Notify,
		Accepting: func() bool { return !hl.ShuttingDown() },
		Log:       logging.Component(logger, "api"),
	})
	// Sonarr/Radarr hooks: imported files go to the library that holds them.
	hooksAPI := server.NewHooksAPI(server.HooksAPIOptions{
		Target:    libs.manager,
		Outside:   library.ErrOutsideLibraries,
		NotQueued: library.ErrNotQueued,
		Submitted: pool.Notify,
		Accepting: func() bool { return !hl.ShuttingDown() },
		Log:       logging.Component(logger, "hooks"),
	})
	dash, sessions, err := dashboard(cfg, st, hl, registry, applier, logging.Component(logger, "web"))
	if err != nil {
		_ = ln.Close()
		log.Errorf("cannot set up the dashboard: %v", err)
		return reported(ExitFailure)
	}
	httpLog := logging.Component(logger, "http")
	httpSrv := server.NewHTTPServer(ln, server.NewRouter(server.RouterOptions{
		Health: hl, Jobs: api, Policies: policiesAPI, Hooks: hooksAPI, Libraries: libs.api(hl, logger), Log: httpLog,
		Queue:     server.NewQueueAPI(queue, logging.Component(logger, "api")),
		Nodes:     server.NewNodesAPI(server.NodesAPIOptions{Store: st, Lease: pool.Lease, Self: pool.Owner(), Log: logging.Component(logger, "api")}),
		Events:    broker.Handler(),
		Metrics:   mx.Handler(),
		Dashboard: dash.Routes(),
		Sessions:  sessions,
		Observe:   mx.Observe,
		AuthToken: cfg.Server.AuthToken, AllowedHosts: cfg.Server.AllowedHosts,
	}), func(s string) { httpLog.Debug(s) })

	announce := &announcer{
		notifier: lifecycle.NewNotifier(),
		log:      log,
		status: func() string {
			return fmt.Sprintf("serving on http://%s, %d workers", httpSrv.Addr(), pool.Workers())
		},
	}
	group := lifecycle.NewGroup(lifecycle.GroupOptions{
		ShutdownTimeout: cfg.Server.ShutdownTimeout,
		Grace:           shutdownGrace,
		Log:             log,
		OnShutdown: func(reason string) {
			hl.SetShuttingDown()
			announce.stoppingNow(reason)
		},
	})
	retainer := newRetention(st, cfg.Jobs.RetentionDays, logging.Component(logger, "retention"))
	reload := &reloader{
		load: func() (*config.Loaded, error) {
			// The file found at start stays the file (if it vanished, that
			// is an error, not a fall back to another file or to the
			// defaults), and it gets the same checks as at start.
			opts := flags.options(env)
			opts.ReloadPath = loaded.File
			l, err := config.Load(opts)
			if err == nil {
				err = l.CheckServe()
			}
			return l, err
		},
		apply: appliers(liveParts{logger: logger, journal: journal, pool: pool, group: group, retention: retainer, applier: applier,
			executor: executor, limits: limits, queue: queue, libraries: libs.reload, node: nodeTags{st: st, beat: beat, name: cfg.Node.Name}}),
		log:      log,
		health:   hl,
		reloaded: mx.ConfigReloaded,
		announce: announce,
		running:  cfg,
	}
	signals.OnReload(reload.Reload)
	group.Add(signals)
	// Event streams end first: they must not hold the HTTP server's drain.
	group.Add(broker)
	group.Add(newListener(st, feed, broker.Poke, logging.Component(logger, "events")))
	group.Add(newHealthWatch(hl.Report, broker))
	group.Add(libs.manager) // first to stop: no new jobs queued once shutdown starts
	group.Add(&poolActor{pool: pool})
	// After the pool: the lines of jobs interrupted at shutdown are kept.
	group.Add(joblog.NewWriter(jobLogs, st, logging.Component(logger, "joblog")))
	group.Add(httpSrv)
	group.Add(retainer)
	group.Add(beat)

	// Ready once the workers run (the store is open and the port bound
	// already): only then do /health and READY=1 say so.
	groupDone := make(chan struct{})
	go func() {
		select {
		case <-pool.Started():
		case <-groupDone:
			return
		}
		// Not when a shutdown began first.
		announce.readyNow(func() {
			hl.SetReady(true)
			log.WithField("address", httpSrv.Addr().String()).Info("vpo is ready")
		})
	}()

	runErr := group.Run(ctx)
	close(groupDone)
	// A handler abandoned at the deadline may still be recording its
	// outcome (a plan's status): the store stays open for it a little
	// longer. One still running after that leaves its plan approved; the
	// job's next attempt supersedes it.
	waitCtx, waitCancel := context.WithTimeout(context.WithoutCancel(ctx), handlerGrace)
	if !pool.WaitHandlers(waitCtx) {
		log.Warn("closing the database while abandoned job handlers still run; their jobs were requeued and run again")
	}
	waitCancel()
	if err := closeStore(); err != nil {
		log.Errorf("close database: %v", err)
		if runErr == nil {
			runErr = err
		}
	}
	if runErr != nil {
		if errors.Is(runErr, lifecycle.ErrStopTimeout) {
			log.Errorf("vpo stopped, but not everything finished within shutdown_timeout %s", group.ShutdownTimeout())
		} else {
			log.Errorf("vpo stopped after a failure: %v", runErr)
		}
		return reported(ExitFailure)
	}
	log.Info("vpo stopped cleanly")
	return nil
}

// databaseCheckTimeout bounds /health's database check: the default (a
// local SQLite file answers in microseconds), or a second for a
// PostgreSQL server, which may be a network round trip or two away.
func databaseCheckTimeout(cfg config.Config) time.Duration {
	if cfg.Database.URL != "" {
		return time.Second
	}
	return 0
}

// recoverEvery is how often each node takes back the jobs whose lease
// expired.
const recoverEvery = time.Second

// applyJournalDir is the directory, next to the database, where the policy
// executor journals its rewrites.
const applyJournalDir = "apply-journal"

// recoverer undoes what interrupted applies left behind.
type recoverer interface {
	Recover(ctx context.Context) ([]string, error)
}

// recoverApplies runs the executor's start-up recovery and logs what it
// removed or restored; a failure is logged, not fatal (the journal stays
// for the next start).
func recoverApplies(ctx context.Context, r recoverer, log *logrus.Entry) {
	paths, err := r.Recover(ctx)
	if err != nil {
		log.Errorf("recover interrupted policy applies: %v", err)
	}
	for _, p := range paths {
		log.WithField("file_path", p).Warn("interrupted policy apply cleaned up at start")
	}
}

// healthStore is what the /health database check reads.
type healthStore interface {
	Ping(ctx context.Context) error
	CountQueued(ctx context.Context) (int, error)
}

// quit answers SIGQUIT: like Go's default, it writes the stacks of all
// goroutines to stderr and ends the process at once (no graceful
// shutdown; running jobs are recovered when their lease expires), but with
// ExitQuit rather than Go's 2, which means a bad command line here.
func quit(env Env, log *logrus.Entry) {
	log.Errorf("received SIGQUIT: writing the stacks of all goroutines to stderr and exiting with code %d, without a graceful shutdown", ExitQuit)
	if err := lifecycle.WriteGoroutines(env.Stderr); err != nil {
		log.Errorf("%v", err)
	}
	_ = logging.Flush(log.Logger)
	env.exit(ExitQuit)
}

// databaseCheck is the /health database check. Policy (README, "Database
// faults"): when the database file is deleted, moved away or loses its
// read/write permission while vpo runs, /health and /health/ready answer 503
// (degraded) and vpo keeps running; once the file is back, health recovers
// by itself. vpo never deletes or rewrites the file because of a failed
// check. Each change of state is logged once; a check that outlives its
// time limit is a failure like any other.
//
// Only the ping decides the database's state. The queue length (jobs_queued)
// rides on the check, so health requests never query on their own, but it
// is statistics: a count that fails or is slow leaves the last value in
// place, is logged once, and never makes the database "disconnected".
func databaseCheck(st healthStore, log *logrus.Entry, queued *atomic.Int64) health.Checker {
	var failing atomic.Bool
	refreshQueued := queueCounter(st, log, queued)
	return health.CheckerFunc(func(ctx context.Context) error {
		err := st.Ping(ctx)
		if err == nil && ctx.Err() == nil {
			// ctx.Err() turns non-nil only once the deadline's timer has
			// run, which a busy machine may delay past the Ping.
			if deadline, ok := ctx.Deadline(); ok && !time.Now().Before(deadline) {
				err = fmt.Errorf("database check exceeded its time limit: %w", context.DeadlineExceeded)
			}
		}
		if err == nil && ctx.Err() != nil {
			// The health probe has answered "timed out" already.
			err = fmt.Errorf("database check exceeded its time limit: %w", ctx.Err())
		}
		if err == nil {
			refreshQueued(ctx)
		}
		switch {
		case err != nil && !failing.Swap(true):
			log.Errorf("database check failed, /health reports degraded: %v", err)
		case err == nil && failing.Swap(false):
			log.Info("database check passes again, /health reports healthy")
		}
		return err
	})
}

// queueCounter returns the function that refreshes queued from
// st.CountQueued (one primary-key lookup of job_counts). It waits for the
// count at most half of the time ctx has left, so that the check it rides
// on still answers in time; a count still running then (even one that
// ignores its context) finishes in the background and stores its value,
// and no second count starts until it has. A failed count keeps the last
// value; the first failure and the recovery are logged once.
func queueCounter(st healthStore, log *logrus.Entry, queued *atomic.Int64) func(ctx context.Context) {
	var running, failing atomic.Bool
	return func(ctx context.Context) {
		if !running.CompareAndSwap(false, true) {
			return
		}
		cctx, cancel := context.WithoutCancel(ctx), context.CancelFunc(func() {})
		if deadline, ok := ctx.Deadline(); ok {
			cctx, cancel = context.WithTimeout(cctx, time.Until(deadline)/2)
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			defer running.Store(false)
			defer cancel()
			n, err := st.CountQueued(cctx)
			switch {
			case err != nil && !failing.Swap(true):
				log.Warnf("jobs_queued not refreshed, /health keeps the last value: %v", err)
			case err == nil:
				queued.Store(int64(n))
				if failing.Swap(false) {
					log.Info("jobs_queued refreshed again")
				}
			}
		}()
		select {
		case <-done:
		case <-cctx.Done():
		case <-ctx.Done():
		}
	}
}

// poolActor adapts the worker pool to lifecycle.Actor.
type poolActor struct{ pool *jobs.Pool }

func (a *poolActor) Name() string                       { return "workers" }
func (a *poolActor) Run(ctx context.Context) error      { return a.pool.Run(ctx) }
func (a *poolActor) Shutdown(ctx context.Context) error { return a.pool.Shutdown(ctx) }

// jobStats adds the queue's numbers to /health from memory: the queued
// count is the one the last database check read; "queue" tells whether it
// is paused and when its processing window opens.
// healthRenderFor is how long a written /health document is served again.
const healthRenderFor = 20 * time.Millisecond

func jobStats(pool *jobs.Pool, queue *queueControl, queued *atomic.Int64) func(ctx context.Context) map[string]any {
	return func(context.Context) map[string]any {
		return map[string]any{"workers": pool.Workers(), "jobs_running": pool.Active(), "jobs_queued": queued.Load(),
			"queue": queue.health()}
	}
}

// timedCheck tells observe how long each run of check took and how it
// ended (metrics).
func timedCheck(check health.Checker, observe func(time.Duration, error)) health.Checker {
	return health.CheckerFunc(func(ctx context.Context) error {
		start := time.Now()
		err := check.Check(ctx)
		observe(time.Since(start), err)
		return err
	})
}

// countScans hooks the scan metrics to the scan handler of reg.
func countScans(reg *jobs.Registry, mx *metrics.Metrics) {
	h, ok := reg.Lookup(scan.Kind)
	if !ok {
		return
	}
	if f, ok := h.(scanFinisher); ok {
		f.OnFinished(func(_ context.Context, _ string, res scan.Result) {
			mx.ScanFinished(res.Recursive, res.New, res.Changed, res.Unchanged, res.Missing, res.Bytes,
				time.Duration(res.Seconds*float64(time.Second)))
		})
	}
}
