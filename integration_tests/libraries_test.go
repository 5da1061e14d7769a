package integration_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// libraryTOML is one [[library]] table.
func libraryTOML(path, policy, hold string) string {
	s := fmt.Sprintf("\n[[library]]\npath = %q\nhold = %q\nrescan_interval = \"0\"\n", path, hold)
	if policy != "" {
		s += fmt.Sprintf("policy = %q\n", policy)
	}
	return s
}

// libStatus is one library of GET /api/libraries.
type libStatus struct {
	ID             string  `json:"id"`
	Path           string  `json:"path"`
	Policy         string  `json:"policy"`
	Watching       bool    `json:"watching"`
	WatchedDirs    int     `json:"watched_dirs"`
	FallbackReason string  `json:"fallback_reason"`
	LastScan       *string `json:"last_scan"`
	Pending        int     `json:"pending"`
}

func (d *daemon) libraries() []libStatus {
	d.t.Helper()
	var out struct {
		Libraries []libStatus `json:"libraries"`
	}
	if code := d.getBody("/api/libraries", &out); code != http.StatusOK {
		d.t.Fatalf("GET /api/libraries = %d", code)
	}
	return out.Libraries
}

// librarySt returns the status of the library at path.
func (d *daemon) librarySt(path string) (libStatus, bool) {
	for _, l := range d.libraries() {
		if l.Path == path {
			return l, true
		}
	}
	return libStatus{}, false
}

