package integration_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Webhook bodies of our own, shaped after what Sonarr and Radarr send
// (Settings → Connect → Webhook): the fields vpo reads plus some of the
// others, which it must skip.

func sonarrTestBody() string {
	return mustJSON(map[string]any{
		"eventType": "Test", "instanceName": "Sonarr", "applicationUrl": "",
		"series":   map[string]any{"id": 1, "title": "Sample Series", "path": `C:\tv\Sample Series`, "tvdbId": 1111},
		"episodes": []any{map[string]any{"id": 11, "episodeNumber": 1, "seasonNumber": 1, "title": "Sample"}},
	})
}

func radarrTestBody() string {
	return mustJSON(map[string]any{
		"eventType": "Test", "instanceName": "Radarr",
		"movie":       map[string]any{"id": 1, "title": "Sample Title", "year": 1970, "folderPath": `C:\movies\Sample Title (1970)`},
		"remoteMovie": map[string]any{"tmdbId": 1234, "imdbId": "5678", "title": "Sample Title", "year": 1970},
	})
}

// sonarrImport is an "On File Import"/"On File Upgrade" body for one
// episode file under seriesPath.
func sonarrImport(seriesPath, rel string, upgrade bool) string {
	return mustJSON(map[string]any{
		"eventType": "Download", "instanceName": "Sonarr", "isUpgrade": upgrade,
		"series":   map[string]any{"id": 7, "title": "Show", "path": seriesPath, "tvdbId": 402117, "type": "standard"},
		"episodes": []any{map[string]any{"id": 301, "episodeNumber": 1, "seasonNumber": 1, "title": "Pilot"}},
		"episodeFile": map[string]any{
			"id": 5512, "relativePath": rel, "path": filepath.Join(seriesPath, rel),
			"quality": "WEBDL-1080p", "qualityVersion": 1, "size": 1534120044, "languages": "English",
			"mediaInfo": map[string]any{"audioChannels": 5.1, "audioLanguages": []string{"eng"}, "height": 1080},
		},
		"downloadClient": "SampleClient", "downloadId": "0A1B2C3D4E5F",
	})
}

