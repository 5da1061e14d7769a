package lifecycle

import (
	"fmt"

	"github.com/coreos/go-systemd/v22/daemon"
)

// Notifier sends sd_notify(3) messages to the service manager. Without
// NOTIFY_SOCKET every call is a no-op.
type Notifier struct {
	send func(state string) (bool, error)
	// monotonic returns "MONOTONIC_USEC=<CLOCK_MONOTONIC in µs>\n", or ""
	// when the clock cannot be read.
	monotonic func() string
}

// NewNotifier returns a notifier that writes to $NOTIFY_SOCKET.
func NewNotifier() *Notifier {
	return &Notifier{
		send:      func(state string) (bool, error) { return daemon.SdNotify(false, state) },
		monotonic: daemon.SdNotifyMonotonicUsec,
	}
}

// Ready reports that start-up is finished.
func (n *Notifier) Ready(status string) error {
	return n.notify(daemon.SdNotifyReady + "\nSTATUS=" + status)
}

// Reloading reports that a configuration reload has begun, with the
// CLOCK_MONOTONIC time systemd needs to match it to `systemctl reload`
// (Type=notify-reload semantics). Send Ready once the reload is over,
// whether it succeeded or not.
func (n *Notifier) Reloading(status string) error {
	return n.notify(daemon.SdNotifyReloading + "\n" + n.monotonic() + "STATUS=" + status)
}

// Stopping reports that a shutdown has begun.
func (n *Notifier) Stopping(status string) error {
	return n.notify(daemon.SdNotifyStopping + "\nSTATUS=" + status)
}

// Status updates the free-form status line (`systemctl status`).
func (n *Notifier) Status(status string) error {
	return n.notify("STATUS=" + status)
}

func (n *Notifier) notify(state string) error {
	if _, err := n.send(state); err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	return nil
}
