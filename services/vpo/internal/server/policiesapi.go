package server

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/gorilla/mux"
	"github.com/sirupsen/logrus"

	"github.com/vpo-project/vpo/libs/media"
	"github.com/vpo-project/vpo/libs/policy"
	"github.com/vpo-project/vpo/libs/store"
	"github.com/vpo-project/vpo/services/vpo/internal/applyjob"
)

// PoliciesStore is the storage the policies, plans and file-detail
// endpoints need.
type PoliciesStore interface {
	ListPlans(ctx context.Context, f store.PlanFilter) ([]store.Plan, string, error)
	GetPlan(ctx context.Context, id int64) (store.Plan, error)
	ApprovePlan(ctx context.Context, id int64, nj store.NewJob, now time.Time) (store.Plan, store.Job, error)
	SetPlanStatus(ctx context.Context, id int64, from []string, status, errMsg string, now time.Time) (store.Plan, error)
	GetFileByID(ctx context.Context, id int64) (store.File, error)
	ListHistory(ctx context.Context, fileID int64) ([]store.HistoryEntry, error)
}

// PoliciesAPIOptions configures NewPoliciesAPI.
type PoliciesAPIOptions struct {
	Store PoliciesStore
	// Dir returns the policies directory now (policies.dir, live).
	Dir func() string
	// Submitted is called after an approval enqueued a job.
	Submitted func()
	// Accepting reports whether new jobs are taken (false: approvals 503).
	Accepting func() bool
	Log       *logrus.Entry
}

// PoliciesAPI serves /api/policies, /api/plans and /api/files/{id}.
type PoliciesAPI struct {
	opts PoliciesAPIOptions
}

// NewPoliciesAPI returns the API; mount it with RouterOptions.Policies.
func NewPoliciesAPI(opts PoliciesAPIOptions) *PoliciesAPI {
	optionDefaults(&opts.Submitted, &opts.Accepting, &opts.Log)
	return &PoliciesAPI{opts: opts}
}

func (a *PoliciesAPI) mount(r *mux.Router) {
	mountRoutes(r, []route{
		{"/api/policies", http.MethodGet, a.listPolicies},
		{"/api/policies/{name}", http.MethodGet, a.getPolicy},
		{"/api/plans", http.MethodGet, a.listPlans},
		{"/api/plans/{id}/approve", http.MethodPost, a.approve},
		{"/api/plans/{id}/reject", http.MethodPost, a.reject},
		{"/api/files/{id}", http.MethodGet, a.file},
	})
}

func (a *PoliciesAPI) reply(w http.ResponseWriter, r *http.Request, code int, v any) {
	replyJSON(a.opts.Log, w, r, code, v)
}

// policyList is the answer of GET /api/policies.
type policyList struct {
	Policies        []policy.Summary `json:"policies"`
	Total           int              `json:"total"`
	Dir             string           `json:"policies_directory"`
	DirectoryExists bool             `json:"directory_exists"`
	Error           string           `json:"error,omitempty"`
}

func (a *PoliciesAPI) listPolicies(w http.ResponseWriter, r *http.Request) {
	dir := a.opts.Dir()
	out := policyList{Policies: []policy.Summary{}, Dir: dir}
	l, err := policy.List(dir)
	if err != nil {
		// An unreadable directory (or a path that is no directory) is
		// reported, not a 500.
		fi, serr := os.Stat(dir)
		out.DirectoryExists, out.Error = serr == nil && fi.IsDir(), err.Error()
		a.reply(w, r, http.StatusOK, out)
		return
	}
	out.DirectoryExists = l.Exists
	for _, e := range l.Entries {
		out.Policies = append(out.Policies, e.Summary())
	}
	out.Total = len(out.Policies)
	a.reply(w, r, http.StatusOK, out)
}

// policyView is the parsed policy in GET /api/policies/{name}.
type policyView struct {
	Name          string      `json:"name"`
	DisplayName   string      `json:"display_name,omitempty"`
	SchemaVersion int         `json:"schema_version"`
	Description   string      `json:"description"`
	Category      string      `json:"category,omitempty"`
	Config        configView  `json:"config"`
	Phases        []phaseView `json:"phases"`
	HasTranscode  bool        `json:"has_transcode"`
	HasTranscribe bool        `json:"has_transcription"`
}

type configView struct {
	AudioLanguages     []string `json:"audio_languages"`
	SubtitleLanguages  []string `json:"subtitle_languages"`
	CommentaryPatterns []string `json:"commentary_patterns"`
	OnError            string   `json:"on_error"`
	KeepOriginal       *bool    `json:"keep_original,omitempty"`
}

type phaseView struct {
	Name   string   `json:"name"`
	Line   int      `json:"line"`
	Blocks []string `json:"blocks"`
}

type policyDetail struct {
	Name        string      `json:"name"`
	Filename    string      `json:"filename"`
	FilePath    string      `json:"file_path"`
	ParseError  *string     `json:"parse_error"`
	Unsupported []string    `json:"unsupported"`
	Policy      *policyView `json:"policy"`
	Source      string      `json:"source"`
}

