package app

import (
	"sync"

	"github.com/sirupsen/logrus"
)

// systemdNotifier is what announcer needs of a *lifecycle.Notifier.
type systemdNotifier interface {
	Ready(status string) error
	Reloading(status string) error
	Stopping(status string) error
}

// announcer tells systemd about readiness, reloads and the shutdown in the
// right order: RELOADING=1 and the READY=1 after it only once vpo was
// ready, and no READY=1 once STOPPING=1 was sent.
type announcer struct {
	notifier systemdNotifier
	status   func() string // "serving on …"
	log      *logrus.Entry

	mu       sync.Mutex
	ready    bool
	stopping bool
}

// readyNow sends READY=1 (start-up finished) after running ready, both
// only when no shutdown began first.
func (a *announcer) readyNow(ready func()) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.stopping {
		return
	}
	a.ready = true
	ready()
	a.send(a.notifier.Ready(a.status()))
}

func (a *announcer) reloading() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ready && !a.stopping {
		a.send(a.notifier.Reloading("reloading configuration"))
	}
}

// reloaded ends a reload with READY=1; a failed reload says so in the
// status line (`systemctl status vpo`), since systemd has no way to fail a
// reload of a Type=notify unit.
func (a *announcer) reloaded(failed error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ready && !a.stopping {
		status := a.status()
		if failed != nil {
			status += "; configuration reload failed, running with the previous one (see the log)"
		}
		a.send(a.notifier.Ready(status))
	}
}

// stoppingNow sends STOPPING=1 with the reason, e.g. "SIGTERM".
func (a *announcer) stoppingNow(reason string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.stopping = true
	a.send(a.notifier.Stopping("shutting down (" + reason + ")"))
}

func (a *announcer) send(err error) {
	if err != nil {
		a.log.Warnf("systemd notify: %v", err)
	}
}
