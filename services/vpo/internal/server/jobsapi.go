package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"github.com/sirupsen/logrus"

	"github.com/vpo-project/vpo/libs/jobs"
	"github.com/vpo-project/vpo/libs/store"
)

// MaxRequestBody is the largest request body the API reads.
const MaxRequestBody = 1 << 20

// JobsStore is the storage the API needs.
type JobsStore interface {
	CreateJob(ctx context.Context, nj store.NewJob) (store.Job, error)
	GetJob(ctx context.Context, id string) (store.Job, error)
	ListJobs(ctx context.Context, f store.JobFilter) ([]store.Job, string, error)
	CancelJob(ctx context.Context, id string, now time.Time) (store.Job, error)
	RetryJob(ctx context.Context, id string) (store.Job, error)
	ListFiles(ctx context.Context, limit int, cursor string) ([]store.File, string, error)
	JobLog(ctx context.Context, id string, after int64, limit int) ([]store.LogLine, error)
}

// Kinds tells which job kinds exist.
type Kinds interface {
	Lookup(kind string) (jobs.Handler, bool)
	Kinds() []string
}

// payloadValidator is implemented by handlers that check payloads at
// submission time.
type payloadValidator interface {
	Validate(payload json.RawMessage) error
}

// JobsAPIOptions configures NewJobsAPI.
type JobsAPIOptions struct {
	Store JobsStore
	Kinds Kinds
	// Submitted is called after a job is stored (wakes idle workers).
	Submitted func()
	// Cancelled is called with the id after a cancellation is stored, so a
	// local worker running the job stops it at once.
	Cancelled func(id string)
	// Accepting reports whether new jobs are taken (false while shutting
	// down: 503).
	Accepting func() bool
	// Log receives the answers that failed to encode (nil: discarded).
	Log *logrus.Entry
}

// JobsAPI serves /api/jobs and /api/files.
type JobsAPI struct {
	opts JobsAPIOptions
}

// NewJobsAPI returns the API; mount it with RouterOptions.Jobs.
func NewJobsAPI(opts JobsAPIOptions) *JobsAPI {
	optionDefaults(&opts.Submitted, &opts.Accepting, &opts.Log)
	if opts.Cancelled == nil {
		opts.Cancelled = func(string) {}
	}
	return &JobsAPI{opts: opts}
}

func (a *JobsAPI) mount(r *mux.Router) {
	mountRoutes(r, []route{
		{"/api/jobs", http.MethodPost, a.submit},
		{"/api/jobs", http.MethodGet, a.list},
		{"/api/jobs/{id}", http.MethodGet, a.get()},
		{"/api/jobs/{id}/cancel", http.MethodPost, a.cancel()},
		{"/api/jobs/{id}/retry", http.MethodPost, a.retry()},
		{"/api/jobs/{id}/log", http.MethodGet, a.log},
		{"/api/files", http.MethodGet, a.files},
	})
}

// submitRequest is the body of POST /api/jobs.
type submitRequest struct {
	Kind        string          `json:"kind"`
	Payload     json.RawMessage `json:"payload"`
	Priority    *int            `json:"priority"`
	MaxAttempts int             `json:"max_attempts"`
	// Requires are worker tags a node must offer to run the job.
	Requires []string `json:"requires"`
}

// DefaultPriority is used when a submission names none.
const DefaultPriority = 500

