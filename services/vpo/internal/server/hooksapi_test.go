package server_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"

	"github.com/vpo-project/vpo/services/vpo/internal/server"
)

// errOutside stands in for the library manager's "no library contains
// this path" error.
var errOutside = errors.New("outside every library")

// errNotQueued is what the fake target answers for a file it does not act on.
var errNotQueued = errors.New("not a file vpo acts on")

// enqueued is one call of the fake target.
type enqueued struct{ path, source string }

// fakeTarget enqueues files under its library roots, in memory.
type fakeTarget struct {
	roots []string
	fail  error // returned for every file under a root when set

	mu    sync.Mutex
	calls []enqueued
}

func (f *fakeTarget) EnqueueImported(_ context.Context, path, source string) (string, error) {
	for _, root := range f.roots {
		if path == root || strings.HasPrefix(path, root+"/") {
			if f.fail != nil {
				return "", f.fail
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			f.calls = append(f.calls, enqueued{path, source})
			return fmt.Sprintf("job-%d", len(f.calls)), nil
		}
	}
	return "", fmt.Errorf("enqueue %q: %w", path, errOutside)
}

func (f *fakeTarget) reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = nil
}

func (f *fakeTarget) taken() []enqueued {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

type hooksFixture struct {
	handler   http.Handler
	target    *fakeTarget
	log       *test.Hook
	submitted int
	accepting bool
}

// newHooks mounts the hooks API on the real router with a fake target
// whose libraries are /srv/media/tv and /srv/media/movies.
func newHooks(t testing.TB, token string) *hooksFixture {
	t.Helper()
	logger, hook := test.NewNullLogger()
	logger.SetLevel(logrus.DebugLevel)
	fx := &hooksFixture{target: &fakeTarget{roots: []string{"/srv/media/tv", "/srv/media/movies"}}, log: hook, accepting: true}
	api := server.NewHooksAPI(server.HooksAPIOptions{
		Target:    fx.target,
		Outside:   errOutside,
		NotQueued: errNotQueued,
		Submitted: func() { fx.submitted++ },
		Accepting: func() bool { return fx.accepting },
		Log:       logrus.NewEntry(logger),
	})
	fx.handler = server.NewRouter(server.RouterOptions{Health: fakeHealth{}, Hooks: api, AuthToken: token})
	return fx
}

// post sends body as the applications do: POST, JSON, optional
// Authorization header.
func (fx *hooksFixture) post(path, body, auth string) *httptest.ResponseRecorder {
	req := apiRequest(http.MethodPost, path, strings.NewReader(body))
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	rec := httptest.NewRecorder()
	fx.handler.ServeHTTP(rec, req)
	return rec
}

func sample(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "hooks", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func decodeMap(t *testing.T, rec *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Fatalf("answer %d is not a JSON object: %q", rec.Code, rec.Body.String())
	}
	return m
}

const (
	lighthouse = "/srv/media/tv/The Lighthouse Keepers/Season 02/"
	harbour    = "/srv/media/movies/A Quiet Harbour (2019)/"
)

// TestHookSamplePayloads posts our sample bodies (shaped after Sonarr's and
// Radarr's webhook payloads) and checks the answer and the files handed to
// the target.
func TestHookSamplePayloads(t *testing.T) {
	for _, tc := range []struct {
		app, file string
		code      int
		event     string
		upgrade   bool
		paths     []string // enqueued, in order
	}{
		{"sonarr", "sonarr-test.json", 200, "Test", false, nil},
		{"sonarr", "sonarr-grab.json", 200, "Grab", false, nil},
		{"sonarr", "sonarr-download.json", 202, "Download", false, []string{lighthouse + "The Lighthouse Keepers - S02E03 - Low Tide.mkv"}},
		{"sonarr", "sonarr-upgrade.json", 202, "Download", true, []string{lighthouse + "The Lighthouse Keepers - S02E03 - Low Tide [Bluray-2160p].mkv"}},
		{"sonarr", "sonarr-download-relative.json", 202, "Download", false, []string{"/srv/media/tv/Night Ferry/Season 01/Night Ferry - S01E01.mkv"}},
		{"sonarr", "sonarr-import-complete.json", 202, "Download", false, []string{
			"/srv/media/tv/Paper Cities/Season 01/Paper Cities - S01E01 - Blueprint.mkv",
			"/srv/media/tv/Paper Cities/Season 01/Paper Cities - S01E02 - Scaffold.mkv",
		}},
		{"sonarr", "sonarr-outside.json", 422, "", false, nil},
		{"radarr", "radarr-test.json", 200, "Test", false, nil},
		{"radarr", "radarr-moviefiledelete.json", 200, "MovieFileDelete", false, nil},
		{"radarr", "radarr-download.json", 202, "Download", false, []string{harbour + "A Quiet Harbour (2019) Bluray-1080p.mkv"}},
		{"radarr", "radarr-upgrade.json", 202, "Download", true, []string{harbour + "A Quiet Harbour (2019) Remux-2160p.mkv"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			fx := newHooks(t, "")
			rec := fx.post("/api/hooks/"+tc.app, sample(t, tc.file), "")
			if rec.Code != tc.code {
				t.Fatalf("%d %s, want %d", rec.Code, rec.Body.String(), tc.code)
			}
			m := decodeMap(t, rec)
			var got []string
			for _, c := range fx.target.taken() {
				if c.source != tc.app {
					t.Errorf("source %q, want %q", c.source, tc.app)
				}
				got = append(got, c.path)
			}
			if !slices.Equal(got, tc.paths) {
				t.Fatalf("enqueued %q, want %q", got, tc.paths)
			}
			switch tc.code {
			case 200:
				ignored := tc.event != "Test"
				if m["ok"] != true || m["event"] != tc.event || (m["ignored"] == true) != ignored {
					t.Fatalf("answer %v, want ok, event %q, ignored %v", m, tc.event, ignored)
				}
				if tc.event == "Test" && len(m) != 2 {
					t.Fatalf("Test answer %v, want exactly {\"ok\":true,\"event\":\"Test\"}", m)
				}
			case 202:
				files, _ := m["files"].([]any)
				if m["job_id"] != "job-1" || m["event"] != tc.event || m["upgrade"] != tc.upgrade || len(files) != len(tc.paths) {
					t.Fatalf("answer %v, want job_id job-1, event %q, upgrade %v, %d files", m, tc.event, tc.upgrade, len(tc.paths))
				}
				for i, f := range files {
					fm := f.(map[string]any)
					if fm["path"] != tc.paths[i] || fm["job_id"] != fmt.Sprintf("job-%d", i+1) {
						t.Fatalf("files[%d] = %v", i, fm)
					}
				}
				if fx.submitted != 1 {
					t.Fatalf("workers woken %d times, want 1", fx.submitted)
				}
			case 422:
				msg, _ := m["error"].(string)
				want := "/mnt/other/tv/Elsewhere/Season 01/Elsewhere - S01E01.mkv"
				if m["path"] != want || !strings.Contains(msg, want) || !strings.Contains(msg, "not inside any library") {
					t.Fatalf("422 answer %v does not name %q", m, want)
				}
			}
		})
	}
}

// TestHookPathsCleaned: the target gets clean paths ("//", "." and ".."
// resolved), so that a library check by prefix cannot be fooled.
func TestHookPathsCleaned(t *testing.T) {
	for _, tc := range []struct{ app, body, want string }{
		{"radarr", `{"eventType":"Download","movieFile":{"path":"/srv/media/movies//x/./a.mkv"}}`, "/srv/media/movies/x/a.mkv"},
		{"radarr", `{"eventType":"Download","movie":{"folderPath":"/srv/media/movies/x/"},"movieFile":{"relativePath":"./a/../b.mkv"}}`, "/srv/media/movies/x/b.mkv"},
		{"sonarr", `{"eventType":"Download","episodeFile":{"path":"/srv/media/tv/../movies/a.mkv"}}`, "/srv/media/movies/a.mkv"},
		{"sonarr", `{"eventType":"Download","episodeFile":{"path":"/srv/media/tv/Show/../../../etc/passwd"}}`, ""},
	} {
		fx := newHooks(t, "")
		rec := fx.post("/api/hooks/"+tc.app, tc.body, "")
		got := fx.target.taken()
		if tc.want == "" {
			if rec.Code != 422 || len(got) != 0 {
				t.Errorf("%s: %d %s, queued %v; want 422", tc.body, rec.Code, rec.Body.String(), got)
			}
			continue
		}
		if rec.Code != 202 || len(got) != 1 || got[0].path != tc.want {
			t.Errorf("%s: %d, queued %v; want %q", tc.body, rec.Code, got, tc.want)
		}
	}
}

// TestHookOutsideLogged: a file outside every library is refused with 422
// and a warning naming the path and the application; nothing is queued.
func TestHookOutsideLogged(t *testing.T) {
	fx := newHooks(t, "")
	rec := fx.post("/api/hooks/sonarr", sample(t, "sonarr-outside.json"), "")
	if rec.Code != http.StatusUnprocessableEntity {
		t.Fatalf("%d %s", rec.Code, rec.Body.String())
	}
	var warned bool
	for _, e := range fx.log.AllEntries() {
		if e.Level == logrus.WarnLevel && e.Data["hook"] == "sonarr" &&
			e.Data["path"] == "/mnt/other/tv/Elsewhere/Season 01/Elsewhere - S01E01.mkv" && strings.Contains(e.Message, "not inside any library") {
			warned = true
		}
	}
	if !warned {
		t.Fatalf("no warning naming the refused path; log: %v", fx.log.AllEntries())
	}
	if len(fx.target.taken()) != 0 || fx.submitted != 0 {
		t.Fatal("a refused file was queued")
	}

	// A path that is not absolute here (an application on Windows, or a
	// container with other mounts) is refused the same way, without asking
	// the target.
	body := `{"eventType":"Download","movie":{"folderPath":"D:\\Movies\\X (2020)"},"movieFile":{"relativePath":"X.mkv","path":"D:\\Movies\\X (2020)\\X.mkv"}}`
	rec = fx.post("/api/hooks/radarr", body, "")
	if m := decodeMap(t, rec); rec.Code != 422 || !strings.Contains(m["error"].(string), "movieFile.path") || !strings.Contains(m["error"].(string), "not an absolute path") {
		t.Fatalf("Windows path: %d %v, want 422 naming movieFile.path", rec.Code, m)
	}
}

// TestHookBadBodies: bodies vpo cannot read answer 400 naming the field,
// and queue nothing.
func TestHookBadBodies(t *testing.T) {
	for _, tc := range []struct {
		name, app, body, want string
	}{
		{"empty", "sonarr", ``, "empty body"},
		{"not JSON", "sonarr", `{"eventType":`, "invalid JSON"},
		{"two values", "radarr", `{"eventType":"Test"} {}`, "invalid JSON"},
		{"array", "sonarr", `[]`, "JSON object"},
		{"null", "radarr", `null`, "eventType missing"},
		{"no eventType", "sonarr", `{"series":{"path":"/srv/media/tv/x"}}`, "eventType missing"},
		{"empty eventType", "radarr", `{"eventType":""}`, "eventType is empty"},
		{"eventType number", "sonarr", `{"eventType":3}`, "eventType must be a string"},
		{"isUpgrade string", "radarr", `{"eventType":"Download","isUpgrade":"yes","movieFile":{"path":"/srv/media/movies/a.mkv"}}`, "isUpgrade must be true or false"},
		{"no episodeFile", "sonarr", `{"eventType":"Download","series":{"path":"/srv/media/tv/x"}}`, "episodeFile missing"},
		{"no movieFile", "radarr", `{"eventType":"Download","movie":{"folderPath":"/srv/media/movies/x"}}`, "movieFile missing"},
		{"episodeFile null", "sonarr", `{"eventType":"Download","episodeFile":null}`, "episodeFile missing"},
		{"episodeFile string", "sonarr", `{"eventType":"Download","episodeFile":"/srv/media/tv/a.mkv"}`, "episodeFile must be an object"},
		{"path number", "radarr", `{"eventType":"Download","movieFile":{"path":12}}`, "movieFile.path must be a string"},
		{"series.path number", "sonarr", `{"eventType":"Download","series":{"path":1},"episodeFile":{"relativePath":"a.mkv"}}`, "series.path must be a string"},
		{"no paths", "sonarr", `{"eventType":"Download","series":{"path":"/srv/media/tv/x"},"episodeFile":{"id":1}}`, "episodeFile.path and episodeFile.relativePath missing"},
		{"no series.path", "sonarr", `{"eventType":"Download","episodeFile":{"relativePath":"S01/a.mkv"}}`, "series.path missing"},
		{"no folderPath", "radarr", `{"eventType":"Download","movie":{"title":"x"},"movieFile":{"relativePath":"a.mkv"}}`, "movie.folderPath missing"},
		{"escaping relativePath", "radarr", `{"eventType":"Download","movie":{"folderPath":"/srv/media/movies/x"},"movieFile":{"relativePath":"../../../etc/passwd"}}`, "movieFile.relativePath"},
		{"absolute relativePath", "sonarr", `{"eventType":"Download","series":{"path":"/srv/media/tv/x"},"episodeFile":{"relativePath":"/etc/passwd"}}`, "episodeFile.relativePath"},
		{"NUL in path", "sonarr", `{"eventType":"Download","episodeFile":{"path":"/srv/media/tv/a\u0000.mkv"}}`, "episodeFile.path"},
		{"episodeFiles null item", "sonarr", `{"eventType":"Download","series":{"path":"/srv/media/tv/x"},"episodeFiles":[{"relativePath":"a.mkv"},null]}`, "episodeFiles[1] is null"},
		{"episodeFiles item without path", "sonarr", `{"eventType":"Download","series":{"path":"/srv/media/tv/x"},"episodeFiles":[{"relativePath":"a.mkv"},{"id":2}]}`, "episodeFiles[1].path"},
		{"episodeFiles not a list", "sonarr", `{"eventType":"Download","episodeFiles":{"path":"/srv/media/tv/a.mkv"}}`, "episodeFiles must be an array"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := newHooks(t, "")
			rec := fx.post("/api/hooks/"+tc.app, tc.body, "")
			m := decodeMap(t, rec)
			msg, _ := m["error"].(string)
			if rec.Code != http.StatusBadRequest || !strings.Contains(msg, tc.want) {
				t.Fatalf("%d %q, want 400 with %q", rec.Code, msg, tc.want)
			}
			if len(fx.target.taken()) != 0 {
				t.Fatal("a bad body queued a file")
			}
		})
	}
}

