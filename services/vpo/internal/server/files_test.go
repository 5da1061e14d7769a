package server_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"math"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"

	"github.com/vpo-project/vpo/libs/jobs"
	"github.com/vpo-project/vpo/libs/store"
	"github.com/vpo-project/vpo/services/vpo/internal/server"
)

// filesStore answers ListFiles with fixed rows.
type filesStore struct {
	fakeStore
	files []store.File
}

func (f *filesStore) ListFiles(context.Context, int, string) ([]store.File, string, error) {
	return f.files, "", nil
}

func filesRouter(files []store.File) (*httptest.ResponseRecorder, *test.Hook) {
	logger, hook := test.NewNullLogger()
	api := server.NewJobsAPI(server.JobsAPIOptions{
		Store: &filesStore{fakeStore: fakeStore{jobs: map[string]store.Job{}}, files: files},
		Kinds: jobs.NewRegistry(),
		Log:   logrus.NewEntry(logger),
	})
	h := server.NewRouter(server.RouterOptions{Health: fakeHealth{}, Jobs: api, Log: logrus.NewEntry(logger)})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "http://localhost/api/files", nil))
	return rec, hook
}

// TestFilesEncodingFailureIs500: an answer that cannot be encoded is never
// a 200 with an empty or cut body: it is a 500 with a JSON error, logged.
func TestFilesEncodingFailureIs500(t *testing.T) {
	for _, tc := range []struct {
		name string
		file store.File
	}{
		{"NaN duration", store.File{Path: "/m/a.mkv", DurationSeconds: math.NaN()}},
		{"broken probe JSON", store.File{Path: "/m/a.mkv", Probe: json.RawMessage(`{"streams":`)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec, hook := filesRouter([]store.File{{Path: "/m/0.mkv"}, tc.file})
			var body struct {
				Error string `json:"error"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &body); rec.Code != 500 || err != nil || body.Error == "" {
				t.Fatalf("GET /api/files = %d %q, want 500 with a JSON error", rec.Code, rec.Body.String())
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Fatalf("Content-Type %q", ct)
			}
			logged := false
			for _, e := range hook.AllEntries() {
				if e.Level == logrus.ErrorLevel && strings.Contains(e.Message, "encode response") {
					logged = true
				}
			}
			if !logged {
				t.Fatalf("encoding failure not logged: %v", hook.AllEntries())
			}
		})
	}
}

// TestFilesNonUTF8Paths: two files whose names differ only in bytes that
// are not UTF-8 get two different "path"s, and "path_b64" gives back the
// bytes.
func TestFilesNonUTF8Paths(t *testing.T) {
	raw := []string{"/m/a\xff.mkv", "/m/a\xfe.mkv", "/m/ok.mkv"}
	var files []store.File
	for _, p := range raw {
		files = append(files, store.File{Path: p})
	}
	rec, _ := filesRouter(files)
	var body struct {
		Files []struct {
			Path    string `json:"path"`
			PathB64 string `json:"path_b64"`
		} `json:"files"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); rec.Code != 200 || err != nil || len(body.Files) != 3 {
		t.Fatalf("GET /api/files = %d %s (%v)", rec.Code, rec.Body.String(), err)
	}
	paths := map[string]bool{}
	for i, f := range body.Files {
		if paths[f.Path] {
			t.Fatalf("two files share path %q: %s", f.Path, rec.Body.String())
		}
		paths[f.Path] = true
		got := f.Path
		if f.PathB64 != "" {
			b, err := base64.StdEncoding.DecodeString(f.PathB64)
			if err != nil {
				t.Fatal(err)
			}
			got = string(b)
		}
		if got != raw[i] {
			t.Fatalf("file %d comes back as %q, want %q", i, got, raw[i])
		}
	}
}
