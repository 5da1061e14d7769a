package web

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/gorilla/mux"

	"github.com/vpo-project/vpo/libs/media"
	"github.com/vpo-project/vpo/libs/policy"
	"github.com/vpo-project/vpo/libs/store"
	"github.com/vpo-project/vpo/services/vpo/internal/applyjob"
)

// pageSize is the number of rows of a jobs or files page.
const pageSize = 50

// storeFailure turns a store error into the page's error.
func storeFailure(err error, what string) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return failf(http.StatusNotFound, "%s not found", what)
	case errors.Is(err, store.ErrInvalid):
		return failf(http.StatusBadRequest, "%v", err)
	}
	return err
}

// oneOf checks the query parameter param: empty, or one of allowed (400
// naming them otherwise).
func oneOf(param, what, value string, allowed []string) error {
	if value == "" || slices.Contains(allowed, value) {
		return nil
	}
	return failf(http.StatusBadRequest, "%s %q is not %s (one of %v)", param, value, what, allowed)
}

// overviewDoc is the part of /health the overview shows.
type overviewDoc struct {
	Status        string  `json:"status"`
	Database      string  `json:"database"`
	UptimeSeconds float64 `json:"uptime_seconds"`
	Version       string  `json:"version"`
	Ready         bool    `json:"ready"`
	ShuttingDown  bool    `json:"shutting_down"`
	Workers       int     `json:"workers"`
	JobsRunning   int     `json:"jobs_running"`
	Queue         struct {
		Paused     bool       `json:"paused"`
		Drain      bool       `json:"drain"`
		WindowOpen bool       `json:"window_open"`
		NextWindow *time.Time `json:"next_window"`
	} `json:"queue"`
	Libraries []struct {
		ID             string     `json:"id"`
		Path           string     `json:"path"`
		Policy         string     `json:"policy"`
		Watch          bool       `json:"watch"`
		Watching       bool       `json:"watching"`
		FallbackReason string     `json:"fallback_reason"`
		LastScan       *time.Time `json:"last_scan"`
		Pending        int        `json:"pending"`
	} `json:"libraries"`
}

type overviewData struct {
	Health  overviewDoc
	Idle    int
	Counts  []statusCount
	Running []store.Job
}

type statusCount struct {
	Status string
	Count  int
}

func (d *Dashboard) overview(r *http.Request, v *view) (string, error) {
	v.Title, v.Nav, v.Live = "Overview", "overview", "job.created,job.started,job.finished,job.queued,job.progress,queue,library,health"
	var data overviewData
	raw, err := json.Marshal(d.opts.Health(r.Context()))
	if err == nil {
		err = json.Unmarshal(raw, &data.Health)
	}
	if err != nil {
		return "", err
	}
	data.Idle = max(data.Health.Workers-data.Health.JobsRunning, 0)
	counts, err := d.opts.Store.CountJobs(r.Context())
	if err != nil {
		return "", err
	}
	for _, st := range store.Statuses() {
		data.Counts = append(data.Counts, statusCount{st, counts[st]})
	}
	data.Running, _, err = d.opts.Store.ListJobs(r.Context(), store.JobFilter{Status: store.StatusRunning, Limit: 20})
	if err != nil {
		return "", err
	}
	v.Data = data
	return "overview", nil
}

type jobsData struct {
	Status, Kind    string
	Statuses, Kinds []string
	Jobs            []store.Job
	Next, Cursor    string
}

func (d *Dashboard) jobs(r *http.Request, v *view) (string, error) {
	v.Title, v.Nav, v.Live = "Jobs", "jobs", "job.created,job.started,job.finished,job.queued,job.progress,job.cancel_requested"
	q := r.URL.Query()
	data := jobsData{Status: q.Get("state"), Kind: q.Get("kind"), Statuses: store.Statuses(), Kinds: d.opts.Kinds(), Cursor: q.Get("cursor")}
	if err := oneOf("state", "a job state", data.Status, data.Statuses); err != nil {
		return "", err
	}
	if err := oneOf("kind", "a job kind", data.Kind, data.Kinds); err != nil {
		return "", err
	}
	jobs, next, err := d.opts.Store.ListJobs(r.Context(), store.JobFilter{Status: data.Status, Kind: data.Kind, Limit: pageSize, Cursor: data.Cursor})
	if err != nil {
		return "", storeFailure(err, "jobs")
	}
	data.Jobs, data.Next = jobs, next
	v.Data = data
	return "jobs", nil
}

