package config

import (
	"path/filepath"
	"strings"
	"time"
)

// DefaultSystemPath is the config file of a packaged install.
const DefaultSystemPath = "/etc/vpo/config.toml"

// packagedDatabasePath is the database of a packaged install, where the
// daemon runs as the "vpo" system user.
const packagedDatabasePath = "/var/lib/vpo/library.db"

// maxWorkers bounds jobs.workers (and each of jobs.limits).
const maxWorkers = 256

// minStallTimeout is the shortest non-zero jobs.stall_timeout (and entry
// of jobs.stall_timeouts): a shorter one fails every job before its first
// progress report.
const minStallTimeout = time.Second

// maxStallTimeout bounds jobs.stall_timeout and jobs.stall_timeouts.
const maxStallTimeout = 24 * time.Hour

// maxRetentionDays bounds jobs.retention_days (100 years).
const maxRetentionDays = 36500

// Options carries everything Load needs from the process, so that loading is
// deterministic and testable.
type Options struct {
	// ExplicitPath is the config file named by --config; it must exist.
	ExplicitPath string
	// ReloadPath is the file a running daemon started with (Loaded.File):
	// a reload reads it again, wherever it was found, and it must exist.
	// It wins over every lookup, ExplicitPath included.
	ReloadPath string
	// SystemPath is the system-wide config file; "" means DefaultSystemPath.
	SystemPath string
	// Env is the process environment as "KEY=value" entries, like
	// os.Environ(). When a name repeats, the first entry wins, as with
	// os.Getenv. Empty values count as unset.
	Env []string
	// Flags maps config keys ("server.port") to the raw values of the
	// command-line flags the user actually set. Flag names ("--port") are
	// accepted as keys too.
	Flags map[string]string
	// Home is the user's home directory, used for ~/.vpo and "~/" expansion.
	Home string
	// Username is the name of the user running the daemon.
	Username string
	// StateDirectory is systemd's $STATE_DIRECTORY (a colon-separated list;
	// the first entry is used).
	StateDirectory string
	// NumCPU is runtime.NumCPU(); it sets the default number of workers.
	NumCPU int
	// Hostname is os.Hostname(); it is the default node name.
	Hostname string
}

func (o Options) systemPath() string {
	if o.SystemPath == "" {
		return DefaultSystemPath
	}
	return o.SystemPath
}

// Defaults returns the configuration used when nothing overrides it. The
// default database path is <StateDirectory>/library.db under systemd,
// /var/lib/vpo/library.db for the "vpo" user, and otherwise
// <Home>/.vpo/library.db ("" when Home is unknown, which Load rejects).
func Defaults(opts Options) Config {
	return Config{
		Server: Server{
			Bind:            "127.0.0.1",
			Port:            8321,
			ShutdownTimeout: 30 * time.Second,
			MaxEventStreams: 256,
		},
		Logging: Logging{
			Level:  "info",
			Format: "text",
		},
		Database: Database{
			Path: defaultDatabasePath(opts),
		},
		Jobs: Jobs{
			Workers:       min(max(opts.NumCPU, 1), maxWorkers),
			LeaseDuration: 30 * time.Second,
			RetentionDays: 30,
			StallTimeout:  10 * time.Minute,
			Nice:          10,
			// A new slice each call: callers may keep and change it.
			ScheduledKinds: []string{"apply", "transcode"},
			Tags:           []string{},
		},
		Policies: Policies{
			Dir:        defaultPoliciesDir(opts),
			MinFileAge: time.Minute,
		},
		Node: Node{Name: defaultNodeName(opts.Hostname)},
	}
}

// defaultNodeName is the host name up to its first dot when it is a valid
// node name, else "vpo".
func defaultNodeName(host string) string {
	host, _, _ = strings.Cut(host, ".")
	if checkNodeName(host) != nil {
		return "vpo"
	}
	return host
}

// packagedPoliciesDir is where the packages keep policy files.
const packagedPoliciesDir = "/etc/vpo/policies"

// defaultPoliciesDir is /etc/vpo/policies under systemd or for the "vpo"
// user, else <Home>/.vpo/policies ("" when Home is unknown).
func defaultPoliciesDir(opts Options) string {
	if strings.Trim(opts.StateDirectory, ":") != "" || opts.Username == "vpo" {
		return packagedPoliciesDir
	}
	if opts.Home == "" {
		return ""
	}
	return filepath.Join(opts.Home, ".vpo", "policies")
}

func defaultDatabasePath(opts Options) string {
	for dir := range strings.SplitSeq(opts.StateDirectory, ":") {
		if dir != "" {
			return filepath.Join(dir, "library.db")
		}
	}
	if opts.Username == "vpo" {
		return packagedDatabasePath
	}
	if opts.Home == "" {
		return ""
	}
	return filepath.Join(opts.Home, ".vpo", "library.db")
}
