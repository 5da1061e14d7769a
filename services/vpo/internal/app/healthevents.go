package app

import (
	"context"
	"sync"
	"time"

	"github.com/vpo-project/vpo/libs/health"
)

// healthWatchInterval is how often the health watcher compares the
// daemon's state with what it last published.
const healthWatchInterval = 2 * time.Second

// publisher is where the health watcher sends its events (the broker).
type publisher interface {
	Publish(typ string, data any)
}

// healthWatch publishes a "health.changed" event whenever the status,
// database state or readiness of /health changes; it is an actor of the
// run group.
type healthWatch struct {
	report   func(ctx context.Context) health.Report
	out      publisher
	interval time.Duration
	stop     chan struct{}
	once     sync.Once
}

func newHealthWatch(report func(ctx context.Context) health.Report, out publisher) *healthWatch {
	return &healthWatch{report: report, out: out, interval: healthWatchInterval, stop: make(chan struct{})}
}

func (h *healthWatch) Name() string { return "health events" }

// healthState is what a health.changed event says.
type healthState struct {
	Status       string `json:"status"`
	Database     string `json:"database"`
	Ready        bool   `json:"ready"`
	ShuttingDown bool   `json:"shutting_down"`
}

func (h *healthWatch) Run(ctx context.Context) error {
	t := time.NewTicker(h.interval)
	defer t.Stop()
	var last healthState
	for first := true; ; first = false {
		r := h.report(ctx)
		now := healthState{Status: r.Status, Database: r.Database, Ready: r.Ready, ShuttingDown: r.ShuttingDown}
		if !first && now != last {
			h.out.Publish("health.changed", now)
		}
		last = now
		select {
		case <-ctx.Done():
			return nil
		case <-h.stop:
			return nil
		case <-t.C:
		}
	}
}

func (h *healthWatch) Shutdown(context.Context) error {
	h.once.Do(func() { close(h.stop) })
	return nil
}
