// Package early subscribes the process to the signals the daemon handles
// while Go is still initialising packages, before main runs.
//
// A Go program keeps the kernel's default disposition for SIGTERM until
// something calls signal.Notify: a SIGTERM that arrives before that ends
// the process with 143 and no log line. Package initialisation of vpo's
// dependencies (SQLite, net/http, crypto) takes a few milliseconds; this
// package depends on os/signal alone, so Go initialises it among the first,
// and the window shrinks to the runtime's own start. It is the one place in
// vpo with package-level state, on purpose: nothing else can run earlier.
package early

import (
	"os"
	"os/signal"
	"syscall"
)

// Subscription holds the channels the signals are delivered to. Their
// buffers match what lifecycle.Signals expects.
type Subscription struct {
	Term chan os.Signal // SIGTERM, SIGINT
	Hup  chan os.Signal // SIGHUP
	Quit chan os.Signal // SIGQUIT
	Pipe chan os.Signal // SIGPIPE
}

// subscription is made during package initialisation; see the package
// comment.
var subscription = subscribe()

func subscribe() Subscription {
	s := Subscription{
		Term: make(chan os.Signal, 4),
		Hup:  make(chan os.Signal, 1),
		Quit: make(chan os.Signal, 1),
		Pipe: make(chan os.Signal, 1),
	}
	signal.Notify(s.Term, syscall.SIGTERM, syscall.SIGINT)
	signal.Notify(s.Hup, syscall.SIGHUP)
	signal.Notify(s.Quit, syscall.SIGQUIT)
	signal.Notify(s.Pipe, syscall.SIGPIPE)
	return s
}

// Signals returns the subscription made while the process started.
func Signals() Subscription { return subscription }
