package config

import (
	"net"
	"strconv"
	"time"
)

// Config is the validated configuration of `vpo serve`.
type Config struct {
	Server   Server   `toml:"server"`
	Logging  Logging  `toml:"logging"`
	Database Database `toml:"database"`
	Jobs     Jobs     `toml:"jobs"`
	Policies Policies `toml:"policies"`
	Node     Node     `toml:"node"`
	// Libraries are the directories vpo keeps processed on its own, from
	// the config file's [[library]] tables (there is no environment or
	// flag form); nil when there are none.
	Libraries []Library `toml:"library"`
}

// Server configures the HTTP server.
type Server struct {
	// Bind is the IP address literal (or "localhost") to listen on.
	Bind string `toml:"bind"`
	// Port is the TCP port to listen on, 1..65535.
	Port int `toml:"port"`
	// ShutdownTimeout bounds a graceful shutdown; running jobs still busy
	// after it are cancelled and requeued.
	ShutdownTimeout time.Duration `toml:"shutdown_timeout"`
	// AuthToken, when non-empty, is the token every request except the
	// health endpoints requires (Bearer, or the Basic-auth password).
	AuthToken string `toml:"auth_token"`
	// AllowedHosts are extra names (lower case, IPv6 without brackets)
	// that a request's Host header may carry when no AuthToken is set,
	// besides localhost and loopback addresses.
	AllowedHosts []string `toml:"allowed_hosts"`
	// MaxEventStreams bounds the open /api/events streams; one more is
	// answered 503.
	MaxEventStreams int `toml:"max_event_streams"`
}

// Logging configures the logger.
type Logging struct {
	// Level is one of "debug", "info", "warning" or "error".
	Level string `toml:"level"`
	// Format is "text" or "json".
	Format string `toml:"format"`
}

// Database configures the library database: a SQLite file, or a
// PostgreSQL database that several nodes share.
type Database struct {
	// Path is the SQLite database file, with a leading "~/" already
	// expanded; not used when URL is set.
	Path string `toml:"path"`
	// URL, when set, is the PostgreSQL database (postgres://…) in place of
	// the SQLite file. It may hold a password: print RedactedURL.
	URL string `toml:"url"`
}

// RedactedURL is URL with its password replaced, fit to print.
func (d Database) RedactedURL() string { return RedactPasswords(d.URL) }

// Node names this daemon among the nodes that share a database.
type Node struct {
	// Name identifies the node in the nodes list and in the jobs it ran;
	// default the host name.
	Name string `toml:"name"`
}

// Jobs configures the worker pool.
type Jobs struct {
	// Workers is the number of jobs run concurrently, 1..256.
	Workers int `toml:"workers"`
	// LeaseDuration is how long a claimed job stays leased to a worker
	// before it is considered abandoned, 1s..1h.
	LeaseDuration time.Duration `toml:"lease_duration"`
	// RetentionDays is how many days finished jobs (completed, failed,
	// cancelled) are kept before a background task deletes them,
	// 0..36500; 0 keeps them forever.
	RetentionDays int `toml:"retention_days"`
	// TestKinds enables job kinds that exist only for tests.
	TestKinds bool `toml:"test_kinds"`
	// StallTimeout is how long a running job may go without reporting
	// progress before it is cancelled and failed as stalled (and retried
	// while it has attempts left), 1s..24h; 0 turns stall detection off.
	StallTimeout time.Duration `toml:"stall_timeout"`
	// StallTimeouts overrides StallTimeout per job kind (kind → timeout,
	// 1s..24h; 0 turns it off for that kind). nil when empty.
	StallTimeouts map[string]time.Duration `toml:"stall_timeouts"`
	// Tags are the worker tags this node offers (such as "gpu"): it claims
	// the jobs that require only tags among them, and jobs that require
	// none. Never nil after Load.
	Tags []string `toml:"tags"`
	// Limits bounds how many jobs of a kind run at once on this node
	// (kind → 1..256); kinds without an entry are bounded only by Workers.
	// nil when empty.
	Limits map[string]int `toml:"limits"`
	// Nice is the niceness (0..19) at which encodes run.
	Nice int `toml:"nice"`
	// Schedule is the processing window: outside it, workers start no
	// new jobs of the ScheduledKinds. The zero Schedule is always open.
	Schedule Schedule `toml:"schedule"`
	// ScheduledKinds are the job kinds that wait for the Schedule's
	// window (default apply and transcode); other kinds always run.
	ScheduledKinds []string `toml:"scheduled_kinds"`
}

// Policies configures where policy files live and how they are applied.
type Policies struct {
	// Dir is the directory of policy files (*.yaml, *.yml), with a
	// leading "~/" already expanded.
	Dir string `toml:"dir"`
	// KeepOriginal keeps the original of a rewritten file as
	// NAME.original.EXT next to the result.
	KeepOriginal bool `toml:"keep_original"`
	// MinFileAge is how long a file's size and modification time must
	// have been unchanged before a policy touches it; 0 turns the check
	// off.
	MinFileAge time.Duration `toml:"min_file_age"`
	// RequireApproval stores each non-empty plan as pending instead of
	// applying it; an operator approves or rejects it.
	RequireApproval bool `toml:"require_approval"`
}

// Addr returns the listen address "host:port" of the HTTP server.
func (c Config) Addr() string {
	return net.JoinHostPort(c.Server.Bind, strconv.Itoa(c.Server.Port))
}
