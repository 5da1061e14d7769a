package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vpo-project/vpo/libs/jobs"
	"github.com/vpo-project/vpo/libs/store"
	"github.com/vpo-project/vpo/services/vpo/internal/server"
)

// fakeHealth answers fixed codes on the three health endpoints.
type fakeHealth struct{}

func fixed(code int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_, _ = w.Write([]byte(`{"status":"x"}`))
	})
}

func (fakeHealth) HealthHandler() http.Handler { return fixed(200) }
func (fakeHealth) LiveHandler() http.Handler   { return fixed(200) }
func (fakeHealth) ReadyHandler() http.Handler  { return fixed(503) }

// fakeStore keeps jobs in memory.
type fakeStore struct {
	mu   sync.Mutex
	jobs map[string]store.Job
	n    int
}

func (f *fakeStore) CreateJob(_ context.Context, nj store.NewJob) (store.Job, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	j := store.Job{ID: fmt.Sprintf("00000000-0000-7000-8000-%012d", f.n), Kind: nj.Kind, Payload: nj.Payload, Status: "queued", Priority: nj.Priority}
	f.jobs[j.ID] = j
	return j, nil
}

func (f *fakeStore) GetJob(_ context.Context, id string) (store.Job, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	j, ok := f.jobs[id]
	if !ok {
		return store.Job{}, fmt.Errorf("job %s: %w", id, store.ErrNotFound)
	}
	return j, nil
}

func (f *fakeStore) ListJobs(context.Context, store.JobFilter) ([]store.Job, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []store.Job
	for _, j := range f.jobs {
		out = append(out, j)
	}
	return out, "", nil
}

func (f *fakeStore) CancelJob(ctx context.Context, id string, _ time.Time) (store.Job, error) {
	j, err := f.GetJob(ctx, id)
	if err != nil {
		return j, err
	}
	if j.Status != "queued" {
		return j, fmt.Errorf("cancel job %s: %w", id, store.ErrConflict)
	}
	j.Status = "cancelled"
	f.mu.Lock()
	f.jobs[id] = j
	f.mu.Unlock()
	return j, nil
}

func (f *fakeStore) RetryJob(ctx context.Context, id string) (store.Job, error) {
	j, err := f.GetJob(ctx, id)
	if err != nil {
		return j, err
	}
	return j, fmt.Errorf("retry job %s: %w", id, store.ErrConflict)
}

func (f *fakeStore) ListFiles(context.Context, int, string) ([]store.File, string, error) {
	return nil, "", nil
}

// JobLog: every job has the lines 1..3.
func (f *fakeStore) JobLog(_ context.Context, id string, after int64, limit int) ([]store.LogLine, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.jobs[id]; !ok {
		return nil, fmt.Errorf("job %s: %w", id, store.ErrNotFound)
	}
	var out []store.LogLine
	for seq := after + 1; seq <= 3 && len(out) < limit; seq++ {
		out = append(out, store.LogLine{JobID: id, Seq: seq, Level: "info", Line: fmt.Sprintf("line %d", seq)})
	}
	return out, nil
}

func (f *fakeStore) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.jobs)
}

type validatingHandler struct{}

func (validatingHandler) Run(context.Context, store.Job, jobs.Progress) (json.RawMessage, error) {
	return nil, nil
}

func (validatingHandler) Validate(p json.RawMessage) error {
	if !strings.Contains(string(p), "path") {
		return fmt.Errorf("payload: path is required")
	}
	return nil
}

func newTestRouter(t *testing.T, accepting bool) (http.Handler, *fakeStore, *int) {
	t.Helper()
	reg := jobs.NewRegistry()
	if err := reg.Register("scan", validatingHandler{}); err != nil {
		t.Fatal(err)
	}
	st := &fakeStore{jobs: map[string]store.Job{}}
	notified := 0
	api := server.NewJobsAPI(server.JobsAPIOptions{
		Store: st, Kinds: reg,
		Submitted: func() { notified++ },
		Accepting: func() bool { return accepting },
	})
	return server.NewRouter(server.RouterOptions{Health: fakeHealth{}, Jobs: api}), st, &notified
}

