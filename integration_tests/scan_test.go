package integration_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// rawPath is the exact path of a row.
func (r fileRow) rawPath(t *testing.T) string {
	t.Helper()
	if r.PathB64 == "" {
		return r.Path
	}
	b, err := base64.StdEncoding.DecodeString(r.PathB64)
	if err != nil {
		t.Fatalf("path_b64 of %q: %v", r.Path, err)
	}
	return string(b)
}

// library returns every row of GET /api/files, by exact path.
func (d *daemon) library() map[string]fileRow {
	d.t.Helper()
	rows := map[string]fileRow{}
	for _, r := range d.files() {
		rows[r.rawPath(d.t)] = r
	}
	return rows
}

// scanResult is the part of a scan job's result these tests read.
type scanResult struct {
	Seen        int      `json:"files_seen"`
	Missing     int      `json:"missing"`
	Probed      int      `json:"probed"`
	ProbeErrors int      `json:"probe_errors"`
	Unreadable  []string `json:"unreadable_paths"`
	Kept        int      `json:"kept_unreadable"`
}

// scanNow runs a scan of root to completion and returns its result.
func (d *daemon) scanNow(root string, recursive bool) scanResult {
	d.t.Helper()
	j := d.submit("scan", fmt.Sprintf(`{"path": %q, "recursive": %v}`, root, recursive))
	done := d.waitJob(j.ID, "completed", 30*time.Second)
	var res scanResult
	if err := json.Unmarshal(done.Result, &res); err != nil {
		d.t.Fatalf("scan result %s: %v", done.Result, err)
	}
	return res
}