type jobData struct {
	Job      store.Job
	Log      []store.LogLine
	Children []store.Job
	Duration string
}

func (d *Dashboard) job(r *http.Request, v *view) (string, error) {
	raw := mux.Vars(r)["id"]
	v.Title, v.Nav = "Job", "jobs"
	id, ok := store.CanonicalJobID(raw)
	if !ok {
		return "", failf(http.StatusNotFound, "%q is not a job id (a UUID)", raw)
	}
	j, err := d.opts.Store.GetJob(r.Context(), id)
	if err != nil {
		return "", storeFailure(err, "job "+id)
	}
	data := jobData{Job: j}
	if data.Log, err = d.opts.Store.JobLog(r.Context(), id, 0, 1000); err != nil {
		return "", err
	}
	if data.Children, _, err = d.opts.Store.ListJobs(r.Context(), store.JobFilter{Parent: id, Limit: 100}); err != nil {
		return "", err
	}
	if j.StartedAt != nil {
		end := time.Now()
		if j.FinishedAt != nil {
			end = *j.FinishedAt
		}
		data.Duration = end.Sub(*j.StartedAt).Round(time.Second).String()
	}
	v.Title = "Job " + shortID(id)
	v.Live, v.LiveJob = "job", id
	v.Data = data
	return "job", nil
}

type libraryData struct {
	Search, Filter, Cursor, Next string
	Filters                      []string
	Files                        []store.File
}

func (d *Dashboard) library(r *http.Request, v *view) (string, error) {
	v.Title, v.Nav, v.Live = "Library", "library", "library"
	q := r.URL.Query()
	data := libraryData{Search: q.Get("q"), Filter: q.Get("filter"), Cursor: q.Get("cursor"), Filters: store.FileFilters()}
	if err := oneOf("filter", "a file filter", data.Filter, data.Filters); err != nil {
		return "", err
	}
	files, next, err := d.opts.Store.SearchFiles(r.Context(), store.FileQuery{Search: data.Search, Filter: data.Filter, Limit: pageSize, Cursor: data.Cursor})
	if err != nil {
		return "", storeFailure(err, "files")
	}
	data.Files, data.Next = files, next
	v.Data = data
	return "library", nil
}

// planChanges is what a stored plan (policy.Plan as JSON) shows: its
// changes, why it skips the file, its notes.
type planChanges struct {
	Changes []policy.Change
	Skipped string
	Notes   []string
}

// changesOf decodes a stored plan (nothing when it does not decode).
func changesOf(raw json.RawMessage) planChanges {
	var p policy.Plan
	if json.Unmarshal(raw, &p) != nil {
		return planChanges{}
	}
	return planChanges{Changes: p.Changes, Skipped: p.Skipped, Notes: p.Notes}
}

// planView is a change history entry with its plan decoded.
type planView struct {
	store.HistoryEntry
	planChanges
}

type fileData struct {
	File    store.File
	Tracks  []applyjob.Track
	History []planView
}

func (d *Dashboard) file(r *http.Request, v *view) (string, error) {
	v.Title, v.Nav = "File", "library"
	raw := mux.Vars(r)["id"]
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || id <= 0 {
		return "", failf(http.StatusNotFound, "%q is not a file id (a positive number)", raw)
	}
	f, err := d.opts.Store.GetFileByID(r.Context(), id)
	if err != nil {
		return "", storeFailure(err, "file "+raw)
	}
	data := fileData{File: f}
	if len(f.Probe) > 0 {
		if m, err := media.FromFFProbe(f.Probe, media.Options{}); err == nil {
			data.Tracks = applyjob.Tracks(m)
		}
	}
	hist, err := d.opts.Store.ListHistory(r.Context(), f.ID)
	if err != nil {
		return "", err
	}
	for _, h := range hist {
		data.History = append(data.History, planView{HistoryEntry: h, planChanges: changesOf(h.Plan)})
	}
	v.Title = "File " + raw
	v.Data = data
	return "file", nil
}