func view(p *policy.Policy) *policyView {
	v := &policyView{Name: p.Name, DisplayName: p.DisplayName, SchemaVersion: p.SchemaVersion, Description: p.Description,
		Category: p.Category, HasTranscode: p.HasTranscode(), HasTranscribe: p.HasTranscription(), Phases: []phaseView{},
		Config: configView{AudioLanguages: p.Config.AudioLanguages, SubtitleLanguages: p.Config.SubtitleLanguages,
			CommentaryPatterns: p.Config.CommentaryPatterns, OnError: p.Config.OnError, KeepOriginal: p.Config.KeepOriginal}}
	for _, ph := range p.Phases {
		pv := phaseView{Name: ph.Name, Line: ph.Line, Blocks: []string{}}
		for _, b := range []struct {
			name string
			on   bool
		}{
			{"audio_actions", ph.AudioActions != nil}, {"subtitle_actions", ph.SubtitleActions != nil},
			{"video_actions", ph.VideoActions != nil}, {"keep_audio", ph.KeepAudio != nil},
			{"keep_subtitles", ph.KeepSubtitles != nil}, {"filter_attachments", ph.FilterAttachments != nil},
			{"container", ph.Container != nil}, {"track_order", ph.TrackOrder != nil},
			{"default_flags", ph.DefaultFlags != nil}, {"transcode", ph.Transcode != nil}, {"transcription", ph.Transcription},
		} {
			if b.on {
				pv.Blocks = append(pv.Blocks, b.name)
			}
		}
		v.Phases = append(v.Phases, pv)
	}
	return v
}

func (a *PoliciesAPI) getPolicy(w http.ResponseWriter, r *http.Request) {
	name := mux.Vars(r)["name"]
	dir := a.opts.Dir()
	l, err := policy.List(dir)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	var named []string
	for _, e := range l.Entries {
		if e.Name == name {
			named = append(named, e.Path)
		}
	}
	if len(named) > 1 {
		// As policy.FindName: neither file is the policy until one is removed.
		writeError(w, http.StatusConflict, fmt.Sprintf("policy %q is ambiguous: both %s and %s exist; remove one (or ask for a file by its filename)",
			name, named[0], named[1]))
		return
	}
	for _, e := range l.Entries {
		if e.Name != name && e.Filename != name {
			continue
		}
		s := e.Summary()
		d := policyDetail{Name: e.Name, Filename: e.Filename, FilePath: e.Path, ParseError: s.ParseError, Unsupported: s.Unsupported}
		if e.Policy != nil {
			d.Policy, d.Source = view(e.Policy), string(e.Policy.Source)
		} else if b, err := readSmall(e.Path); err == nil {
			d.Source = string(b)
		}
		a.reply(w, r, http.StatusOK, d)
		return
	}
	writeError(w, http.StatusNotFound, fmt.Sprintf("no policy %q in %s", name, dir))
}

// readSmall reads a regular file of at most policy.MaxFileSize bytes. It
// opens nothing else, and does not block on a FIFO swapped in after the
// stat: the open is non-blocking and the opened file is checked again.
func readSmall(path string) ([]byte, error) {
	if fi, err := os.Stat(path); err != nil {
		return nil, err
	} else if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	return io.ReadAll(io.LimitReader(f, policy.MaxFileSize))
}

type planList struct {
	Plans      []store.Plan `json:"plans"`
	NextCursor string       `json:"next_cursor,omitempty"`
}

func (a *PoliciesAPI) listPlans(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	for k := range q {
		switch k {
		case "status", "path", "path_b64", "policy", "job", "limit", "cursor":
		default:
			writeError(w, http.StatusBadRequest, fmt.Sprintf("unknown query parameter %q (known: status, path, path_b64, policy, job, limit, cursor)", k))
			return
		}
	}
	limit, ok := queryLimit(w, q.Get("limit"))
	if !ok {
		return
	}
	if st := q.Get("status"); st != "" && !validPlanStatus(st) {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("status %q is not a plan status (one of %v)", st, store.PlanStatuses()))
		return
	}
	if c := q.Get("cursor"); c != "" {
		if n, err := strconv.ParseInt(c, 10, 64); err != nil || n <= 0 {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("cursor %q is malformed (use next_cursor of the previous page)", c))
			return
		}
	}
	job := q.Get("job")
	if job != "" {
		// Spelled as /api/jobs/{id} takes it; the store holds the canonical form.
		c, ok := store.CanonicalJobID(job)
		if !ok {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("job %q is not a job id (a UUID)", job))
			return
		}
		job = c
	}
	path, ok := planPathParam(w, q)
	if !ok {
		return
	}
	plans, next, err := a.opts.Store.ListPlans(r.Context(), store.PlanFilter{
		Status: q.Get("status"), Path: path, Policy: q.Get("policy"), JobID: job,
		Limit: limit, Cursor: q.Get("cursor"),
	})
	if err != nil {
		writeStoreError(w, err)
		return
	}
	if plans == nil {
		plans = []store.Plan{}
	}
	a.reply(w, r, http.StatusOK, planList{Plans: plans, NextCursor: next})
}