// until polls cond for up to timeout (a correctness wait, not a timing
// claim), failing with what.
func (d *daemon) until(timeout time.Duration, what string, cond func() bool) {
	d.t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			d.t.Fatalf("not within %v: %s\n%s", timeout, what, d.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// libJob is a job of GET /api/jobs with its payload's path.
type libJob struct {
	ID      string          `json:"id"`
	Kind    string          `json:"kind"`
	Status  string          `json:"status"`
	Payload json.RawMessage `json:"payload"`
	Result  json.RawMessage `json:"result"`
	path    string
}

// jobsOfKind lists every job of kind (all pages).
func (d *daemon) jobsOfKind(kind string) []libJob {
	d.t.Helper()
	var all []libJob
	cursor := ""
	for {
		var page struct {
			Jobs       []libJob `json:"jobs"`
			NextCursor string   `json:"next_cursor"`
		}
		q := "/api/jobs?limit=1000&kind=" + kind
		if cursor != "" {
			q += "&cursor=" + url.QueryEscape(cursor)
		}
		if code := d.getBody(q, &page); code != http.StatusOK {
			d.t.Fatalf("GET %s = %d", q, code)
		}
		for _, j := range page.Jobs {
			var p struct {
				Path string `json:"path"`
			}
			_ = json.Unmarshal(j.Payload, &p)
			j.path = p.Path
			all = append(all, j)
		}
		if page.NextCursor == "" {
			return all
		}
		cursor = page.NextCursor
	}
}

func (d *daemon) jobsFor(kind, path string) []libJob {
	var out []libJob
	for _, j := range d.jobsOfKind(kind) {
		if j.path == path {
			out = append(out, j)
		}
	}
	return out
}

// fileRowOf returns the recorded row of path.
func (d *daemon) fileRowOf(path string) (fileRow, bool) {
	r, ok := d.library()[path]
	return r, ok
}

// startLibraries boots a daemon with a policies directory (keep-english
// policy "eng" in it) and the given [[library]] tables.
func startLibraries(t *testing.T, libs string, env ...string) (*daemon, string) {
	t.Helper()
	dir := t.TempDir()
	pdir := filepath.Join(dir, "policies")
	writePolicy(t, pdir, "eng.yaml", keepEngPolicy)
	extra := fmt.Sprintf("\n[policies]\ndir = %q\nmin_file_age = \"0s\"\n%s", pdir, libs)
	d := start(t, startOpts{dir: dir, wait: true, extra: extra, env: env})
	return d, pdir
}

// TestLibrarySlowCopyAppliedOnce: a file copied slowly into a watched
// library (in chunks, over longer than the hold) gets no job while it is
// written and is applied exactly once after it stops changing; its own
// rewrite by the apply does not queue it again.
func TestLibrarySlowCopyAppliedOnce(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src.mkv")
	mkvFixture(t, src)
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	lib := filepath.Join(t.TempDir(), "movies")
	if err := os.MkdirAll(lib, 0o755); err != nil {
		t.Fatal(err)
	}
	hold := 1500 * time.Millisecond
	d, _ := startLibraries(t, libraryTOML(lib, "eng", hold.String()))
	d.until(10*time.Second, "the library watched", func() bool {
		l, ok := d.librarySt(lib)
		return ok && l.Watching
	})
	dst := filepath.Join(lib, "movie.mkv")
	f, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	const chunks = 8
	step := (len(data) + chunks - 1) / chunks
	for i := 0; i < len(data); i += step {
		if _, err := f.Write(data[i:min(i+step, len(data))]); err != nil {
			t.Fatal(err)
		}
		if js := d.jobsFor("apply", dst); len(js) != 0 {
			t.Fatalf("an apply was queued while the file was still being written (chunk %d)", i/step+1)
		}
		time.Sleep(hold / 5) // the copy takes longer than the hold
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	d.until(30*time.Second, "the apply of the copied file completed", func() bool {
		js := d.jobsFor("apply", dst)
		return len(js) == 1 && js[0].Status == "completed"
	})
	if n := streams(t, dst); n != 2 {
		t.Errorf("%d streams after the apply, want 2 (the French audio dropped)", n)
	}
	// The apply rewrote the file: events, a hold, and nothing to do.
	time.Sleep(3 * hold)
	if js := d.jobsFor("apply", dst); len(js) != 1 {
		t.Fatalf("%d applies of the file, want exactly 1", len(js))
	}
	if l, _ := d.librarySt(lib); l.Pending != 0 {
		t.Errorf("%d files still held", l.Pending)
	}
}

// TestLibraryBurstNoDuplicateJobs: 1,000 files written at once into a
// watched library get one apply job each, never two.
func TestLibraryBurstNoDuplicateJobs(t *testing.T) {
	lib := filepath.Join(t.TempDir(), "shows")
	if err := os.MkdirAll(lib, 0o755); err != nil {
		t.Fatal(err)
	}
	d, _ := startLibraries(t, libraryTOML(lib, "eng", "1s"))
	// Watched, and its start-up rescan done: a rescan that recorded some
	// of the burst would rightly queue again the applies that failed
	// meanwhile (these files are not videos), which is not what this test
	// counts.
	d.until(10*time.Second, "the library watched and rescanned", func() bool {
		l, ok := d.librarySt(lib)
		return ok && l.Watching && l.LastScan != nil
	})
	const n = 1000
	for i := range n {
		p := filepath.Join(lib, fmt.Sprintf("s%02d", i/100), fmt.Sprintf("e%04d.mkv", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		// Two writes each: two events per file, one job.
		if err := os.WriteFile(p, []byte("not really a video"), 0o644); err != nil {
			t.Fatal(err)
		}
		if f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0); err == nil {
			_, _ = f.WriteString(" at all")
			f.Close()
		}
	}
	d.until(60*time.Second, "an apply job for every file", func() bool { return len(d.jobsOfKind("apply")) >= n })
	time.Sleep(3 * time.Second)
	seen := map[string]int{}
	for _, j := range d.jobsOfKind("apply") {
		seen[j.path]++
	}
	if len(seen) != n {
		t.Errorf("applies of %d files, want %d", len(seen), n)
	}
	for p, c := range seen {
		if c != 1 {
			t.Errorf("%s: %d apply jobs, want 1", p, c)
		}
	}
}

// TestLibraryDirectoryCreatedLater: a directory created (and filled)
// after the start is watched: the files written with it and later into it
// are recorded.
func TestLibraryDirectoryCreatedLater(t *testing.T) {
	lib := filepath.Join(t.TempDir(), "lib")
	if err := os.MkdirAll(lib, 0o755); err != nil {
		t.Fatal(err)
	}
	d, _ := startLibraries(t, libraryTOML(lib, "", "500ms"))
	d.until(10*time.Second, "the library watched", func() bool {
		l, ok := d.librarySt(lib)
		return ok && l.Watching && l.WatchedDirs == 1
	})
	first := filepath.Join(lib, "show", "season 1", "e1.mkv")
	if err := os.MkdirAll(filepath.Dir(first), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(first, []byte("one"), 0o644); err != nil {
		t.Fatal(err)
	}
	d.until(20*time.Second, "the file written with its directories recorded", func() bool {
		_, ok := d.fileRowOf(first)
		return ok
	})
	d.until(10*time.Second, "the new directories watched", func() bool {
		l, _ := d.librarySt(lib)
		return l.WatchedDirs == 3
	})
	later := filepath.Join(lib, "show", "season 1", "e2.mkv")
	if err := os.WriteFile(later, []byte("two"), 0o644); err != nil {
		t.Fatal(err)
	}
	d.until(20*time.Second, "the file written later recorded", func() bool {
		_, ok := d.fileRowOf(later)
		return ok
	})
}

// TestLibraryDeletedFileMarkedMissing: a recorded file deleted from a
// watched library is marked missing without a rescan.
func TestLibraryDeletedFileMarkedMissing(t *testing.T) {
	lib := filepath.Join(t.TempDir(), "lib")
	p := filepath.Join(lib, "a.mkv")
	if err := os.MkdirAll(lib, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("a"), 0o644); err != nil {
		t.Fatal(err)
	}
	d, _ := startLibraries(t, libraryTOML(lib, "", "500ms"))
	// The start-up rescan records it.
	d.until(20*time.Second, "the file recorded", func() bool {
		r, ok := d.fileRowOf(p)
		return ok && !r.Missing
	})
	scans := len(d.jobsOfKind("scan"))
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	d.until(20*time.Second, "the file marked missing", func() bool {
		r, ok := d.fileRowOf(p)
		return ok && r.Missing
	})
	if n := len(d.jobsOfKind("scan")); n != scans {
		t.Errorf("%d scans after the removal, want none (%d before)", n-scans, scans)
	}
}

// TestLibrarySIGHUPAddsLibrary: a library added to the configuration
// file is watched after SIGHUP; vpo library list shows it and vpo
// library rescan queues its scan.
func TestLibrarySIGHUPAddsLibrary(t *testing.T) {
	one := filepath.Join(t.TempDir(), "one")
	two := filepath.Join(t.TempDir(), "two")
	for _, dir := range []string{one, two} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	d, pdir := startLibraries(t, libraryTOML(one, "", "500ms"))
	if libs := d.libraries(); len(libs) != 1 {
		t.Fatalf("libraries %+v, want one", libs)
	}
	d.rewriteConfig(fmt.Sprintf("\n[policies]\ndir = %q\nmin_file_age = \"0s\"\n%s%s", pdir,
		libraryTOML(one, "", "500ms"), libraryTOML(two, "", "500ms")))
	d.reloadAndWait(1)
	d.until(10*time.Second, "the added library watched", func() bool {
		l, ok := d.librarySt(two)
		return ok && l.Watching
	})
	p := filepath.Join(two, "new.mkv")
	if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	d.until(20*time.Second, "the file in the added library recorded", func() bool {
		_, ok := d.fileRowOf(p)
		return ok
	})
	env := baseEnv(d.dir)
	cfg := filepath.Join(d.dir, "config.toml")
	code, out, errOut := run(t, env, "library", "list", "--config", cfg)
	if code != 0 || !strings.Contains(out, one) || !strings.Contains(out, two) {
		t.Fatalf("vpo library list = %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = run(t, env, "library", "rescan", two, "--config", cfg)
	if code != 0 || !strings.Contains(out, "rescan of "+two) {
		t.Fatalf("vpo library rescan = %d\n%s%s", code, out, errOut)
	}
	if code, _, errOut = run(t, env, "library", "rescan", "/not/a/library", "--config", cfg); code != 2 || !strings.Contains(errOut, "/not/a/library") {
		t.Errorf("rescan of an unknown library = %d: %s", code, errOut)
	}
}

// TestLibraryWatchLimitFallsBack: when the inotify watches run out (the
// test knob VPO_TEST_WATCH_LIMIT, honoured with jobs.test_kinds), the
// library says it is not watched and why, in /api/libraries and /health,
// logs it once, and is rescanned instead (the files under it recorded).
func TestLibraryWatchLimitFallsBack(t *testing.T) {
	lib := filepath.Join(t.TempDir(), "lib")
	for _, sub := range []string{"a", "b", "c/d"} {
		if err := os.MkdirAll(filepath.Join(lib, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	p := filepath.Join(lib, "c", "d", "x.mkv")
	if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	d, _ := startLibraries(t, "\n[jobs]\ntest_kinds = true\n"+libraryTOML(lib, "", "1s"), "VPO_TEST_WATCH_LIMIT=2")
	d.until(10*time.Second, "the library not watched, with the reason", func() bool {
		l, ok := d.librarySt(lib)
		return ok && !l.Watching && strings.Contains(l.FallbackReason, "watch limit")
	})
	h := d.health()
	libs, _ := h["libraries"].([]any)
	if len(libs) != 1 || libs[0].(map[string]any)["watching"] != false {
		t.Errorf("/health libraries = %v", h["libraries"])
	}
	d.until(20*time.Second, "the files recorded by the rescan", func() bool {
		_, ok := d.fileRowOf(p)
		return ok
	})
	if n := strings.Count(d.stderr.String(), "not watching the library any more"); n != 1 {
		t.Errorf("the fallback logged %d times, want once", n)
	}
}

// TestLibraryStartupRescanAppliesExisting: a file already in a library
// with a policy when vpo starts is applied once after the start-up rescan
// (the scanner's finished-scan hook queues it), and the library shows its
// last scan.
func TestLibraryStartupRescanAppliesExisting(t *testing.T) {
	lib := filepath.Join(t.TempDir(), "movies")
	p := filepath.Join(lib, "old.mkv")
	mkvFixture(t, p) // an hour old: stable for longer than the hold
	d, _ := startLibraries(t, libraryTOML(lib, "eng", "1s"))
	d.until(30*time.Second, "the apply of the existing file completed", func() bool {
		js := d.jobsFor("apply", p)
		return len(js) == 1 && js[0].Status == "completed"
	})
	if n := streams(t, p); n != 2 {
		t.Errorf("%d streams after the apply, want 2", n)
	}
	d.until(10*time.Second, "last_scan shown", func() bool {
		l, _ := d.librarySt(lib)
		return l.LastScan != nil
	})
	time.Sleep(3 * time.Second)
	if js := d.jobsFor("apply", p); len(js) != 1 {
		t.Errorf("%d applies of the file, want 1", len(js))
	}
}
