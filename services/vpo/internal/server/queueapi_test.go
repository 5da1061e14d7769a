package server_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vpo-project/vpo/libs/store"
	"github.com/vpo-project/vpo/services/vpo/internal/server"
)

// fakeQueue records pauses and resumes.
type fakeQueue struct {
	mu      sync.Mutex
	st      server.QueueStatus
	calls   []string
	failing bool
}

func (q *fakeQueue) Pause(_ context.Context, drain bool) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.failing {
		return errors.New("disk I/O error")
	}
	at := time.Date(2026, 12, 2, 5, 0, 0, 0, time.UTC)
	q.st.Paused, q.st.Drain, q.st.PausedAt = true, drain, &at
	if drain {
		q.calls = append(q.calls, "pause drain")
	} else {
		q.calls = append(q.calls, "pause")
	}
	return nil
}

func (q *fakeQueue) Resume(context.Context) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.st.Paused, q.st.Drain, q.st.PausedAt = false, false, nil
	q.calls = append(q.calls, "resume")
	return nil
}

func (q *fakeQueue) SetWindow(_ context.Context, schedule string, kinds []string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if schedule == "bad" {
		return fmt.Errorf("schedule: cannot read %q: %w", schedule, store.ErrInvalid)
	}
	if q.failing {
		return errors.New("disk I/O error")
	}
	at := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	q.st.Schedule, q.st.ScheduledKinds, q.st.WindowSource, q.st.WindowSetAt = schedule, kinds, "cluster", &at
	q.calls = append(q.calls, fmt.Sprintf("window %q %v", schedule, kinds))
	return nil
}

func (q *fakeQueue) ClearWindow(context.Context) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.st.Schedule, q.st.ScheduledKinds, q.st.WindowSource, q.st.WindowSetAt = "", nil, "config", nil
	q.calls = append(q.calls, "clear window")
	return nil
}

func (q *fakeQueue) Status(context.Context) (server.QueueStatus, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.st, nil
}

func (q *fakeQueue) called() string {
	q.mu.Lock()
	defer q.mu.Unlock()
	return strings.Join(q.calls, ", ")
}

func newQueueRouter(q *fakeQueue, token string) http.Handler {
	return server.NewRouter(server.RouterOptions{Health: fakeHealth{}, Queue: server.NewQueueAPI(q, nil), AuthToken: token})
}

func TestQueueAPI(t *testing.T) {
	next := time.Date(2026, 12, 3, 1, 0, 0, 0, time.UTC)
	q := &fakeQueue{st: server.QueueStatus{Running: 2, Queued: 7, Schedule: "01:00-07:00",
		ScheduledKinds: []string{"apply", "transcode"}, NextWindow: &next}}
	h := newQueueRouter(q, "")

	code, body := do(h, "GET", "/api/queue", "")
	if code != 200 || body["paused"] != false || body["paused_at"] != nil || body["running"] != float64(2) ||
		body["queued"] != float64(7) || body["schedule"] != "01:00-07:00" || body["window_open"] != false ||
		body["next_window"] != "2026-12-03T01:00:00Z" {
		t.Fatalf("GET /api/queue = %d %v", code, body)
	}
	if kinds, _ := body["scheduled_kinds"].([]any); len(kinds) != 2 {
		t.Errorf("scheduled_kinds = %v", body["scheduled_kinds"])
	}
	for _, tc := range []struct {
		method, path, body string
		want               int
		paused, drain      bool
	}{
		{"POST", "/api/queue/pause", "", 200, true, false},
		{"POST", "/api/queue/resume", "{}", 200, false, false},
		{"POST", "/api/queue/pause", `{"drain": true}`, 200, true, true},
		{"POST", "/api/queue/pause", `{"drain": false}`, 200, true, false},
		{"POST", "/api/queue/resume", "", 200, false, false},
		{"POST", "/api/queue/pause", `{}`, 200, true, false},
	} {
		code, body := do(h, tc.method, tc.path, tc.body)
		if code != tc.want || body["paused"] != tc.paused || body["drain"] != tc.drain {
			t.Errorf("%s %s %s = %d %v, want %d paused=%v drain=%v", tc.method, tc.path, tc.body, code, body, tc.want, tc.paused, tc.drain)
		}
		if tc.paused && body["paused_at"] != "2026-12-02T05:00:00Z" {
			t.Errorf("%s %s: paused_at = %v", tc.method, tc.path, body["paused_at"])
		}
	}
	if got := q.called(); got != "pause, resume, pause drain, pause, resume, pause" {
		t.Errorf("calls = %s", got)
	}

	// Bad requests change nothing.
	before := q.called()
	for _, tc := range []struct {
		method, path, body string
		want               int
	}{
		{"POST", "/api/queue/pause", `{"drain": "yes"}`, 400},
		{"POST", "/api/queue/pause", `{"drian": true}`, 400},
		{"POST", "/api/queue/pause", `{"drain": true`, 400},
		{"POST", "/api/queue/resume", `{"drain": true}`, 400},
		{"GET", "/api/queue/pause", "", 405},
		{"DELETE", "/api/queue", "", 405},
	} {
		code, body := do(h, tc.method, tc.path, tc.body)
		if code != tc.want || body["error"] == nil {
			t.Errorf("%s %s %s = %d %v, want %d with an error", tc.method, tc.path, tc.body, code, body, tc.want)
		}
	}
	if q.called() != before {
		t.Errorf("refused requests paused or resumed: %s", q.called())
	}

	q.failing = true
	if code, body := do(h, "POST", "/api/queue/pause", ""); code != 500 || !strings.Contains(body["error"].(string), "disk I/O error") {
		t.Errorf("failed pause = %d %v, want 500 naming the error", code, body)
	}
}

