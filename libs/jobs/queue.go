package jobs

import (
	"context"
	"encoding/json"
	"time"

	"github.com/vpo-project/vpo/libs/store"
)

// Queue is the storage the Pool needs; *store.Store implements it. Methods
// that act on a running job check that owner still holds its lease and fail
// with an error wrapping store.ErrLeaseLost (or store.ErrNotFound) when it
// does not.
type Queue interface {
	ClaimJob(ctx context.Context, owner string, lease time.Duration, now time.Time) (store.Job, bool, error)
	RenewLease(ctx context.Context, id, owner string, lease time.Duration, now time.Time) (cancelRequested bool, err error)
	CompleteJob(ctx context.Context, id, owner string, result json.RawMessage, now time.Time) error
	FailJob(ctx context.Context, id, owner string, msg string, now time.Time) error
	FinishCancelled(ctx context.Context, id, owner string, now time.Time) error
	RequeueInterrupted(ctx context.Context, id, owner string, now time.Time) error
	UpdateProgress(ctx context.Context, id, owner string, percent float64, msg string) error
	RecoverExpired(ctx context.Context, now time.Time) (requeued, failed int, err error)
}

var _ Queue = (*store.Store)(nil)