// apiRequest is a request as the vpo client sends it: to the daemon's own
// name, and with "Content-Type: application/json" on anything but GET and
// HEAD.
func apiRequest(method, target string, body io.Reader) *http.Request {
	req := httptest.NewRequest(method, target, body)
	req.Host = "127.0.0.1:8321"
	if method != http.MethodGet && method != http.MethodHead {
		req.Header.Set("Content-Type", "application/json")
	}
	return req
}

func do(h http.Handler, method, path, body string) (int, map[string]any) {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, apiRequest(method, path, strings.NewReader(body)))
	var m map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &m)
	return rec.Code, m
}

func TestRoutes(t *testing.T) {
	h, st, notified := newTestRouter(t, true)
	created, job := do(h, "POST", "/api/jobs", `{"kind":"scan","payload":{"path":"/m"},"priority":3}`)
	if created != 201 || job["status"] != "queued" || job["priority"] != float64(3) || *notified != 1 {
		t.Fatalf("submit = %d %v (notified %d)", created, job, *notified)
	}
	id := job["id"].(string)
	for _, tc := range []struct {
		method, path, body string
		want               int
		errorBody          bool
	}{
		{"GET", "/health", "", 200, false},
		{"HEAD", "/health/live", "", 200, false},
		{"GET", "/health/ready", "", 503, false},
		{"POST", "/health", "", 405, true},
		{"GET", "/nope", "", 404, true},
		{"DELETE", "/api/jobs", "", 405, true},
		{"GET", "/api/jobs", "", 200, false},
		{"GET", "/api/jobs/" + id, "", 200, false},
		{"GET", "/api/jobs/00000000-0000-7000-8000-999999999999", "", 404, true},
		{"GET", "/api/jobs/xyz", "", 400, true},
		{"POST", "/api/jobs", `{"kind":"nope"}`, 400, true},
		{"POST", "/api/jobs", `{"kind":"scan","payload":{}}`, 400, true},
		{"POST", "/api/jobs", `{"kind":"scan","payload":{"path":"/m"},"x":1}`, 400, true},
		{"POST", "/api/jobs", `{"kind":"scan"`, 400, true},
		{"POST", "/api/jobs", ``, 400, true},
		{"POST", "/api/jobs", `{"kind":"scan","payload":{"path":"/m"}} {}`, 400, true},
		{"POST", "/api/jobs", `{"kind":"scan","payload":{"path":"/m"},"priority":-1}`, 400, true},
		{"POST", "/api/jobs", `{"kind":"scan","payload":{"path":"` + strings.Repeat("a", server.MaxRequestBody) + `"}}`, 413, true},
		{"POST", "/api/jobs/" + id + "/retry", "", 409, true},
		{"POST", "/api/jobs/" + id + "/cancel", `{"unexpected":true}`, 400, true},
		{"POST", "/api/jobs/" + id + "/cancel", "", 200, false},
		{"POST", "/api/jobs/" + id + "/cancel", "", 409, true},
		{"GET", "/api/jobs?limit=abc", "", 400, true},
		{"GET", "/api/files", "", 200, false},
	} {
		code, body := do(h, tc.method, tc.path, tc.body)
		if code != tc.want {
			t.Errorf("%s %s %.40q = %d, want %d (%v)", tc.method, tc.path, tc.body, code, tc.want, body)
		}
		if tc.errorBody && (body == nil || body["error"] == "" || body["error"] == nil) {
			t.Errorf("%s %s: no JSON error message: %v", tc.method, tc.path, body)
		}
	}
	if st.count() != 1 {
		t.Fatalf("rejected requests created jobs: %d in store", st.count())
	}
}

func TestSubmitWhileShuttingDown(t *testing.T) {
	h, st, _ := newTestRouter(t, false)
	if code, _ := do(h, "POST", "/api/jobs", `{"kind":"scan","payload":{"path":"/m"}}`); code != 503 {
		t.Fatalf("submit while shutting down = %d, want 503", code)
	}
	if st.count() != 0 {
		t.Fatal("job stored while shutting down")
	}
}
