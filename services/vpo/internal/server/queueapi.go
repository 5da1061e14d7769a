package server

import (
	"bytes"
	"context"
	"net/http"
	"time"

	"github.com/gorilla/mux"
	"github.com/sirupsen/logrus"

	"github.com/vpo-project/vpo/libs/logging"
)

// QueueStatus is the body of GET /api/queue and of the answers to pause
// and resume.
type QueueStatus struct {
	// Paused: no worker claims a new job.
	Paused bool `json:"paused"`
	// Drain: the pause lets the running jobs finish (else it interrupted
	// and requeued them).
	Drain bool `json:"drain"`
	// PausedAt is when the queue was paused; nil when it is not.
	PausedAt *time.Time `json:"paused_at"`
	// Running is the number of jobs this daemon's workers run now.
	Running int `json:"running"`
	// RunningAll is the number of jobs running under a lease on every
	// node that shares the database (this one's included).
	RunningAll int `json:"running_all"`
	// Queued is the number of jobs waiting in the queue.
	Queued int `json:"queued"`
	// Schedule is the processing window (jobs.schedule), "" for always.
	Schedule string `json:"schedule"`
	// ScheduledKinds are the job kinds the window holds back while closed.
	ScheduledKinds []string `json:"scheduled_kinds"`
	// WindowOpen: the window is open now (always true without a schedule).
	WindowOpen bool `json:"window_open"`
	// NextWindow is when a closed window opens; nil while it is open.
	NextWindow *time.Time `json:"next_window"`
}

// QueueControl pauses and resumes the daemon's queue and reports its
// state. Pause and Resume store the state, so that it survives a restart.
type QueueControl interface {
	Pause(ctx context.Context, drain bool) error
	Resume(ctx context.Context) error
	Status(ctx context.Context) (QueueStatus, error)
}

// QueueAPI serves /api/queue.
type QueueAPI struct {
	ctl QueueControl
	log *logrus.Entry
}

// NewQueueAPI returns the API; mount it with RouterOptions.Queue. log
// receives the answers that failed (nil: discarded).
func NewQueueAPI(ctl QueueControl, log *logrus.Entry) *QueueAPI {
	if log == nil {
		log = logging.Discard()
	}
	return &QueueAPI{ctl: ctl, log: log}
}

func (a *QueueAPI) mount(r *mux.Router) {
	mountRoutes(r, []route{
		{"/api/queue", http.MethodGet, a.status},
		{"/api/queue/pause", http.MethodPost, a.pause},
		{"/api/queue/resume", http.MethodPost, a.resume},
	})
}

// pauseRequest is the optional body of POST /api/queue/pause.
type pauseRequest struct {
	// Drain lets the running jobs finish instead of requeueing them.
	Drain bool `json:"drain"`
}

func (a *QueueAPI) pause(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	var req pauseRequest
	if len(bytes.TrimSpace(body)) > 0 && !decodeBytes(w, body, &req) {
		return
	}
	if err := a.ctl.Pause(r.Context(), req.Drain); err != nil {
		a.fail(w, r, "pause the queue", err)
		return
	}
	a.status(w, r)
}

func (a *QueueAPI) resume(w http.ResponseWriter, r *http.Request) {
	if !emptyBody(w, r) {
		return
	}
	if err := a.ctl.Resume(r.Context()); err != nil {
		a.fail(w, r, "resume the queue", err)
		return
	}
	a.status(w, r)
}

func (a *QueueAPI) status(w http.ResponseWriter, r *http.Request) {
	st, err := a.ctl.Status(r.Context())
	if err != nil {
		a.fail(w, r, "read the queue state", err)
		return
	}
	if st.ScheduledKinds == nil {
		st.ScheduledKinds = []string{}
	}
	replyJSON(a.log, w, r, http.StatusOK, st)
}

func (a *QueueAPI) fail(w http.ResponseWriter, r *http.Request, what string, err error) {
	a.log.WithField("path", r.URL.Path).Errorf("%s: %v", what, err)
	writeError(w, http.StatusInternalServerError, what+": "+err.Error())
}
