package server_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestJobLogEndpoint: GET /api/jobs/{id}/log pages through a job's lines
// with after and limit; an unknown job is 404, bad parameters 400.
func TestJobLogEndpoint(t *testing.T) {
	h, _, _ := newTestRouter(t, true)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, apiRequest("POST", "/api/jobs", strings.NewReader(`{"kind":"scan","payload":{"path":"/x"}}`)))
	var job struct{ ID string }
	if err := json.Unmarshal(rec.Body.Bytes(), &job); err != nil || job.ID == "" {
		t.Fatalf("submit: %d %s", rec.Code, rec.Body)
	}
	get := func(q string) (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, apiRequest("GET", "/api/jobs/"+job.ID+"/log"+q, nil))
		return rec.Code, rec.Body.String()
	}
	code, body := get("?after=1&limit=1")
	var page struct {
		JobID string `json:"job_id"`
		Lines []struct {
			Seq   int64
			Level string
			Line  string
		}
		Next int64
	}
	if err := json.Unmarshal([]byte(body), &page); err != nil || code != http.StatusOK {
		t.Fatalf("log page: %d %s", code, body)
	}
	if page.JobID != job.ID || len(page.Lines) != 1 || page.Lines[0].Line != "line 2" || page.Next != 2 {
		t.Fatalf("page after 1, limit 1 = %s", body)
	}
	if code, body := get("?after=3"); code != http.StatusOK || !strings.Contains(body, `"lines":[]`) || !strings.Contains(body, `"next":3`) {
		t.Errorf("past the end: %d %s, want no lines and next 3", code, body)
	}
	for _, q := range []string{"?after=-1", "?after=x", "?limit=0"} {
		if code, body := get(q); code != http.StatusBadRequest {
			t.Errorf("GET log%s = %d %s, want 400", q, code, body)
		}
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, apiRequest("GET", "/api/jobs/01a236c6-977d-7bae-8e74-40bb8cc481c8/log", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("log of an unknown job: %d %s, want 404", rec.Code, rec.Body)
	}
}
