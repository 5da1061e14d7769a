// Package lifecycle runs the long-lived parts of a daemon as one group of
// actors and stops them together: the first actor to return (or a
// termination signal) starts one graceful shutdown that is bounded by a
// deadline. It also speaks the systemd notification protocol (READY=1,
// STOPPING=1, STATUS=) and is a no-op when NOTIFY_SOCKET is unset.
package lifecycle
