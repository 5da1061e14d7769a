package app

import (
	"io"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"
)

// sentNotices records what would go to systemd.
type sentNotices struct{ sent []string }

func (n *sentNotices) Ready(s string) error     { n.sent = append(n.sent, "READY "+s); return nil }
func (n *sentNotices) Reloading(s string) error { n.sent = append(n.sent, "RELOADING "+s); return nil }
func (n *sentNotices) Stopping(s string) error  { n.sent = append(n.sent, "STOPPING "+s); return nil }

func TestAnnouncerOrder(t *testing.T) {
	type step func(a *announcer)
	var (
		ready     step = func(a *announcer) { a.readyNow(func() {}) }
		reloading step = func(a *announcer) { a.reloading() }
		reloaded  step = func(a *announcer) { a.reloaded(nil) }
		stopping  step = func(a *announcer) { a.stoppingNow("SIGTERM") }
	)
	tests := []struct {
		name  string
		steps []step
		want  []string
	}{
		{
			name:  "reload after ready",
			steps: []step{ready, reloading, reloaded, stopping},
			want:  []string{"READY up", "RELOADING reloading configuration", "READY up", "STOPPING shutting down (SIGTERM)"},
		},
		{
			name:  "reload before ready is silent",
			steps: []step{reloading, reloaded, ready},
			want:  []string{"READY up"},
		},
		{
			name:  "never ready after stopping",
			steps: []step{stopping, ready, reloading, reloaded},
			want:  []string{"STOPPING shutting down (SIGTERM)"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := &sentNotices{}
			l := logrus.New()
			l.SetOutput(io.Discard)
			a := &announcer{notifier: n, status: func() string { return "up" }, log: logrus.NewEntry(l)}
			for _, s := range tt.steps {
				s(a)
			}
			if got := strings.Join(n.sent, "|"); got != strings.Join(tt.want, "|") {
				t.Fatalf("sent %q, want %q", n.sent, tt.want)
			}
		})
	}
}
