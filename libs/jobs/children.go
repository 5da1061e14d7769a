package jobs

import (
	"encoding/json"
	"fmt"

	"github.com/vpo-project/vpo/libs/store"
)

// Children is what a handler returns, as its error, to hand its work to
// child jobs instead of finishing: the pool stores the children and turns
// the job into a waiting parent in one write (Queue.AwaitChildren), and
// frees the worker at once. The parent reaches its terminal status in the
// same transaction as its last child, so no worker ever blocks on children
// (with one worker the children still run). A job cancelled meanwhile ends
// cancelled, its children never stored.
type Children struct {
	Jobs []store.NewJob
	// Counted is what the job did itself before handing the rest to its
	// children (nil when nothing): a JSON object of counts that the store
	// adds to its children's counts when the job finishes (see
	// store.Store.AwaitChildren).
	Counted json.RawMessage
}

// Error describes the hand-off (it is not a failure).
func (c *Children) Error() string {
	return fmt.Sprintf("job hands its work to %d child jobs", len(c.Jobs))
}

// FinalError is a failure another attempt cannot mend (a bad policy file, a
// plan the file cannot take): the pool fails the job at once instead of
// retrying it.
type FinalError struct {
	Err error
}

// Final marks err as final (see FinalError); nil stays nil.
func Final(err error) error {
	if err == nil {
		return nil
	}
	return &FinalError{Err: err}
}

// Error returns the message of the wrapped error.
func (e *FinalError) Error() string { return e.Err.Error() }

// Unwrap returns the wrapped error.
func (e *FinalError) Unwrap() error { return e.Err }