// radarrImport is a Radarr import body naming the file only by
// movie.folderPath and movieFile.relativePath.
func radarrImport(folder, rel string, upgrade bool) string {
	return mustJSON(map[string]any{
		"eventType": "Download", "instanceName": "Radarr", "isUpgrade": upgrade,
		"movie":       map[string]any{"id": 42, "title": "Movie", "year": 2019, "folderPath": folder, "tmdbId": 700042},
		"remoteMovie": map[string]any{"tmdbId": 700042, "title": "Movie", "year": 2019},
		"movieFile": map[string]any{
			"id": 3141, "relativePath": rel, "quality": "Bluray-1080p", "size": 8800990011,
			"languages": []any{map[string]any{"id": 1, "name": "English"}},
		},
	})
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// basicAuth is what Sonarr and Radarr send with Username and Password set.
func basicAuth(user, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}

// hookPost posts body to /api/hooks/APP as those applications do.
func hookPost(t *testing.T, d *daemon, app, body, auth string) (int, map[string]any) {
	t.Helper()
	headers := map[string]string{"Content-Type": "application/json"}
	if auth != "" {
		headers["Authorization"] = auth
	}
	code, _, b := request(t, d, http.MethodPost, "/api/hooks/"+app, body, headers)
	var m map[string]any
	if err := json.Unmarshal([]byte(b), &m); err != nil {
		t.Fatalf("POST /api/hooks/%s = %d, not a JSON object: %q", app, code, b)
	}
	return code, m
}

// startWithToken boots a daemon with the auth token set in its file and
// extra TOML.
func startWithToken(t *testing.T, extra string) *daemon {
	t.Helper()
	dir := t.TempDir()
	port := freePort(t)
	cfg := filepath.Join(dir, "config.toml")
	body := fmt.Sprintf("[server]\nport = %d\nauth_token = %q\n\n[database]\npath = %q\n%s",
		port, testToken, filepath.Join(dir, "library.db"), extra)
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return start(t, startOpts{dir: dir, port: port, args: []string{"--config", cfg}, wait: true})
}

// TestHooksAuthTestAndRefusals: the hooks take the token as Sonarr and
// Radarr send it (HTTP Basic, any user name, the token as the password) or
// as Bearer; their "Test" events answer 200 so their UI shows green; other
// events are ignored; a body vpo cannot read is 400 naming the field; and
// an import of a file outside every library is refused with 422 and
// logged.
func TestHooksAuthTestAndRefusals(t *testing.T) {
	d := startWithToken(t, "")
	for _, app := range []string{"sonarr", "radarr"} {
		test := sonarrTestBody()
		if app == "radarr" {
			test = radarrTestBody()
		}
		for _, auth := range []string{basicAuth("sonarr", testToken), basicAuth("", testToken), "Bearer " + testToken} {
			code, m := hookPost(t, d, app, test, auth)
			if code != http.StatusOK || m["ok"] != true || m["event"] != "Test" || len(m) != 2 {
				t.Fatalf("%s Test with %q = %d %v, want 200 {\"ok\":true,\"event\":\"Test\"}", app, auth[:6], code, m)
			}
		}
		for _, auth := range []string{"", basicAuth("sonarr", "wrong-0123456789abcdef"), basicAuth(testToken, "")} {
			if code, m := hookPost(t, d, app, test, auth); code != http.StatusUnauthorized {
				t.Fatalf("%s Test with Authorization %q = %d %v, want 401", app, auth, code, m)
			}
		}
	}
	auth := basicAuth("sonarr", testToken)
	grab := `{"eventType":"Grab","series":{"path":"/srv/tv/Show"},"release":{"releaseTitle":"Show.S01E02"}}`
	if code, m := hookPost(t, d, "sonarr", grab, auth); code != http.StatusOK || m["ignored"] != true {
		t.Fatalf("Grab = %d %v, want 200 ignored", code, m)
	}
	if code, m := hookPost(t, d, "radarr", `{"eventType":"Download","movie":{"folderPath":"/srv/movies/M"}}`, auth); code != http.StatusBadRequest || !strings.Contains(fmt.Sprint(m["error"]), "movieFile") {
		t.Fatalf("import without movieFile = %d %v, want 400 naming movieFile", code, m)
	}

	outside := filepath.Join(t.TempDir(), "elsewhere", "Show")
	code, m := hookPost(t, d, "sonarr", sonarrImport(outside, "Season 01/Show - S01E01.mkv", false), auth)
	file := filepath.Join(outside, "Season 01", "Show - S01E01.mkv")
	if code != http.StatusUnprocessableEntity || m["path"] != file || !strings.Contains(fmt.Sprint(m["error"]), file) {
		t.Fatalf("import outside every library = %d %v, want 422 naming %s", code, m, file)
	}
	d.waitLog(5*time.Second, "imported file refused", "hook=sonarr")
	if !strings.Contains(d.stderr.String(), "Show - S01E01.mkv") {
		t.Fatalf("the refusal does not name the file:\n%s", d.stderr.String())
	}
	if code, _, b := d.call(http.MethodGet, "/api/jobs", "", testToken); code != 200 || !strings.Contains(string(b), `"jobs":[]`) {
		t.Fatalf("jobs after refused hooks: %d %s, want none", code, b)
	}
}

// hookJob is a job as GET /api/jobs/{id} shows it, with its payload.
type hookJob struct {
	ID      string `json:"id"`
	Kind    string `json:"kind"`
	Payload struct {
		Path   string `json:"path"`
		Policy string `json:"policy"`
	} `json:"payload"`
}

// TestHooksEnqueueImportedFiles: imports and upgrades reported by Sonarr
// and Radarr enqueue the file for the library that contains it — a scan
// for a library without a policy, an apply of the library's policy for
// one with — and answer 202 with the job.
//
// It needs [[library]] in the configuration and the library manager behind
// the hooks (issue 12, parts B and D): before those are merged the daemon
// refuses the configuration or the hooks answer 422.
func TestHooksEnqueueImportedFiles(t *testing.T) {
	root := t.TempDir()
	tv, movies, pdir := filepath.Join(root, "tv"), filepath.Join(root, "movies"), filepath.Join(root, "policies")
	writePolicy(t, pdir, "keep.yaml", keepEngPolicy)
	episode := filepath.Join(tv, "Show", "Season 01", "Show - S01E01.mkv")
	episode2 := filepath.Join(tv, "Show", "Season 01", "Show - S01E02.mkv")
	movie := filepath.Join(movies, "Movie (2019)", "Movie (2019) Bluray-1080p.mkv")
	for _, f := range []string{episode, episode2, movie} {
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		// Placeholders: the test looks at the queued jobs, not at what
		// they do with the files.
		if err := os.WriteFile(f, []byte("not really matroska"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	d := startWithToken(t, fmt.Sprintf(`
[policies]
dir = %q

[[library]]
path = %q
watch = false
hold = "0s"
rescan_interval = "0"

[[library]]
path = %q
policy = "keep"
watch = false
hold = "0s"
rescan_interval = "0"
`, pdir, tv, movies))
	auth := basicAuth("sonarr", testToken)

	jobOf := func(id string) hookJob {
		t.Helper()
		code, _, b := d.call(http.MethodGet, "/api/jobs/"+id, "", testToken)
		var j hookJob
		if err := json.Unmarshal(b, &j); err != nil || code != 200 {
			t.Fatalf("GET /api/jobs/%s = %d %s", id, code, b)
		}
		return j
	}
	expect := func(app, body, file, kind, policy string) string {
		t.Helper()
		code, m := hookPost(t, d, app, body, auth)
		id, _ := m["job_id"].(string)
		if code != http.StatusAccepted || id == "" {
			t.Fatalf("%s import of %s = %d %v, want 202 with a job_id", app, file, code, m)
		}
		// A library without a policy records the file by a scan of its
		// directory (one scan for a burst of files in one directory).
		want := file
		if kind == "scan" {
			want = filepath.Dir(file)
		}
		if j := jobOf(id); j.Kind != kind || j.Payload.Path != want || j.Payload.Policy != policy {
			t.Fatalf("%s import of %s queued %+v, want a %s job of %s with policy %q", app, file, j, kind, want, policy)
		}
		return id
	}

	// Sonarr, a library without a policy: a scan of the file's directory.
	expect("sonarr", sonarrImport(filepath.Join(tv, "Show"), "Season 01/Show - S01E01.mkv", false), episode, "scan", "")
	// Radarr, an upgrade named by folderPath + relativePath, in a library
	// with a policy: an apply of that policy.
	expect("radarr", radarrImport(filepath.Join(movies, "Movie (2019)"), "Movie (2019) Bluray-1080p.mkv", true), movie, "apply", "keep")

	// Sonarr's "On Import Complete" lists the files of a season pack.
	pack := mustJSON(map[string]any{
		"eventType": "Download",
		"series":    map[string]any{"id": 7, "title": "Show", "path": filepath.Join(tv, "Show")},
		"episodeFiles": []any{
			map[string]any{"id": 1, "relativePath": "Season 01/Show - S01E01.mkv"},
			map[string]any{"id": 2, "relativePath": "Season 01/Show - S01E02.mkv", "path": episode2},
		},
		"fileCount": 2,
	})
	code, m := hookPost(t, d, "sonarr", pack, "Bearer "+testToken)
	files, _ := m["files"].([]any)
	if code != http.StatusAccepted || len(files) != 2 {
		t.Fatalf("season pack = %d %v, want 202 with two files", code, m)
	}
	for i, want := range []string{episode, episode2} {
		f, _ := files[i].(map[string]any)
		id, _ := f["job_id"].(string)
		if j := jobOf(id); f["path"] != want || j.Payload.Path != filepath.Dir(want) {
			t.Fatalf("season pack file %d: %v queued %+v, want %s", i, f, j, want)
		}
	}

	// A file beside the libraries is still refused.
	code, m = hookPost(t, d, "radarr", radarrImport(filepath.Join(root, "other"), "x.mkv", false), auth)
	if code != http.StatusUnprocessableEntity || m["path"] != filepath.Join(root, "other", "x.mkv") {
		t.Fatalf("import beside the libraries = %d %v, want 422", code, m)
	}
}