func (a *JobsAPI) submit(w http.ResponseWriter, r *http.Request) {
	if !a.opts.Accepting() {
		writeError(w, http.StatusServiceUnavailable, "vpo is shutting down; not accepting new jobs")
		return
	}
	var req submitRequest
	if !decodeBody(w, r, &req) {
		return
	}
	h, ok := a.opts.Kinds.Lookup(req.Kind)
	if !ok {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("unknown job kind %q (known: %s)", req.Kind, strings.Join(a.opts.Kinds.Kinds(), ", ")))
		return
	}
	if len(req.Payload) == 0 || string(req.Payload) == "null" {
		req.Payload = json.RawMessage("{}")
	}
	if v, ok := h.(payloadValidator); ok {
		if err := v.Validate(req.Payload); err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
	}
	prio := DefaultPriority
	if req.Priority != nil {
		prio = *req.Priority
	}
	if prio < 0 || prio > 1000 {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("priority %d out of range 0..1000 (lower runs first)", prio))
		return
	}
	if req.MaxAttempts < 0 || req.MaxAttempts > 100 {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("max_attempts %d out of range 0..100 (0 = default)", req.MaxAttempts))
		return
	}
	job, err := a.opts.Store.CreateJob(r.Context(), store.NewJob{
		Kind: req.Kind, Payload: req.Payload, Priority: prio, MaxAttempts: req.MaxAttempts, Requires: req.Requires,
	})
	if err != nil {
		writeStoreError(w, err)
		return
	}
	a.opts.Submitted()
	w.Header().Set("Location", "/api/jobs/"+job.ID)
	a.reply(w, r, http.StatusCreated, job)
}

// jobList is the body of GET /api/jobs.
type jobList struct {
	Jobs       []store.Job `json:"jobs"`
	NextCursor string      `json:"next_cursor,omitempty"`
}

func (a *JobsAPI) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, ok := queryLimit(w, q.Get("limit"))
	if !ok {
		return
	}
	parent := q.Get("parent")
	if parent != "" {
		c, ok := store.CanonicalJobID(parent)
		if !ok {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("parent %q is not a job id (a UUID)", parent))
			return
		}
		parent = c
	}
	js, next, err := a.opts.Store.ListJobs(r.Context(), store.JobFilter{
		Status: q.Get("status"), Kind: q.Get("kind"), Parent: parent, Limit: limit, Cursor: q.Get("cursor"),
	})
	if err != nil {
		writeStoreError(w, err)
		return
	}
	if js == nil {
		js = []store.Job{}
	}
	a.reply(w, r, http.StatusOK, jobList{Jobs: js, NextCursor: next})
}

func queryLimit(w http.ResponseWriter, s string) (int, bool) {
	if s == "" {
		return 0, true
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("limit %q must be a positive integer", s))
		return 0, false
	}
	return n, true
}

// jobID reads the {id} path variable and returns it in the canonical
// spelling the store uses (see store.CanonicalJobID). Anything else is 400.
func jobID(w http.ResponseWriter, r *http.Request) (string, bool) {
	id := mux.Vars(r)["id"]
	c, ok := store.CanonicalJobID(id)
	if !ok {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("invalid job id %q: not a UUID", id))
	}
	return c, ok
}

// jobAction is one operation on the job named by the {id} path variable.
type jobAction func(ctx context.Context, id string) (store.Job, error)

// serveJob answers a request on one job: it checks the id (and, for POSTs,
// that there is no body), runs act, and writes the job or the error.
func (a *JobsAPI) serveJob(act jobAction, after func()) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, ok := jobID(w, r)
		if !ok || (r.Method == http.MethodPost && !emptyBody(w, r)) {
			return
		}
		job, err := act(r.Context(), id)
		if err != nil {
			writeStoreError(w, err)
			return
		}
		if after != nil {
			after()
		}
		a.reply(w, r, http.StatusOK, job)
	}
}

func (a *JobsAPI) get() http.HandlerFunc { return a.serveJob(a.opts.Store.GetJob, nil) }

func (a *JobsAPI) cancel() http.HandlerFunc {
	return a.serveJob(func(ctx context.Context, id string) (store.Job, error) {
		job, err := a.opts.Store.CancelJob(ctx, id, time.Now())
		if err == nil {
			a.opts.Cancelled(id)
		}
		return job, err
	}, nil)
}

func (a *JobsAPI) retry() http.HandlerFunc {
	return a.serveJob(a.opts.Store.RetryJob, a.opts.Submitted)
}

// fileList is the body of GET /api/files. Each file is written by
// store.File's MarshalJSON: a path that is not UTF-8 (or holds a
// backslash) comes escaped in "path", with its bytes in "path_b64". Its
// "probe" is ffprobe's JSON reduced by store.ReduceProbe, and a page ends
// early (with next_cursor) once it holds store.MaxListBytes of paths and
// probes, so a body stays within about 8 MiB whatever ffprobe printed.
type fileList struct {
	Files      []store.File `json:"files"`
	NextCursor string       `json:"next_cursor,omitempty"`
}

