package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/vpo-project/vpo/services/vpo/internal/library"
	"github.com/vpo-project/vpo/services/vpo/internal/server"
)

type fakeLibraries struct {
	rescans []string
}

func (f *fakeLibraries) Status() []library.Status {
	return []library.Status{{ID: "abc123def456", Path: "/srv/movies", Policy: "normalize", Watch: true, Watching: true, WatchedDirs: 3}}
}

func (f *fakeLibraries) Rescan(_ context.Context, id string) (string, error) {
	if id != "abc123def456" {
		return "", fmt.Errorf("library %q: %w", id, library.ErrUnknownLibrary)
	}
	f.rescans = append(f.rescans, id)
	return "0b6e4f7e-0000-4000-8000-000000000001", nil
}

func librariesRouter(libs server.Libraries, accepting bool) func(method, target, body string) *httptest.ResponseRecorder {
	api := server.NewLibrariesAPI(server.LibrariesAPIOptions{Libraries: libs, Accepting: func() bool { return accepting }})
	h := server.NewRouter(server.RouterOptions{Health: fakeHealth{}, Libraries: api})
	return func(method, target, body string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(method, "http://localhost"+target, strings.NewReader(body))
		if method == "POST" {
			req.Header.Set("Content-Type", "application/json")
		}
		h.ServeHTTP(rec, req)
		return rec
	}
}

func TestLibrariesList(t *testing.T) {
	do := librariesRouter(&fakeLibraries{}, true)
	rec := do("GET", "/api/libraries", "")
	var out struct {
		Libraries []map[string]any `json:"libraries"`
	}
	if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &out) != nil || len(out.Libraries) != 1 {
		t.Fatalf("GET /api/libraries: %d %s", rec.Code, rec.Body)
	}
	l := out.Libraries[0]
	for _, k := range []string{"id", "path", "policy", "watching", "watched_dirs", "last_scan", "next_rescan", "pending"} {
		if _, ok := l[k]; !ok {
			t.Errorf("library without %q: %s", k, rec.Body)
		}
	}
}

func TestLibrariesRescan(t *testing.T) {
	libs := &fakeLibraries{}
	do := librariesRouter(libs, true)
	rec := do("POST", "/api/libraries/abc123def456/rescan", "")
	if rec.Code != 202 || !strings.Contains(rec.Body.String(), `"job_id":"0b6e4f7e-0000-4000-8000-000000000001"`) {
		t.Fatalf("rescan: %d %s", rec.Code, rec.Body)
	}
	if len(libs.rescans) != 1 {
		t.Errorf("rescans %v", libs.rescans)
	}
	if rec := do("POST", "/api/libraries/nope/rescan", ""); rec.Code != 404 || !strings.Contains(rec.Body.String(), `nope`) {
		t.Errorf("unknown library: %d %s", rec.Code, rec.Body)
	}
	if rec := do("POST", "/api/libraries/abc123def456/rescan", `{"x":1}`); rec.Code != 400 {
		t.Errorf("with a body: %d %s", rec.Code, rec.Body)
	}
	if rec := do("GET", "/api/libraries/abc123def456/rescan", ""); rec.Code != 405 {
		t.Errorf("GET rescan: %d", rec.Code)
	}
	if rec := librariesRouter(libs, false)("POST", "/api/libraries/abc123def456/rescan", ""); rec.Code != 503 {
		t.Errorf("shutting down: %d", rec.Code)
	}
}