// storedPlan is a plan with its changes decoded.
type storedPlan struct {
	store.Plan
	planChanges
}

func decodePlans(plans []store.Plan) []storedPlan {
	out := make([]storedPlan, 0, len(plans))
	for _, p := range plans {
		out = append(out, storedPlan{Plan: p, planChanges: changesOf(p.Plan)})
	}
	return out
}

type plansData struct {
	// Job is set when the page shows the plans one job made (a dry run).
	Job     *store.Job
	Plans   []storedPlan
	Pending []storedPlan
	Applied []storedPlan
}

func (d *Dashboard) plans(r *http.Request, v *view) (string, error) {
	v.Title, v.Nav = "Plans", "plans"
	ctx := r.Context()
	var data plansData
	if raw := r.URL.Query().Get("job"); raw != "" {
		id, ok := store.CanonicalJobID(raw)
		if !ok {
			return "", failf(http.StatusBadRequest, "job %q is not a job id (a UUID)", raw)
		}
		j, err := d.opts.Store.GetJob(ctx, id)
		if err != nil {
			return "", storeFailure(err, "job "+id)
		}
		plans, _, err := d.opts.Store.ListPlans(ctx, store.PlanFilter{JobID: id, Limit: store.MaxListLimit})
		if err != nil {
			return "", err
		}
		data.Job, data.Plans = &j, decodePlans(plans)
		v.Title = "Plans of job " + shortID(id)
		v.Live, v.LiveJob = "job", id
		v.Data = data
		return "plans", nil
	}
	v.Live = "job.finished"
	pending, _, err := d.opts.Store.ListPlans(ctx, store.PlanFilter{Status: store.PlanPending, Limit: 100})
	if err != nil {
		return "", err
	}
	applied, _, err := d.opts.Store.ListPlans(ctx, store.PlanFilter{Status: store.PlanApplied, Limit: 20})
	if err != nil {
		return "", err
	}
	data.Pending, data.Applied = decodePlans(pending), decodePlans(applied)
	v.Data = data
	return "plans", nil
}

type policiesData struct {
	Dir      string
	Exists   bool
	Error    string
	Policies []policy.Summary
	Usable   []string
}

func (d *Dashboard) policies(r *http.Request, v *view) (string, error) {
	v.Title, v.Nav = "Policies", "policies"
	data := policiesData{Dir: d.opts.PolicyDir()}
	l, err := policy.List(data.Dir)
	if err != nil {
		data.Error = err.Error()
	}
	data.Exists = l.Exists
	for _, e := range l.Entries {
		s := e.Summary()
		data.Policies = append(data.Policies, s)
		if s.ParseError == nil {
			data.Usable = append(data.Usable, s.Name)
		}
	}
	v.Data = data
	return "policies", nil
}

type sourceData struct {
	Summary policy.Summary
	Source  string
}

func (d *Dashboard) policySource(r *http.Request, v *view) (string, error) {
	v.Title, v.Nav = "Policy", "policies"
	name := mux.Vars(r)["name"]
	l, err := policy.List(d.opts.PolicyDir())
	if err != nil {
		return "", failf(http.StatusServiceUnavailable, "policies directory: %v", err)
	}
	for _, e := range l.Entries {
		if e.Name != name {
			continue
		}
		f, err := os.Open(e.Path)
		if err != nil {
			return "", failf(http.StatusServiceUnavailable, "policy %s: %v", name, err)
		}
		defer f.Close()
		src, err := io.ReadAll(io.LimitReader(f, policy.MaxFileSize))
		if err != nil {
			return "", failf(http.StatusServiceUnavailable, "policy %s: %v", name, err)
		}
		v.Title = "Policy " + name
		v.Data = sourceData{Summary: e.Summary(), Source: string(src)}
		return "policy", nil
	}
	return "", failf(http.StatusNotFound, "no policy named %q in %s", name, l.Dir)
}