// TestQueueAPIGuarded: the queue API follows the rules of /api: the token
// when one is set, JSON content type and same origin for POST.
func TestQueueAPIGuarded(t *testing.T) {
	q := &fakeQueue{}
	h := newQueueRouter(q, "s3cret")
	for _, path := range []string{"/api/queue", "/api/queue/pause", "/api/queue/resume"} {
		method := "POST"
		if path == "/api/queue" {
			method = "GET"
		}
		if code, _ := do(h, method, path, ""); code != http.StatusUnauthorized {
			t.Errorf("%s %s without the token = %d, want 401", method, path, code)
		}
	}
	for _, method := range []string{"PUT", "DELETE"} {
		if code, _ := do(h, method, "/api/queue/window", ""); code != http.StatusUnauthorized {
			t.Errorf("%s /api/queue/window without the token = %d, want 401", method, code)
		}
	}
	rec := httptest.NewRecorder()
	req := apiRequest("POST", "/api/queue/pause", nil)
	req.Header.Set("Authorization", "Bearer s3cret")
	req.Header.Set("Content-Type", "text/plain")
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusUnsupportedMediaType {
		t.Errorf("pause as text/plain = %d, want 415", rec.Code)
	}
	rec = httptest.NewRecorder()
	req = apiRequest("POST", "/api/queue/pause", nil)
	req.Header.Set("Authorization", "Bearer s3cret")
	req.Header.Set("Origin", "http://evil.example")
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusForbidden {
		t.Errorf("cross-origin pause = %d, want 403", rec.Code)
	}
	if q.called() != "" {
		t.Errorf("refused requests reached the queue: %s", q.called())
	}
	rec = httptest.NewRecorder()
	req = apiRequest("POST", "/api/queue/pause", strings.NewReader(`{"drain":true}`))
	req.SetBasicAuth("sonarr", "s3cret")
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || q.called() != "pause drain" {
		t.Errorf("pause with the token = %d (%s), calls %q", rec.Code, rec.Body.String(), q.called())
	}
}

// TestQueueWindowAPI: PUT /api/queue/window sets the cluster's window
// (schedule required, kinds optional), DELETE clears it; both answer the
// queue's status; a bad body or schedule is a 400 that changes nothing.
func TestQueueWindowAPI(t *testing.T) {
	q := &fakeQueue{}
	h := newQueueRouter(q, "")
	code, body := do(h, "PUT", "/api/queue/window", `{"schedule": "01:00-07:00", "scheduled_kinds": ["apply"]}`)
	if code != 200 || body["schedule"] != "01:00-07:00" || body["window_source"] != "cluster" || body["window_set_at"] != "2026-12-03T09:00:00Z" {
		t.Fatalf("PUT window = %d %v", code, body)
	}
	if code, body = do(h, "PUT", "/api/queue/window", `{"schedule": ""}`); code != 200 || body["schedule"] != "" {
		t.Fatalf("PUT always-open window = %d %v", code, body)
	}
	if code, body = do(h, "DELETE", "/api/queue/window", ""); code != 200 || body["window_source"] != "config" || body["window_set_at"] != nil {
		t.Fatalf("DELETE window = %d %v", code, body)
	}
	if got, want := q.called(), `window "01:00-07:00" [apply], window "" [], clear window`; got != want {
		t.Errorf("calls = %s, want %s", got, want)
	}
	before := q.called()
	for _, tc := range []struct {
		method, body, want string
		code               int
	}{
		{"PUT", `{}`, "schedule is required", 400},
		{"PUT", ``, "invalid JSON body", 400},
		{"PUT", `{"schedule": 7}`, "invalid JSON body", 400},
		{"PUT", `{"schedule": "01:00-02:00", "kinds": ["apply"]}`, "unknown field", 400},
		{"PUT", `{"schedule": "bad"}`, `schedule: cannot read "bad"`, 400},
		{"DELETE", `{"schedule": ""}`, "no body", 400},
		{"POST", `{"schedule": ""}`, "", 405},
	} {
		code, body := do(h, tc.method, "/api/queue/window", tc.body)
		msg, _ := body["error"].(string)
		if code != tc.code || !strings.Contains(msg, tc.want) {
			t.Errorf("%s %s = %d %v, want %d naming %q", tc.method, tc.body, code, body, tc.code, tc.want)
		}
	}
	if q.called() != before {
		t.Errorf("refused requests changed the window: %s", q.called())
	}
	q.failing = true
	if code, body := do(h, "PUT", "/api/queue/window", `{"schedule": ""}`); code != 500 || !strings.Contains(body["error"].(string), "disk I/O error") {
		t.Errorf("failed store = %d %v, want 500 naming the error", code, body)
	}
}