// planPathParam returns the file the plans query asks for: ?path= as the
// API prints it (a path holding a backslash is the escaped form of
// store.EscapePath) or ?path_b64= (standard base64 of the exact bytes).
func planPathParam(w http.ResponseWriter, q url.Values) (string, bool) {
	path, b64 := q.Get("path"), q.Get("path_b64")
	switch {
	case path != "" && b64 != "":
		writeError(w, http.StatusBadRequest, "give either path or path_b64, not both")
		return "", false
	case b64 != "":
		b, err := base64.StdEncoding.Strict().DecodeString(b64)
		if err != nil {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("path_b64 %q is not standard base64: %v", b64, err))
			return "", false
		}
		return string(b), true
	}
	p, err := store.UnescapePath(path)
	if err != nil {
		writeError(w, http.StatusBadRequest, "path: "+err.Error()+"; or give the exact bytes as path_b64")
		return "", false
	}
	return p, true
}

func validPlanStatus(st string) bool {
	for _, v := range store.PlanStatuses() {
		if v == st {
			return true
		}
	}
	return false
}

// intID reads the {id} path variable as a positive integer.
func intID(w http.ResponseWriter, r *http.Request, what string) (int64, bool) {
	s := mux.Vars(r)["id"]
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("invalid %s id %q: not a positive integer", what, s))
		return 0, false
	}
	return n, true
}

type approval struct {
	Plan  store.Plan `json:"plan"`
	JobID string     `json:"job_id,omitempty"`
}

func (a *PoliciesAPI) approve(w http.ResponseWriter, r *http.Request) {
	id, ok := intID(w, r, "plan")
	if !ok || !emptyBody(w, r) {
		return
	}
	if !a.opts.Accepting() {
		writeError(w, http.StatusServiceUnavailable, "vpo is shutting down; not accepting new jobs")
		return
	}
	p, err := a.opts.Store.GetPlan(r.Context(), id)
	if err != nil {
		writeStoreError(w, err)
		return
	}
	payload, err := json.Marshal(applyjob.Payload{PlanID: id, Policy: p.Policy, Path: p.Path})
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	p, job, err := a.opts.Store.ApprovePlan(r.Context(), id, store.NewJob{Kind: applyjob.Kind, Payload: payload,
		Priority: DefaultPriority}, time.Now())
	if err != nil {
		writeStoreError(w, err)
		return
	}
	a.opts.Submitted()
	a.reply(w, r, http.StatusOK, approval{Plan: p, JobID: job.ID})
}

func (a *PoliciesAPI) reject(w http.ResponseWriter, r *http.Request) {
	id, ok := intID(w, r, "plan")
	if !ok || !emptyBody(w, r) {
		return
	}
	p, err := a.opts.Store.SetPlanStatus(r.Context(), id, []string{store.PlanPending}, store.PlanRejected, "", time.Now())
	if err != nil {
		writeStoreError(w, err)
		return
	}
	a.reply(w, r, http.StatusOK, approval{Plan: p})
}

// fileDetail is GET /api/files/{id}: the file row (as in /api/files) with
// its tracks and history. "tracks" is the list of tracks here; the row's
// number of tracks (its "tracks" in /api/files) is "track_count".
type fileDetail struct {
	store.File
	Tracks  []applyjob.Track
	History []store.HistoryEntry
}

// MarshalJSON merges the file's own JSON with tracks and history.
func (d fileDetail) MarshalJSON() ([]byte, error) {
	base, err := json.Marshal(d.File)
	if err != nil {
		return nil, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(base, &m); err != nil {
		return nil, err
	}
	m["track_count"] = m["tracks"]
	if m["tracks"], err = json.Marshal(d.Tracks); err != nil {
		return nil, err
	}
	if m["history"], err = json.Marshal(d.History); err != nil {
		return nil, err
	}
	return json.Marshal(m)
}

func (a *PoliciesAPI) file(w http.ResponseWriter, r *http.Request) {
	id, ok := intID(w, r, "file")
	if !ok {
		return
	}
	f, err := a.opts.Store.GetFileByID(r.Context(), id)
	if err != nil {
		writeStoreError(w, err)
		return
	}
	d := fileDetail{File: f, Tracks: []applyjob.Track{}}
	if len(f.Probe) > 0 {
		if m, err := media.FromFFProbe(f.Probe, media.Options{}); err == nil {
			d.Tracks = applyjob.Tracks(m)
		}
	}
	if d.History, err = a.opts.Store.ListHistory(r.Context(), f.ID); err != nil {
		writeStoreError(w, err)
		return
	}
	a.reply(w, r, http.StatusOK, d)
}
