package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/alecthomas/kingpin/v2"

	"github.com/vpo-project/vpo/libs/lifecycle"
)

// Env is everything the command takes from its process.
type Env struct {
	Stdout  io.Writer
	Stderr  io.Writer
	Environ []string
	Build   BuildInfo
	// Signals is the process's signal subscription, made first thing in
	// main. `serve` runs on it; every other command releases it. Nil: serve
	// subscribes itself (tests).
	Signals *lifecycle.Signals
	// Exit ends the process at once; only SIGQUIT uses it (after the
	// goroutine dump). Nil means os.Exit.
	Exit func(code int)
	// ProcSys is where `vpo doctor` reads kernel settings such as
	// fs/inotify/max_user_watches; "" means /proc/sys.
	ProcSys string
}

// exit ends the process with code.
func (e Env) exit(code int) {
	if e.Exit != nil {
		e.Exit(code)
		return
	}
	os.Exit(code)
}

// releaseSignals gives the signals back to their default dispositions, for
// commands that are not the daemon.
func (e Env) releaseSignals() {
	if e.Signals != nil {
		e.Signals.Release()
	}
}

// BuildInfo is stamped into the binary at link time.
type BuildInfo struct {
	Version string
	Commit  string
}

func (b BuildInfo) String() string {
	v, c := b.Version, b.Commit
	if v == "" {
		v = "dev"
	}
	if c == "" {
		c = "unknown"
	}
	return fmt.Sprintf("vpo %s (commit %s)", v, c)
}

func (e Env) getenv(name string) string {
	prefix := name + "="
	for i := len(e.Environ) - 1; i >= 0; i-- {
		if strings.HasPrefix(e.Environ[i], prefix) {
			return e.Environ[i][len(prefix):]
		}
	}
	return ""
}

const appHelp = `vpo is the daemon of the Video Policy Orchestrator.

'vpo serve' runs in the foreground: it opens the SQLite library database,
serves GET /health and the jobs API over HTTP (default 127.0.0.1:8321), runs
queued jobs with a worker pool, and on SIGTERM or SIGINT shuts down
gracefully within [server] shutdown_timeout. SIGHUP reloads the
configuration; SIGQUIT writes the stacks of all goroutines to stderr and
exits at once.

'vpo queue pause|resume|status' pauses the job queue (the pause is stored
and survives a restart) and shows it with its processing window.

Policies (YAML files in [policies] dir): 'vpo policy list|check|plan' and
'vpo doctor' work without a daemon; 'vpo policy apply' and 'vpo plan
list|approve|reject' go through it.

Configuration file: --config PATH, else $VPO_CONFIG_PATH, else
~/.vpo/config.toml, else /etc/vpo/config.toml; with none, built-in defaults.
Precedence: command-line flags > config file > VPO_* environment > defaults.
'vpo config show' prints every setting and where it came from.

`

// exitError carries an exit code up to Main.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func withCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &exitError{code: code, err: err}
}

// Main runs the vpo command with args (without the program name) and returns
// the process exit code.
func Main(ctx context.Context, args []string, env Env) int {
	app := kingpin.New("vpo", appHelp+envHelp()+"\n"+exitCodeHelp)
	app.UsageWriter(env.Stdout)
	app.ErrorWriter(env.Stderr)
	app.HelpFlag.Short('h')
	// --help, --help-man and --version end the parse at once (kingpin
	// would otherwise go on and print usage after them).
	app.Terminate(func(code int) { panic(terminate{code}) })
	app.Version(env.Build.String())

	cmds := newCommands(app, env)
	if len(args) == 0 {
		env.releaseSignals()
		app.UsageWriter(env.Stderr)
		app.Usage(nil)
		return ExitUsage
	}
	chosen, code, err := parse(app, args)
	if chosen != serveCommand {
		env.releaseSignals()
	}
	if code >= 0 {
		return code
	}
	if err != nil {
		fmt.Fprintf(env.Stderr, "vpo: error: %v (see 'vpo --help')\n", err)
		return ExitUsage
	}
	run, ok := cmds[chosen]
	if !ok {
		fmt.Fprintf(env.Stderr, "vpo: error: no command %q (see 'vpo --help')\n", chosen)
		return ExitUsage
	}
	err = run(ctx)
	if err == nil {
		return ExitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != errReported {
			fmt.Fprintf(env.Stderr, "vpo: error: %v\n", ee.err)
		}
		return ee.code
	}
	fmt.Fprintf(env.Stderr, "vpo: error: %v\n", err)
	return ExitFailure
}

// terminate is raised by kingpin's Terminate hook.
type terminate struct{ code int }

// parse runs kingpin; code is >= 0 when a flag such as --help already
// answered and the process should exit with it.
func parse(app *kingpin.Application, args []string) (chosen string, code int, err error) {
	defer func() {
		if v := recover(); v != nil {
			t, ok := v.(terminate)
			if !ok {
				panic(v)
			}
			chosen, code, err = "", t.code, nil
		}
	}()
	chosen, err = app.Parse(args)
	return chosen, -1, err
}

// errReported marks an error that was already logged by the daemon's
// logger, so Main only sets the exit code.
var errReported = errors.New("reported")

func reported(code int) error { return &exitError{code: code, err: errReported} }

type commandFunc func(ctx context.Context) error

func newCommands(app *kingpin.Application, env Env) map[string]commandFunc {
	cmds := map[string]commandFunc{}
	addServe(app, env, cmds)
	addVersion(app, env, cmds)
	addConfig(app, env, cmds)
	addJobs(app, env, cmds)
	addQueue(app, env, cmds)
	addLibrary(app, env, cmds)
	addPolicy(app, env, cmds)
	addPlan(app, env, cmds)
	addDoctor(app, env, cmds)
	addDB(app, env, cmds)
	addNodes(app, env, cmds)
	return cmds
}

func addVersion(app *kingpin.Application, env Env, cmds map[string]commandFunc) {
	cmd := app.Command("version", "Print the version and commit of this build.")
	cmds[cmd.FullCommand()] = func(context.Context) error {
		_, err := fmt.Fprintln(env.Stdout, env.Build.String())
		return err
	}
}