// TestHookTooManyFiles: an import listing more files than the limit is
// refused before anything is queued.
func TestHookTooManyFiles(t *testing.T) {
	fx := newHooks(t, "")
	var b strings.Builder
	b.WriteString(`{"eventType":"Download","series":{"path":"/srv/media/tv/x"},"episodeFiles":[`)
	for i := range 1001 {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"relativePath":"e%d.mkv"}`, i)
	}
	b.WriteString("]}")
	rec := fx.post("/api/hooks/sonarr", b.String(), "")
	if m := decodeMap(t, rec); rec.Code != 400 || !strings.Contains(m["error"].(string), "episodeFiles lists 1001 files") {
		t.Fatalf("%d %v", rec.Code, m)
	}
	if len(fx.target.taken()) != 0 {
		t.Fatal("files queued")
	}
}

// TestHookAuth: with a token the hooks need it like the rest of /api, and
// both forms the applications can send work: HTTP Basic with any user name
// (or none) and the token as the password, and a Bearer header.
func TestHookAuth(t *testing.T) {
	const token = "hooks-0123456789abcdef"
	basic := func(user, pass string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
	}
	for _, tc := range []struct {
		name, auth string
		code       int
	}{
		{"basic with a user name", basic("sonarr", token), 202},
		{"basic with any user name", basic("anything at all", token), 202},
		{"basic without a user name", basic("", token), 202},
		{"bearer", "Bearer " + token, 202},
		{"bearer lower case", "bearer " + token, 202},
		{"none", "", 401},
		{"basic wrong password", basic("sonarr", token+"x"), 401},
		{"basic token as user name", basic(token, ""), 401},
		{"bearer wrong", "Bearer nope-0123456789abcdef", 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fx := newHooks(t, token)
			for _, app := range []string{"sonarr", "radarr"} {
				rec := fx.post("/api/hooks/"+app, sample(t, app+"-download.json"), tc.auth)
				if rec.Code != tc.code {
					t.Fatalf("%s: %d %s, want %d", app, rec.Code, rec.Body.String(), tc.code)
				}
				if tc.code == 401 && rec.Header().Get("WWW-Authenticate") == "" {
					t.Fatalf("%s: 401 without a challenge", app)
				}
			}
			if want := map[int]int{202: 2, 401: 0}[tc.code]; len(fx.target.taken()) != want {
				t.Fatalf("%d files queued, want %d", len(fx.target.taken()), want)
			}
		})
	}
}

// TestHookRequestRules: the router's rules for state changes hold for the
// hooks (JSON content type, own origin), a wrong method answers 405, and a
// body over the limit 413 — none of them queues anything.
func TestHookRequestRules(t *testing.T) {
	fx := newHooks(t, "")
	body := sample(t, "sonarr-download.json")
	for _, tc := range []struct {
		name   string
		method string
		header map[string]string
		body   string
		code   int
	}{
		{"no content type", http.MethodPost, map[string]string{"Content-Type": ""}, body, 415},
		{"form post", http.MethodPost, map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, body, 415},
		{"foreign origin", http.MethodPost, map[string]string{"Origin": "http://evil.example"}, body, 403},
		{"GET", http.MethodGet, nil, "", 405},
		{"PUT", http.MethodPut, nil, body, 405},
		{"too large", http.MethodPost, nil, `{"eventType":"Test","pad":"` + strings.Repeat("x", server.MaxRequestBody) + `"}`, 413},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := apiRequest(tc.method, "/api/hooks/sonarr", strings.NewReader(tc.body))
			for k, v := range tc.header {
				if v == "" {
					req.Header.Del(k)
				} else {
					req.Header.Set(k, v)
				}
			}
			rec := httptest.NewRecorder()
			fx.handler.ServeHTTP(rec, req)
			if rec.Code != tc.code {
				t.Fatalf("%d %s, want %d", rec.Code, rec.Body.String(), tc.code)
			}
			if m := decodeMap(t, rec); m["error"] == nil {
				t.Fatalf("no JSON error: %v", m)
			}
		})
	}
	if len(fx.target.taken()) != 0 {
		t.Fatal("a refused request queued a file")
	}
	// application/json with a charset is JSON.
	req := apiRequest(http.MethodPost, "/api/hooks/sonarr", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	rec := httptest.NewRecorder()
	fx.handler.ServeHTTP(rec, req)
	if rec.Code != http.StatusAccepted {
		t.Fatalf("JSON with a charset: %d %s", rec.Code, rec.Body.String())
	}
}

// TestHookTargetFailures: a target failure that is not "outside every
// library" is a logged 500; while shutting down imports answer 503, Test
// still 200.
func TestHookTargetFailures(t *testing.T) {
	fx := newHooks(t, "")
	fx.target.fail = errors.New("database is locked")
	rec := fx.post("/api/hooks/radarr", sample(t, "radarr-download.json"), "")
	if m := decodeMap(t, rec); rec.Code != 500 || !strings.Contains(m["error"].(string), "database is locked") {
		t.Fatalf("%d %v, want 500 with the cause", rec.Code, m)
	}
	logged := false
	for _, e := range fx.log.AllEntries() {
		logged = logged || (e.Level == logrus.ErrorLevel && strings.Contains(e.Message, "database is locked"))
	}
	if !logged {
		t.Fatal("the failure was not logged")
	}

	// Inside a library but not on this machine: 422 that says so.
	fx.target.fail = fmt.Errorf("stat: %w", fs.ErrNotExist)
	rec = fx.post("/api/hooks/radarr", sample(t, "radarr-download.json"), "")
	if m := decodeMap(t, rec); rec.Code != 422 || !strings.Contains(m["error"].(string), "does not exist on the machine vpo runs on") {
		t.Fatalf("missing file: %d %v, want 422 naming it", rec.Code, m)
	}

	// Inside a library but not a file vpo acts on (a directory, not a
	// video, a kept original): 422 with the target's reason.
	fx.target.fail = fmt.Errorf("imported file is a directory: %w", errNotQueued)
	rec = fx.post("/api/hooks/radarr", sample(t, "radarr-download.json"), "")
	if m := decodeMap(t, rec); rec.Code != 422 || !strings.Contains(m["error"].(string), "is a directory") {
		t.Fatalf("not queued: %d %v, want 422 with the reason", rec.Code, m)
	}

	fx.target.fail = context.Canceled
	if rec := fx.post("/api/hooks/radarr", sample(t, "radarr-download.json"), ""); rec.Code != 503 {
		t.Fatalf("cancelled: %d %s, want 503", rec.Code, rec.Body.String())
	}

	fx = newHooks(t, "")
	fx.accepting = false
	if rec := fx.post("/api/hooks/sonarr", sample(t, "sonarr-download.json"), ""); rec.Code != 503 {
		t.Fatalf("shutting down: %d %s, want 503", rec.Code, rec.Body.String())
	}
	if rec := fx.post("/api/hooks/sonarr", sample(t, "sonarr-test.json"), ""); rec.Code != 200 {
		t.Fatalf("Test while shutting down: %d %s, want 200", rec.Code, rec.Body.String())
	}
	if len(fx.target.taken()) != 0 {
		t.Fatal("queued while shutting down")
	}
}

// TestHookPartlyOutside: when a later file of a list is outside every
// library, the 422 names it and lists the files already queued.
func TestHookPartlyOutside(t *testing.T) {
	fx := newHooks(t, "")
	body := `{"eventType":"Download","series":{"path":"/srv/media/tv/x"},"episodeFiles":[` +
		`{"relativePath":"a.mkv"},{"path":"/elsewhere/b.mkv"},{"relativePath":"c.mkv"}]}`
	rec := fx.post("/api/hooks/sonarr", body, "")
	m := decodeMap(t, rec)
	queued, _ := m["queued"].([]any)
	if rec.Code != 422 || m["path"] != "/elsewhere/b.mkv" || len(queued) != 1 || !strings.Contains(m["error"].(string), "episodeFiles[1].path") {
		t.Fatalf("%d %v", rec.Code, m)
	}
	if got := fx.target.taken(); len(got) != 1 || got[0].path != "/srv/media/tv/x/a.mkv" || fx.submitted != 1 {
		t.Fatalf("queued %v (workers woken %d times)", got, fx.submitted)
	}
}

// TestHooksNotMounted: without RouterOptions.Hooks the paths are unknown.
func TestHooksNotMounted(t *testing.T) {
	h := server.NewRouter(server.RouterOptions{Health: fakeHealth{}})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, apiRequest(http.MethodPost, "/api/hooks/sonarr", strings.NewReader(`{"eventType":"Test"}`)))
	if rec.Code != http.StatusNotFound {
		t.Fatalf("%d", rec.Code)
	}
}
