package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/gorilla/mux"
	"github.com/sirupsen/logrus"

	"github.com/vpo-project/vpo/services/vpo/internal/library"
)

// Libraries is what the libraries endpoints need (*library.Manager).
type Libraries interface {
	Status() []library.Status
	Rescan(ctx context.Context, id string) (string, error)
}

// LibrariesAPIOptions configures NewLibrariesAPI.
type LibrariesAPIOptions struct {
	Libraries Libraries
	// Accepting reports whether new jobs are taken (false: rescans 503).
	Accepting func() bool
	Log       *logrus.Entry
}

// LibrariesAPI serves /api/libraries.
type LibrariesAPI struct {
	opts LibrariesAPIOptions
}

// NewLibrariesAPI returns the API; mount it with RouterOptions.Libraries.
func NewLibrariesAPI(opts LibrariesAPIOptions) *LibrariesAPI {
	optionDefaults(nil, &opts.Accepting, &opts.Log)
	return &LibrariesAPI{opts: opts}
}

func (a *LibrariesAPI) mount(r *mux.Router) {
	mountRoutes(r, []route{
		{"/api/libraries", http.MethodGet, a.list},
		{"/api/libraries/{id}/rescan", http.MethodPost, a.rescan},
	})
}

// libraryList is the body of GET /api/libraries.
type libraryList struct {
	Libraries []library.Status `json:"libraries"`
}

func (a *LibrariesAPI) list(w http.ResponseWriter, r *http.Request) {
	st := a.opts.Libraries.Status()
	if st == nil {
		st = []library.Status{}
	}
	replyJSON(a.opts.Log, w, r, http.StatusOK, libraryList{Libraries: st})
}

// rescanAnswer is the body of a 202 to POST /api/libraries/{id}/rescan.
type rescanAnswer struct {
	JobID   string `json:"job_id"`
	Library string `json:"library"`
}

func (a *LibrariesAPI) rescan(w http.ResponseWriter, r *http.Request) {
	if !emptyBody(w, r) {
		return
	}
	if !a.opts.Accepting() {
		writeError(w, http.StatusServiceUnavailable, "vpo is shutting down; not accepting new jobs")
		return
	}
	id := mux.Vars(r)["id"]
	job, err := a.opts.Libraries.Rescan(r.Context(), id)
	switch {
	case errors.Is(err, library.ErrUnknownLibrary):
		writeError(w, http.StatusNotFound, fmt.Sprintf("no library with id %q (GET /api/libraries lists them)", id))
		return
	case err != nil:
		writeStoreError(w, err)
		return
	}
	w.Header().Set("Location", "/api/jobs/"+job)
	replyJSON(a.opts.Log, w, r, http.StatusAccepted, rescanAnswer{JobID: job, Library: id})
}
