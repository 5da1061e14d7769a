package server_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vpo-project/vpo/libs/jobs"
	"github.com/vpo-project/vpo/libs/store"
	"github.com/vpo-project/vpo/services/vpo/internal/server"
)

// TestObserveByRoutePattern: every request is observed under its route's
// pattern, never its raw path: /health (served past the router), a job's
// path as /api/jobs/{id}, unknown paths and wrong methods as unmatched.
func TestObserveByRoutePattern(t *testing.T) {
	var mu sync.Mutex
	var got []string
	h := server.NewRouter(server.RouterOptions{
		Health: fakeHealth{},
		Jobs: server.NewJobsAPI(server.JobsAPIOptions{
			Store: &fakeStore{jobs: map[string]store.Job{}}, Kinds: jobs.NewRegistry(),
		}),
		Observe: func(route, method string, code int, _ time.Duration) {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, fmt.Sprintf("%s %s %d", route, method, code))
		},
	})
	for _, req := range []*http.Request{
		apiRequest("GET", "/health", nil),
		apiRequest("HEAD", "/health", nil),
		apiRequest("GET", "/api/jobs/01a236c6-977d-7bae-8e74-40bb8cc481c8", nil),
		apiRequest("GET", "/no/such/path", nil),
		apiRequest("DELETE", "/health", nil),
	} {
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	want := []string{"/health GET 200", "/health HEAD 200", "/api/jobs/{id} GET 404", "unmatched GET 404", "unmatched DELETE 405"}
	if !slices.Equal(got, want) {
		t.Errorf("observed %q\nwant     %q", got, want)
	}

	// Refused before routing: counted too.
	got = nil
	h = server.NewRouter(server.RouterOptions{
		Health: fakeHealth{}, AuthToken: "0123456789abcdef-token",
		Jobs: server.NewJobsAPI(server.JobsAPIOptions{
			Store: &fakeStore{jobs: map[string]store.Job{}}, Kinds: jobs.NewRegistry(),
		}),
		Observe: func(route, method string, code int, _ time.Duration) {
			got = append(got, fmt.Sprintf("%s %s %d", route, method, code))
		},
	})
	h.ServeHTTP(httptest.NewRecorder(), apiRequest("GET", "/api/jobs", nil))
	if want := []string{"unmatched GET 401"}; !slices.Equal(got, want) {
		t.Errorf("without the token: observed %q, want %q", got, want)
	}
}
