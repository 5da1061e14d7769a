package app

// Exit codes of the vpo command. They are part of the interface: the
// systemd unit's RestartPreventExitStatus= and scripts rely on them.
const (
	// ExitOK: success, including a clean graceful shutdown.
	ExitOK = 0
	// ExitFailure: the daemon failed while running (an actor crashed, or
	// shutdown could not finish in time); for the other commands, their
	// work failed: a file could not be planned (policy plan), a file
	// failed or the job did not complete (policy apply --wait), a plan
	// could not be decided (plan approve|reject --all), a check failed
	// (doctor).
	ExitFailure = 1
	// ExitUsage: bad command line (unknown command or flag, bad flag value
	// type).
	ExitUsage = 2
	// ExitConfig: the configuration is invalid (file, env or flag value),
	// or a policy file is: it does not exist, does not parse or uses
	// features vpo does not support (policy check, policy plan).
	ExitConfig = 3
	// ExitDatabase: the library database cannot be opened, created or
	// migrated.
	ExitDatabase = 4
	// ExitBind: the HTTP listener cannot bind (port in use, bad address).
	ExitBind = 5
	// ExitUnavailable: a client command could not reach the daemon, or the
	// daemon refused the request.
	ExitUnavailable = 6
	// ExitQuit: serve received SIGQUIT, wrote the stacks of all
	// goroutines to stderr and exited at once, without a graceful
	// shutdown (128+3, as a shell reports death by SIGQUIT; Go's own
	// SIGQUIT exit code, 2, would read as a bad command line).
	ExitQuit = 131
)

// exitCodeHelp is printed by --help and copied into the README.
const exitCodeHelp = `Exit codes:
    0  success; for serve, a clean graceful shutdown
    1  the daemon failed while running; policy plan: a file could not
       be planned; policy apply --wait: a file failed, or the job failed
       or was cancelled; plan approve|reject --all: a plan could not be
       decided; doctor: a check failed
    2  bad command line
    3  invalid configuration (file, VPO_* environment or flag); policy
       check and policy plan: the policy is missing, does not parse or
       uses features vpo does not support
    4  database cannot be opened, created or migrated
    5  HTTP listener cannot bind (port in use, bad address)
    6  client command could not reach the daemon or was refused
  131  serve received SIGQUIT: goroutine stacks written to stderr, no
       graceful shutdown`