func (a *JobsAPI) files(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, ok := queryLimit(w, q.Get("limit"))
	if !ok {
		return
	}
	fs, next, err := a.opts.Store.ListFiles(r.Context(), limit, q.Get("cursor"))
	if err != nil {
		writeStoreError(w, err)
		return
	}
	if fs == nil {
		fs = []store.File{}
	}
	a.reply(w, r, http.StatusOK, fileList{Files: fs, NextCursor: next})
}

// decodeBody reads a size-limited, strict JSON body into v.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	body, ok := readBody(w, r)
	if !ok {
		return false
	}
	return decodeBytes(w, body, v)
}

// decodeBytes decodes a strict JSON body that was read already into v.
func decodeBytes(w http.ResponseWriter, body []byte, v any) bool {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "invalid JSON body: "+jsonProblem(err))
		return false
	}
	if dec.More() {
		writeError(w, http.StatusBadRequest, "invalid JSON body: more than one JSON value")
		return false
	}
	return true
}

// emptyBody accepts no body, or an empty JSON object.
func emptyBody(w http.ResponseWriter, r *http.Request) bool {
	body, ok := readBody(w, r)
	if !ok {
		return false
	}
	if t := bytes.TrimSpace(body); len(t) > 0 && string(t) != "{}" {
		writeError(w, http.StatusBadRequest, "this endpoint takes no body")
		return false
	}
	return true
}

func readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxRequestBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body larger than %d bytes", MaxRequestBody))
			return nil, false
		}
		writeError(w, http.StatusBadRequest, "read request body: "+err.Error())
		return nil, false
	}
	return body, true
}

func jsonProblem(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("syntax error at byte %d: %v", syn.Offset, err)
	case errors.As(err, &typ):
		return fmt.Sprintf("field %q must be %s, not %s", typ.Field, typ.Type, typ.Value)
	case errors.Is(err, io.EOF):
		return "empty body"
	}
	return err.Error()
}

func writeStoreError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, store.ErrConflict):
		writeError(w, http.StatusConflict, err.Error())
	case errors.Is(err, store.ErrInvalid):
		writeError(w, http.StatusBadRequest, err.Error())
	default:
		writeError(w, http.StatusInternalServerError, "storage error: "+err.Error())
	}
}

// logLine is one line of GET /api/jobs/{id}/log.
type logLine struct {
	Seq   int64     `json:"seq"`
	At    time.Time `json:"at"`
	Level string    `json:"level"`
	Line  string    `json:"line"`
}

// jobLog is the body of GET /api/jobs/{id}/log: the lines after ?after
// (a seq; default 0), at most ?limit (default and most 1000), oldest
// first; next is the seq to pass as after for the lines that follow.
type jobLog struct {
	JobID string    `json:"job_id"`
	Lines []logLine `json:"lines"`
	Next  int64     `json:"next"`
}

func (a *JobsAPI) log(w http.ResponseWriter, r *http.Request) {
	id, ok := jobID(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	limit, ok := queryLimit(w, q.Get("limit"))
	if !ok {
		return
	}
	if limit == 0 || limit > store.MaxJobLogLines {
		limit = store.MaxJobLogLines
	}
	var after int64
	if s := q.Get("after"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("after %q must be a line number (seq) >= 0", s))
			return
		}
		after = n
	}
	lines, err := a.opts.Store.JobLog(r.Context(), id, after, limit)
	if err != nil {
		writeStoreError(w, err)
		return
	}
	out := jobLog{JobID: id, Lines: make([]logLine, 0, len(lines)), Next: after}
	for _, l := range lines {
		out.Lines = append(out.Lines, logLine{Seq: l.Seq, At: l.At, Level: l.Level, Line: l.Line})
		out.Next = l.Seq
	}
	a.reply(w, r, http.StatusOK, out)
}