func touch(t *testing.T, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(p), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestScanUnreadableDirectoryKeepsItsFiles runs vpo as an ordinary user
// (file modes do not stop root): a subdirectory it may not read keeps its
// files as recorded, not missing, and the result names the directory; a
// file removed from a readable directory is still marked missing.
func TestScanUnreadableDirectoryKeepsItsFiles(t *testing.T) {
	base, bin, cred := unprivileged(t)
	dbDir := ownedDir(t, cred, filepath.Join(base, "db"))
	root := filepath.Join(base, "media")
	locked := filepath.Join(root, "locked")
	touch(t, filepath.Join(root, "open/a.mkv"), filepath.Join(root, "open/gone.mkv"),
		filepath.Join(locked, "b.mkv"), filepath.Join(locked, "deeper/c.mkv"))
	port := freePort(t)
	d := startAs(t, bin, cred, base, port, plainConfig(t, filepath.Join(base, "cfg"), port, filepath.Join(dbDir, "library.db")))
	d.waitHealthy()
	if res := d.scanNow(root, true); res.Seen != 4 {
		t.Fatalf("first scan %+v, want 4 files seen", res)
	}
	if err := os.Remove(filepath.Join(root, "open/gone.mkv")); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(locked, 0); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(locked, 0o755)

	res := d.scanNow(root, true)
	if res.Missing != 1 || res.Kept != 2 || len(res.Unreadable) != 1 || res.Unreadable[0] != locked {
		t.Fatalf("scan with %s unreadable: %+v; want 1 missing, 2 kept, the directory named", locked, res)
	}
	rows := d.library()
	for p, wantMissing := range map[string]bool{
		filepath.Join(root, "open/a.mkv"): false, filepath.Join(root, "open/gone.mkv"): true,
		filepath.Join(locked, "b.mkv"): false, filepath.Join(locked, "deeper/c.mkv"): false,
	} {
		if r, ok := rows[p]; !ok || r.Missing != wantMissing {
			t.Errorf("%s: row %+v (recorded %v), want missing=%v", p, r, ok, wantMissing)
		}
	}
}

// TestScanNonRecursiveMarksVanishedFiles: a non-recursive scan marks the
// vanished files of its root missing, and no file of a subdirectory.
func TestScanNonRecursiveMarksVanishedFiles(t *testing.T) {
	d := start(t, startOpts{wait: true})
	root := filepath.Join(d.dir, "media")
	touch(t, filepath.Join(root, "top.mkv"), filepath.Join(root, "gone.mkv"), filepath.Join(root, "sub/inner.mkv"))
	d.scanNow(root, true)
	for _, rel := range []string{"gone.mkv", "sub/inner.mkv"} {
		if err := os.Remove(filepath.Join(root, rel)); err != nil {
			t.Fatal(err)
		}
	}
	if res := d.scanNow(root, false); res.Missing != 1 {
		t.Fatalf("non-recursive rescan %+v, want 1 missing", res)
	}
	rows := d.library()
	for rel, want := range map[string]bool{"top.mkv": false, "gone.mkv": true, "sub/inner.mkv": false} {
		if r := rows[filepath.Join(root, rel)]; r.Missing != want {
			t.Errorf("%s: missing=%v, want %v", rel, r.Missing, want)
		}
	}
}

// TestScanProbesOnceFFProbeArrives: files recorded while ffprobe is absent
// are probed by a later scan once it is installed, without a restart; the
// files API says whether, when and with what error each was probed; an
// insane answer (NaN duration) is that file's probe error, not a failed
// scan.
func TestScanProbesOnceFFProbeArrives(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(dir, "media")
	good, bad := filepath.Join(root, "good.mkv"), filepath.Join(root, "bad.mkv")
	touch(t, good, bad)
	// PATH holds only bin: an ffprobe installed on the machine must not
	// answer before the test installs its own.
	d := start(t, startOpts{dir: dir, env: []string{"PATH=" + bin}, wait: true})
	if res := d.scanNow(root, true); res.Seen != 2 || res.Probed != 0 {
		t.Fatalf("scan without ffprobe: %+v", res)
	}
	for p, r := range d.library() {
		if r.Probed || r.ProbedAt != nil || r.ProbeError != "" {
			t.Fatalf("%s before ffprobe exists: %+v", p, r)
		}
	}
	script := `#!/bin/sh
for last; do :; done
case "$last" in
*bad.mkv) echo '{"streams":[],"format":{"duration":"nan"}}' ;;
*) echo '{"streams":[{"codec_type":"video","codec_name":"h264"}],"format":{"duration":"42.5"}}' ;;
esac
`
	if err := os.WriteFile(filepath.Join(bin, "ffprobe"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	if res := d.scanNow(root, true); res.Probed != 1 || res.ProbeErrors != 1 {
		t.Fatalf("scan once ffprobe exists: %+v, want 1 probed and 1 probe error", res)
	}
	rows := d.library()
	if r := rows[good]; !r.Probed || r.ProbedAt == nil || r.Codec != "h264" || r.ProbeError != "" {
		t.Fatalf("good.mkv: %+v", r)
	}
	if r := rows[bad]; r.Probed || r.ProbedAt == nil || !strings.Contains(r.ProbeError, "nan") {
		t.Fatalf("bad.mkv: %+v, want its probe error", r)
	}
}

// TestFilesAPINonUTF8Names: two files whose names differ only in bytes
// that are not UTF-8 come back as two different paths, and their exact
// bytes are recoverable.
func TestFilesAPINonUTF8Names(t *testing.T) {
	d := start(t, startOpts{wait: true})
	root := filepath.Join(d.dir, "media")
	want := []string{filepath.Join(root, "a\xfe.mkv"), filepath.Join(root, "a\xff.mkv"), filepath.Join(root, "plain.mkv")}
	touch(t, want...)
	d.scanNow(root, true)
	resp, err := client.Get(d.url("/api/files"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Files []fileRow `json:"files"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	shown := map[string]bool{}
	var got []string
	for _, r := range out.Files {
		if shown[r.Path] {
			t.Fatalf("two files share the path %q", r.Path)
		}
		shown[r.Path] = true
		got = append(got, r.rawPath(t))
	}
	sort.Strings(got)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("files API gives back %q, want %q", got, want)
	}
}

// TestCancelledScanKillsFFProbeChildren: cancelling a scan while ffprobe
// hangs kills ffprobe's whole process group — a child it started dies too —
// and the job is cancelled at once, not when the child lets go of the pipe.
func TestCancelledScanKillsFFProbeChildren(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	pidFile := filepath.Join(dir, "child.pid")
	script := "#!/bin/sh\nsleep 120 &\necho $! > " + pidFile + "\nsleep 120\n"
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "ffprobe"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(dir, "media")
	touch(t, filepath.Join(root, "a.mkv"))
	d := start(t, startOpts{dir: dir, env: []string{"PATH=" + bin + ":" + os.Getenv("PATH")}, wait: true})
	j := d.submit("scan", fmt.Sprintf(`{"path": %q}`, root))
	pid := 0
	deadline := time.Now().Add(20 * time.Second)
	for pid == 0 {
		if b, err := os.ReadFile(pidFile); err == nil {
			pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		}
		if time.Now().After(deadline) {
			t.Fatalf("the fake ffprobe never ran:\n%s", d.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	resp, err := client.Post(d.url("/api/jobs/"+j.ID+"/cancel"), "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	d.waitJob(j.ID, "cancelled", 10*time.Second)
	deadline = time.Now().Add(10 * time.Second)
	for running(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("ffprobe's child %d survived the cancelled scan", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// running tells whether pid is a live process (a zombie is not).
func running(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(stat)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(fields) > 0 && fields[0] != "Z"
}

// fakeFFProbeBin writes an ffprobe shell script with body into DIR/bin and
// returns the PATH that finds it first.
func fakeFFProbeBin(t *testing.T, dir, body string) string {
	t.Helper()
	bin := filepath.Join(dir, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "ffprobe"), []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return "PATH=" + bin + ":" + os.Getenv("PATH")
}

// waitGone fails the test unless pid ends within 10 s.
func waitGone(t *testing.T, pid int, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for running(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("%s (pid %d) is still running", what, pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// readPid waits for a pid file written by a fake ffprobe.
func readPid(t *testing.T, d *daemon, path string) int {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if b, err := os.ReadFile(path); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 0 {
				t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
				return pid
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the fake ffprobe never wrote %s:\n%s", path, d.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestFilesAPIServesBoundedProbes: files whose ffprobe output carries
// megabytes of tags are stored with a reduced probe — ffprobe's shape, the
// fields a policy needs, long strings cut — so a page of them is small.
func TestFilesAPIServesBoundedProbes(t *testing.T) {
	dir := t.TempDir()
	path := fakeFFProbeBin(t, dir, `big=$(head -c 1900000 /dev/zero | tr '\0' t)
printf '{"streams":[{"index":0,"codec_type":"video","codec_name":"h264","width":1920,"height":1080,"extradata":"%s","tags":{"language":"eng"}}],"format":{"format_name":"matroska,webm","duration":"10.0","tags":{"title":"%s"}}}' "$big" "$big"
`)
	root := filepath.Join(dir, "media")
	const n = 5
	for i := 0; i < n; i++ {
		touch(t, filepath.Join(root, fmt.Sprintf("%d.mkv", i)))
	}
	d := start(t, startOpts{dir: dir, env: []string{path}, wait: true})
	if res := d.scanNow(root, true); res.Probed != n || res.ProbeErrors != 0 {
		t.Fatalf("scan: %+v, want %d probed", res, n)
	}
	resp, err := client.Get(d.url("/api/files?limit=1000"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	// Each probe is at most 64 KiB now; before, each was 3.8 MB.
	if len(body) > n*(64<<10)+(16<<10) {
		t.Fatalf("GET /api/files of %d files is %d bytes", n, len(body))
	}
	var out struct {
		Files []struct {
			Path  string `json:"path"`
			Probe struct {
				Format struct {
					FormatName string            `json:"format_name"`
					Tags       map[string]string `json:"tags"`
				} `json:"format"`
				Streams []map[string]any `json:"streams"`
			} `json:"probe"`
		} `json:"files"`
	}
	if err := json.Unmarshal(body, &out); err != nil || len(out.Files) != n {
		t.Fatalf("GET /api/files: %d files, %v", len(out.Files), err)
	}
	for _, f := range out.Files {
		p := f.Probe
		if p.Format.FormatName != "matroska,webm" || len(p.Format.Tags["title"]) > 1024 ||
			!strings.HasSuffix(p.Format.Tags["title"], "[truncated]") || len(p.Streams) != 1 ||
			p.Streams[0]["codec_name"] != "h264" || p.Streams[0]["extradata"] != nil {
			t.Fatalf("%s: probe %+v", f.Path, p)
		}
	}
}

// TestScanFFProbeOddOutput: more than 4 KiB on ffprobe's standard error
// does not fail a probe that worked; "null" (or any answer that is not an
// object with format and streams) is a probe error, not a file with no
// tracks.
func TestScanFFProbeOddOutput(t *testing.T) {
	dir := t.TempDir()
	path := fakeFFProbeBin(t, dir, `for last; do :; done
case "$last" in
*null.mkv) echo null ;;
*) head -c 100000 /dev/zero | tr '\0' w >&2
   echo '{"streams":[{"codec_type":"video","codec_name":"h264"}],"format":{"duration":"1"}}' ;;
esac
`)
	root := filepath.Join(dir, "media")
	noisy, null := filepath.Join(root, "noisy.mkv"), filepath.Join(root, "null.mkv")
	touch(t, noisy, null)
	d := start(t, startOpts{dir: dir, env: []string{path}, wait: true})
	if res := d.scanNow(root, true); res.Probed != 1 || res.ProbeErrors != 1 {
		t.Fatalf("scan: %+v, want 1 probed and 1 probe error", res)
	}
	rows := d.library()
	if r := rows[noisy]; !r.Probed || r.Codec != "h264" || r.ProbeError != "" {
		t.Fatalf("noisy.mkv: %+v", r)
	}
	if r := rows[null]; r.Probed || !strings.Contains(r.ProbeError, "ffprobe output is not a JSON object") {
		t.Fatalf("null.mkv: %+v, want the probe error that ffprobe's output is not a JSON object", r)
	}
}

// TestScanFFProbeChildrenDieWithIt: a process ffprobe started and left
// running is killed when ffprobe exits, and, holding ffprobe's stdout, it
// does not turn the good probe into an error.
func TestScanFFProbeChildrenDieWithIt(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "child.pid")
	path := fakeFFProbeBin(t, dir, `echo '{"streams":[{"codec_type":"video","codec_name":"h264"}],"format":{"duration":"1"}}'
sleep 100002 &
echo $! > `+pidFile+"\n")
	root := filepath.Join(dir, "media")
	touch(t, filepath.Join(root, "a.mkv"))
	d := start(t, startOpts{dir: dir, env: []string{path}, wait: true})
	res := d.scanNow(root, true)
	pid := readPid(t, d, pidFile)
	if res.Probed != 1 || res.ProbeErrors != 0 {
		t.Fatalf("scan: %+v, want 1 probed; files: %+v", res, d.files())
	}
	waitGone(t, pid, "ffprobe's child, after the probe")
}

// TestFFProbeDiesWithVPO: when vpo is killed (SIGKILL: no chance to clean
// up) during a probe, ffprobe dies too instead of running on under init.
func TestFFProbeDiesWithVPO(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "ffprobe.pid")
	path := fakeFFProbeBin(t, dir, "echo $$ > "+pidFile+"\nexec sleep 100003\n")
	root := filepath.Join(dir, "media")
	touch(t, filepath.Join(root, "a.mkv"))
	d := start(t, startOpts{dir: dir, env: []string{path}, wait: true})
	d.submit("scan", fmt.Sprintf(`{"path": %q}`, root))
	pid := readPid(t, d, pidFile)
	d.signal(syscall.SIGKILL)
	d.wait(10 * time.Second)
	waitGone(t, pid, "ffprobe, after vpo was killed")
}
