package server

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/gorilla/mux"
	"github.com/sirupsen/logrus"

	"github.com/vpo-project/vpo/libs/logging"
	"github.com/vpo-project/vpo/libs/store"
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
	// Schedule is the processing window in effect, "" for always: the
	// cluster's when one is set (WindowSource "cluster"), else this
	// daemon's jobs.schedule ("config").
	Schedule string `json:"schedule"`
	// ScheduledKinds are the job kinds the window holds back while closed.
	ScheduledKinds []string `json:"scheduled_kinds"`
	// WindowOpen: the window is open now (always true without a schedule).
	WindowOpen bool `json:"window_open"`
	// NextWindow is when a closed window opens; nil while it is open.
	NextWindow *time.Time `json:"next_window"`
	// WindowSource says where the window in effect comes from: "cluster"
	// (PUT /api/queue/window, followed by every daemon sharing the
	// database) or "config" (jobs.schedule).
	WindowSource string `json:"window_source"`
	// WindowSetAt is when the cluster's window was set; nil without one.
	WindowSetAt *time.Time `json:"window_set_at"`
	// WindowError says why a stored window of the cluster is not followed
	// (its columns edited by hand); omitted when there is none.
	WindowError string `json:"window_error,omitempty"`
}

// QueueControl pauses and resumes the daemon's queue and reports its
// state. Pause and Resume store the state, so that it survives a restart.
type QueueControl interface {
	Pause(ctx context.Context, drain bool) error
	Resume(ctx context.Context) error
	Status(ctx context.Context) (QueueStatus, error)
	// SetWindow stores the processing window of the cluster (kinds nil:
	// the default kinds); an invalid schedule or kind is an error
	// wrapping store.ErrInvalid.
	SetWindow(ctx context.Context, schedule string, kinds []string) error
	// ClearWindow removes it: each daemon follows its jobs.schedule.
	ClearWindow(ctx context.Context) error
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
		{"/api/queue/window", http.MethodPut, a.setWindow},
		{"/api/queue/window", http.MethodDelete, a.clearWindow},
	})
}

// windowRequest is the body of PUT /api/queue/window.
type windowRequest struct {
	// Schedule is required: ranges as in jobs.schedule, "" for always open.
	Schedule *string `json:"schedule"`
	// ScheduledKinds are the kinds held back while it is closed (omitted:
	// apply and transcode).
	ScheduledKinds []string `json:"scheduled_kinds"`
}

func (a *QueueAPI) setWindow(w http.ResponseWriter, r *http.Request) {
	var req windowRequest
	if !decodeBody(w, r, &req) {
		return
	}
	if req.Schedule == nil {
		writeError(w, http.StatusBadRequest, `schedule is required: time ranges such as "01:00-07:00, 22:00-23:30" (local time of each node), or "" for always open`)
		return
	}
	if err := a.ctl.SetWindow(r.Context(), *req.Schedule, req.ScheduledKinds); err != nil {
		if errors.Is(err, store.ErrInvalid) {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		a.fail(w, r, "set the processing window", err)
		return
	}
	a.status(w, r)
}

func (a *QueueAPI) clearWindow(w http.ResponseWriter, r *http.Request) {
	if !emptyBody(w, r) {
		return
	}
	if err := a.ctl.ClearWindow(r.Context()); err != nil {
		a.fail(w, r, "clear the processing window", err)
		return
	}
	a.status(w, r)
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
