package jobs

import (
	"context"
	"encoding/json"
	"time"

	"github.com/vpo-project/vpo/libs/store"
)

// Queue is the storage the Pool needs; *store.Store implements it.
// ClaimJob takes only jobs of the given kinds and gives every claim its own
// fencing token (store.Job.Lease). Methods that act on a running job name
// that claim and fail with an error wrapping store.ErrLeaseLost (or
// store.ErrNotFound) when the job no longer runs under it.
type Queue interface {
	ClaimJob(ctx context.Context, owner string, kinds []string, lease time.Duration, now time.Time) (store.Job, bool, error)
	RenewLease(ctx context.Context, l store.Lease, lease time.Duration, now time.Time) (cancelRequested bool, err error)
	CompleteJob(ctx context.Context, l store.Lease, result json.RawMessage, now time.Time) error
	FailJob(ctx context.Context, l store.Lease, msg string, now time.Time) error
	// FailJobFinal fails the job whatever attempts it has left (Final).
	FailJobFinal(ctx context.Context, l store.Lease, msg string, now time.Time) error
	FinishCancelled(ctx context.Context, l store.Lease, now time.Time) error
	RequeueInterrupted(ctx context.Context, l store.Lease, now time.Time) error
	// UpdateProgress records the progress of the run l; eta < 0: unknown.
	UpdateProgress(ctx context.Context, l store.Lease, percent float64, msg string, eta time.Duration) error
	// RecoverExpired takes back running jobs whose lease expired before
	// now, except those named in keep.
	RecoverExpired(ctx context.Context, now time.Time, keep ...string) (requeued, failed int, err error)
	// AwaitChildren ends the run l by storing children and making the job
	// wait for them (see Children); ErrConflict when its cancellation was
	// requested.
	AwaitChildren(ctx context.Context, l store.Lease, children []store.NewJob, counted json.RawMessage, now time.Time) error
}

var _ Queue = (*store.Store)(nil)
