package jobs

import "time"

// Outcomes of a run, as Observer.JobEnded reports them.
const (
	OutcomeCompleted   = "completed"
	OutcomeFailed      = "failed"      // no attempt left, or one would not help
	OutcomeRetried     = "retried"     // failed, queued again for another attempt
	OutcomeCancelled   = "cancelled"   // its user cancelled it
	OutcomeInterrupted = "interrupted" // requeued at shutdown or by a pause
	OutcomeWaiting     = "waiting"     // handed its work to child jobs
)

// Observer is told what a pool does, for metrics. Its methods are called
// from the pool's goroutines and must return at once.
type Observer interface {
	// JobClaimed: the pool claimed a job of kind.
	JobClaimed(kind string)
	// JobEnded: a run of a job of kind ended with outcome (one of the
	// Outcome constants), d after its claim. Runs whose lease was lost
	// are reported by LeaseLost instead.
	JobEnded(kind, outcome string, d time.Duration)
	// JobStalled: a run of kind was cancelled for making no progress.
	JobStalled(kind string)
	// LeaseLost: a run of kind lost its lease (another worker recovered
	// the job); its outcome is discarded.
	LeaseLost(kind string)
}

type nopObserver struct{}

func (nopObserver) JobClaimed(string)                      {}
func (nopObserver) JobEnded(string, string, time.Duration) {}
func (nopObserver) JobStalled(string)                      {}
func (nopObserver) LeaseLost(string)                       {}

// ended reports the end of r's run to the observer.
func (r *claimRun) ended(outcome string, now time.Time) {
	r.obs.JobEnded(r.job.Kind, outcome, now.Sub(r.started))
}
