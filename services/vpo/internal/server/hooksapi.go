package server

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"

	"github.com/gorilla/mux"
	"github.com/sirupsen/logrus"
)

// HookTarget takes the files Sonarr and Radarr report as imported: it
// enqueues the work for the library that contains path (a scan of the
// file, and an apply of the library's policy) and returns the job's id.
// source is "sonarr" or "radarr". The library manager implements it.
type HookTarget interface {
	EnqueueImported(ctx context.Context, path, source string) (jobID string, err error)
}

// HooksAPIOptions configures NewHooksAPI.
type HooksAPIOptions struct {
	// Target takes the imported files (required).
	Target HookTarget
	// Outside is the error (matched with errors.Is) Target returns when no
	// library contains the path: the hook then answers 422 and logs it.
	Outside error
	// NotQueued is the error (matched with errors.Is) Target returns for a
	// file inside a library that vpo does not act on (a directory, a
	// symbolic link, not a video, a kept original): 422 as well.
	NotQueued error
	// Submitted is called after a file was enqueued (wakes idle workers).
	Submitted func()
	// Accepting reports whether new jobs are taken (false while shutting
	// down: imports answer 503).
	Accepting func() bool
	// Log receives the refused paths and the queued imports (nil: discarded).
	Log *logrus.Entry
}

// HooksAPI serves POST /api/hooks/sonarr and POST /api/hooks/radarr, the
// webhook ("Connect") endpoints of Sonarr and Radarr. The router's rules
// apply as to the rest of /api: the token as Bearer or as the Basic auth
// password (what those applications send), JSON content type.
//
// Answers: "Test" 200 {"ok":true,"event":"Test"}; an event vpo does not act
// on 200 {"ok":true,"event":…,"ignored":true}; an import or upgrade
// ("Download") 202 with the job id of each file; a file outside every
// library 422 (logged); a body vpo cannot read 400 naming the field; a
// body over MaxRequestBody 413.
type HooksAPI struct {
	opts HooksAPIOptions
}

// NewHooksAPI returns the API; mount it with RouterOptions.Hooks.
func NewHooksAPI(opts HooksAPIOptions) *HooksAPI {
	optionDefaults(&opts.Submitted, &opts.Accepting, &opts.Log)
	return &HooksAPI{opts: opts}
}

func (a *HooksAPI) mount(r *mux.Router) {
	mountRoutes(r, []route{
		{"/api/hooks/sonarr", http.MethodPost, a.serve(sonarrHook)},
		{"/api/hooks/radarr", http.MethodPost, a.serve(radarrHook)},
	})
}

// hookAck is the answer to an event vpo does not enqueue anything for.
type hookAck struct {
	OK      bool   `json:"ok"`
	Event   string `json:"event"`
	Ignored bool   `json:"ignored,omitempty"`
}

// hookQueued is the answer to an import: the job of the (first) file, and
// every file with its job.
type hookQueued struct {
	Event   string       `json:"event"`
	Upgrade bool         `json:"upgrade"`
	JobID   string       `json:"job_id"`
	Files   []queuedFile `json:"files"`
}

type queuedFile struct {
	Path  string `json:"path"`
	JobID string `json:"job_id"`
}

// hookRefused is the 422 answer: the error, and the files queued before
// the refused one (an event listing several files).
type hookRefused struct {
	Error  string       `json:"error"`
	Path   string       `json:"path"`
	Queued []queuedFile `json:"queued,omitempty"`
}

func (a *HooksAPI) serve(app hookApp) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, ok := readBody(w, r)
		if !ok {
			return
		}
		log := a.opts.Log.WithField("hook", app.name)
		ev, err := parseHook(app, body)
		if err != nil {
			log.Warnf("refused a webhook body: %v", err)
			writeError(w, http.StatusBadRequest, fmt.Sprintf("%s webhook: %v", appTitle(app), err))
			return
		}
		log = log.WithField("event", ev.Type)
		if !ev.isImport() {
			if ev.Type == hookEventTest {
				log.Info("test event received")
			} else {
				log.Debug("event ignored")
			}
			replyJSON(a.opts.Log, w, r, http.StatusOK, hookAck{OK: true, Event: ev.Type, Ignored: ev.Type != hookEventTest})
			return
		}
		if !a.opts.Accepting() {
			writeError(w, http.StatusServiceUnavailable, "vpo is shutting down; not accepting new jobs")
			return
		}
		out := hookQueued{Event: ev.Type, Upgrade: ev.Upgrade}
		for _, f := range ev.Files {
			flog := log.WithFields(logrus.Fields{"path": f.Path, "upgrade": ev.Upgrade})
			if f.Relative {
				a.refuse(w, r, flog, f, out.Files, refusedOutside, fmt.Errorf("not an absolute path on this machine"))
				return
			}
			id, err := a.opts.Target.EnqueueImported(r.Context(), f.Path, app.name)
			switch {
			case err == nil:
			case a.opts.Outside != nil && errors.Is(err, a.opts.Outside):
				a.refuse(w, r, flog, f, out.Files, refusedOutside, err)
				return
			case errors.Is(err, fs.ErrNotExist):
				// Inside a library, but not there: the application sees
				// another file system (a container's mount) than vpo.
				a.refuse(w, r, flog, f, out.Files, refusedMissing, err)
				return
			case a.opts.NotQueued != nil && errors.Is(err, a.opts.NotQueued):
				a.refuse(w, r, flog, f, out.Files, refusedNotQueued, err)
				return
			case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
				writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("enqueue %q: %v", f.Path, err))
				return
			default:
				flog.Errorf("enqueue the imported file: %v", err)
				writeError(w, http.StatusInternalServerError, fmt.Sprintf("enqueue %q: %v", f.Path, err))
				return
			}
			flog.WithField("job_id", id).Info("imported file queued")
			out.Files = append(out.Files, queuedFile{Path: f.Path, JobID: id})
		}
		a.opts.Submitted()
		out.JobID = out.Files[0].JobID
		replyJSON(a.opts.Log, w, r, http.StatusAccepted, out)
	}
}

// Why an imported file is refused (422).
const (
	refusedOutside = iota
	refusedMissing
	refusedNotQueued
)

// refuse answers 422 for a file vpo will not queue, and logs it: the
// operator sees it in vpo's log, the application shows the answer.
func (a *HooksAPI) refuse(w http.ResponseWriter, r *http.Request, log *logrus.Entry, f hookFile, queued []queuedFile, why int, reason error) {
	if len(queued) > 0 {
		a.opts.Submitted()
	}
	short, long := "is not inside any library", "is not inside any library of this vpo ([[library]] path in its configuration; "+
		"vpo must see the file under the same path as the application)"
	switch why {
	case refusedMissing:
		short, long = "does not exist here", "does not exist on the machine vpo runs on (vpo must see the file under the same path as the application)"
	case refusedNotQueued:
		short, long = "is not a file vpo acts on", "is not a file vpo acts on"
	}
	log.Warnf("imported file refused: %q (%s) %s: %v", f.Path, f.Field, short, reason)
	replyJSON(a.opts.Log, w, r, http.StatusUnprocessableEntity, hookRefused{
		Error:  fmt.Sprintf("imported file %q (%s) %s: %v", f.Path, f.Field, long, reason),
		Path:   f.Path,
		Queued: queued,
	})
}
