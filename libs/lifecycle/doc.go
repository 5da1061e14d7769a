// Package lifecycle runs the long-lived parts of a daemon as one group of
// actors and stops them together: the first actor to return (or a
// termination signal) starts one graceful shutdown that is bounded by a
// deadline. Signals owns the daemon's signal dispositions (SIGTERM/SIGINT
// stop, SIGHUP reload, SIGQUIT, SIGPIPE). The package also speaks the
// systemd notification protocol (READY=1, RELOADING=1, STOPPING=1,
// STATUS=) and is a no-op when NOTIFY_SOCKET is unset.
package lifecycle
