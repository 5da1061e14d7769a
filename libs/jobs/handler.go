package jobs

import (
	"context"
	"encoding/json"
	"time"

	"github.com/vpo-project/vpo/libs/store"
)

// Handler runs jobs of one kind. Run must return soon after ctx is
// cancelled (cancellation requested by a user, lease lost, or shutdown).
// Handlers must be idempotent: a job may be delivered more than once.
// The returned result, if not empty, must be JSON; it is stored with the
// completed job. A returned error fails the attempt (the job is retried
// until its max_attempts).
type Handler interface {
	Run(ctx context.Context, job store.Job, p Progress) (result json.RawMessage, err error)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, job store.Job, p Progress) (json.RawMessage, error)

// Run calls f.
func (f HandlerFunc) Run(ctx context.Context, job store.Job, p Progress) (json.RawMessage, error) {
	return f(ctx, job, p)
}

// Progress lets a running handler report how far it got. Reports are cheap:
// the latest one is written to storage periodically, never more often than
// the pool's ProgressInterval. Every report also tells the pool the
// handler is alive (see stall detection): a handler that can go long
// without news should report that it still waits.
type Progress interface {
	Report(percent float64, message string)
	// ReportETA is Report with an estimate of the time left; eta < 0
	// means unknown (as with Report).
	ReportETA(percent float64, message string, eta time.Duration)
}
