package store

import "fmt"

// Lease names one claim of a running job: the job, the owner that claimed
// it and the claim's fencing token. Every method that acts for a running job
// takes the Lease its claim returned and fails with ErrLeaseLost once the
// job is no longer running under that very claim: finished, requeued, or
// claimed again after its lease expired, even by the same owner.
type Lease struct {
	JobID string
	Owner string
	Token int64
}

// String is "job ID (owner OWNER, token N)", for messages.
func (l Lease) String() string {
	return fmt.Sprintf("job %s (owner %q, token %d)", l.JobID, l.Owner, l.Token)
}
