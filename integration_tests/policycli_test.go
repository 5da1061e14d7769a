package integration_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// ffmpegFixture writes a 2 s, 160x120 video at path with ffmpeg: one
// h264 video track, one AAC audio track per language in audio, and, for
// MKV, one subtitle track per language in subs. The video and the first
// audio track are flagged default.
func ffmpegFixture(t *testing.T, path string, audio, subs []string) {
	t.Helper()
	args := []string{"-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=10:duration=2"}
	for i := range audio {
		args = append(args, "-f", "lavfi", "-i", "sine=frequency="+[]string{"440", "660", "880"}[i%3]+":duration=2")
	}
	srt := filepath.Join(t.TempDir(), "s.srt")
	if err := os.WriteFile(srt, []byte("1\n00:00:00,000 --> 00:00:01,500\nHello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for range subs {
		args = append(args, "-i", srt)
	}
	for i := 0; i < 1+len(audio)+len(subs); i++ {
		args = append(args, "-map", strconv.Itoa(i))
	}
	args = append(args, "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-b:a", "32k", "-c:s", "srt")
	// The video and the first audio track are the defaults.
	args = append(args, "-disposition:v:0", "default")
	for i, l := range audio {
		d := "0"
		if i == 0 {
			d = "default"
		}
		args = append(args, "-metadata:s:a:"+strconv.Itoa(i), "language="+l, "-disposition:a:"+strconv.Itoa(i), d)
	}
	for i, l := range subs {
		args = append(args, "-metadata:s:s:"+strconv.Itoa(i), "language="+l, "-disposition:s:"+strconv.Itoa(i), "0")
	}
	args = append(args, path)
	if out, err := exec.Command("ffmpeg", args...).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg %v: %v\n%s", args, err, out)
	}
}

func inode(fi os.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Ino
	}
	return 0
}

const firstPolicy = `schema_version: 13
description: Keep English audio and subtitles
config:
  audio_languages: [eng]
  subtitle_languages: [eng]
phases:
  - name: clean
    keep_audio:
      languages: [eng, und]
      minimum: 1
    keep_subtitles:
      languages: [eng]
      preserve_forced: true
    default_flags:
      set_first_video_default: true
      set_preferred_audio_default: true
      clear_other_defaults: true
`

func writePolicies(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestPolicyCheckExitCodes(t *testing.T) {
	home := t.TempDir()
	pdir := filepath.Join(home, "policies")
	writePolicies(t, pdir, map[string]string{
		"first.yaml": firstPolicy,
		"fancy.yaml": "schema_version: 13\nphases:\n  - name: a\n    keep_audio:\n      languages: [eng]\n    audio_synthesis:\n      create: []\n",
		"broken.yml": "schema_version: 13\nphases:\n  - name: x\n   oops: [\n",
		"typo.yaml":  "schema_version: 13\nphases:\n  - name: x\n    keep_audio:\n      languagez: [eng]\n",
	})
	env := baseEnv(home, "VPO_POLICIES_DIR="+pdir)
	for _, tc := range []struct {
		policy string
		code   int
		stdout string
		stderr []string
	}{
		{policy: "first", code: 0, stdout: "ok: first (1 phase)\n"},
		{policy: filepath.Join(pdir, "first.yaml"), code: 0, stdout: "ok: first (1 phase)\n"},
		{policy: "fancy", code: 3, stderr: []string{pdir + "/fancy.yaml:6: phases[0].audio_synthesis: not supported by vpo yet\n"}},
		{policy: "broken", code: 3, stderr: []string{pdir + "/broken.yml:", "YAML syntax error at line"}},
		{policy: "typo", code: 3, stderr: []string{pdir + "/typo.yaml:5: phases[0].keep_audio.languagez: unknown key"}},
		{policy: "nope", code: 3, stderr: []string{"vpo: error: ", "nope.yaml", pdir}},
	} {
		t.Run(filepath.Base(tc.policy), func(t *testing.T) {
			code, out, errs := run(t, env, "policy", "check", tc.policy)
			if code != tc.code || out != tc.stdout || !containsAll(errs, tc.stderr...) {
				t.Errorf("exit %d (want %d)\nstdout %q (want %q)\nstderr %q (want %q)", code, tc.code, out, tc.stdout, errs, tc.stderr)
			}
		})
	}

	code, out, errs := run(t, env, "policy", "list")
	if code != 0 || !containsAll(out, "NAME", "first ", "ok", "fancy ", "unsupported: phases[0].audio_synthesis",
		"broken ", "parse error: YAML syntax error", "typo ", "parse error: phases[0].keep_audio.languagez: unknown key") {
		t.Errorf("policy list: exit %d\n%s%s", code, out, errs)
	}
}

// fileState is what must not change when a file is only planned.
type fileState struct {
	sum   [32]byte
	mtime time.Time
	ino   uint64
}

func stateOf(t *testing.T, path string) fileState {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fileState{sum: sha256.Sum256(b), mtime: fi.ModTime(), ino: inode(fi)}
}

func TestPolicyPlanRealMedia(t *testing.T) {
	needTools(t, "ffmpeg", "ffprobe")
	home := t.TempDir()
	pdir := filepath.Join(home, "policies")
	writePolicies(t, pdir, map[string]string{"first.yaml": firstPolicy})
	media := filepath.Join(home, "media")
	if err := os.MkdirAll(filepath.Join(media, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	movie := filepath.Join(media, "movie.mkv")
	ffmpegFixture(t, movie, []string{"fre", "eng"}, []string{"ger", "eng"})
	clean := filepath.Join(media, "sub", "clean.mkv")
	ffmpegFixture(t, clean, []string{"eng"}, nil)
	broken := filepath.Join(media, "broken.mkv")
	if err := os.WriteFile(broken, bytes.Repeat([]byte("not a video "), 100), 0o644); err != nil {
		t.Fatal(err)
	}
	before := map[string]fileState{}
	for _, p := range []string{movie, clean, broken} {
		before[p] = stateOf(t, p)
	}
	env := baseEnv(home, "VPO_POLICIES_DIR="+pdir)

	code, out, errs := run(t, env, "policy", "plan", "first", media)
	if code != 1 {
		t.Errorf("exit %d, want 1 (broken.mkv cannot be probed)", code)
	}
	want := []string{
		broken + "\n    error: ffprobe \"" + broken + "\": exit status 1: ",
		movie + "\n    remove_track  track 1 (audio)     clean: ",
		"    remove_track  track 3 (subtitle)  clean: ",
		clean + "\n    no changes\n",
		"3 files: 1 with changes, 1 without, 0 skipped, 1 failed\n",
	}
	if !containsAll(out, want...) || errs != "" {
		t.Errorf("stdout:\n%s\nwant the parts %q\nstderr: %s", out, want, errs)
	}

	code, out, errs = run(t, env, "policy", "plan", "first", media, "--no-recursive", "--json")
	var plans []struct {
		Path string `json:"path"`
		Plan *struct {
			Policy  string `json:"policy"`
			Changes []struct {
				Kind  string `json:"kind"`
				Track int    `json:"track"`
			} `json:"changes"`
		} `json:"plan"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal([]byte(out), &plans); err != nil || code != 1 {
		t.Fatalf("--json: exit %d, %v\n%s%s", code, err, out, errs)
	}
	if len(plans) != 2 || plans[0].Path != broken || plans[0].Error == "" || plans[0].Plan != nil ||
		plans[1].Path != movie || plans[1].Plan == nil || plans[1].Plan.Policy != "first" || len(plans[1].Plan.Changes) == 0 {
		t.Errorf("--json --no-recursive: %+v", plans)
	}

	code, out, errs = run(t, env, "policy", "plan", "first", clean)
	if code != 0 || out != clean+"\n    no changes\n1 file: 0 with changes, 1 without, 0 skipped, 0 failed\n" {
		t.Errorf("one compliant file: exit %d\n%s%s", code, out, errs)
	}

	for p, st := range before {
		if got := stateOf(t, p); got != st {
			t.Errorf("%s changed by planning: %+v → %+v", p, st, got)
		}
	}
}

// audioLanguages returns the languages of the audio streams of path, by
// ffprobe.
func audioLanguages(t *testing.T, path string) []string {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "a", "-show_entries", "stream_tags=language",
		"-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	return strings.Fields(string(out))
}

func TestPolicyApplyWait(t *testing.T) {
	needTools(t, "ffmpeg", "ffprobe", "mkvmerge", "mkvpropedit")
	dir := t.TempDir()
	pdir := filepath.Join(dir, "policies")
	writePolicies(t, pdir, map[string]string{"first.yaml": firstPolicy})
	media := filepath.Join(dir, "media")
	if err := os.MkdirAll(media, 0o755); err != nil {
		t.Fatal(err)
	}
	movie := filepath.Join(media, "movie.mkv")
	ffmpegFixture(t, movie, []string{"fre", "eng"}, []string{"ger", "eng"})
	clean := filepath.Join(media, "clean.mkv")
	ffmpegFixture(t, clean, []string{"eng"}, nil)
	cleanBefore := stateOf(t, clean)

	d := start(t, startOpts{wait: true, dir: dir, extra: fmt.Sprintf("\n[policies]\ndir = %q\nmin_file_age = \"0s\"\n", pdir)})
	cfg := filepath.Join(dir, "config.toml")
	env := baseEnv(dir)

	// A dry run plans and changes nothing.
	movieBefore := stateOf(t, movie)
	code, out, errs := run(t, env, "policy", "apply", "first", media, "--dry-run", "--wait", "--config", cfg)
	if code != 0 || !containsAll(out, "apply job ", "queued (policy first, "+media+", dry run)\n", "completed: 2 files, 1 unchanged, 1 planned\n") {
		t.Fatalf("dry run: exit %d\n%s%s\n%s", code, out, errs, d.stderr.String())
	}
	if got := stateOf(t, movie); got != movieBefore {
		t.Errorf("the dry run changed %s", movie)
	}

	code, out, errs = run(t, env, "policy", "apply", "first", media, "--wait", "--config", cfg)
	if code != 0 || !containsAll(out, "queued (policy first, "+media+")\n", "completed: 2 files, 1 applied, 1 unchanged\n") {
		t.Fatalf("apply: exit %d\n%s%s\n%s", code, out, errs, d.stderr.String())
	}
	if got := audioLanguages(t, movie); strings.Join(got, ",") != "eng" {
		t.Errorf("audio of %s after apply: %q, want eng only", movie, got)
	}
	if got := stateOf(t, clean); got != cleanBefore {
		t.Errorf("the compliant %s was changed", clean)
	}

	// A file that cannot be read fails, the others do not; exit 1 names it.
	broken := filepath.Join(media, "broken.mkv")
	if err := os.WriteFile(broken, bytes.Repeat([]byte("not a video "), 100), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errs = run(t, env, "policy", "apply", "first", media, "--wait", "--config", cfg)
	if code != 1 || !containsAll(out, "completed: 3 files, 2 unchanged, 1 failed\n", "failed: "+broken+": ") ||
		!strings.Contains(errs, "1 file failed") {
		t.Errorf("broken file: exit %d\n%s%s", code, out, errs)
	}

	// The daemon is gone: 6.
	d.signal(syscall.SIGTERM)
	if c := d.wait(30 * time.Second); c != 0 {
		t.Fatalf("daemon exit %d", c)
	}
	code, _, errs = run(t, env, "policy", "apply", "first", media, "--wait", "--config", cfg)
	if code != 6 || !strings.Contains(errs, "cannot reach the vpo daemon") {
		t.Errorf("no daemon: exit %d, %s", code, errs)
	}
}

func TestPlanApprovalCLI(t *testing.T) {
	needTools(t, "ffmpeg", "ffprobe", "mkvmerge", "mkvpropedit")
	dir := t.TempDir()
	pdir := filepath.Join(dir, "policies")
	writePolicies(t, pdir, map[string]string{"first.yaml": firstPolicy})
	media := filepath.Join(dir, "media")
	if err := os.MkdirAll(media, 0o755); err != nil {
		t.Fatal(err)
	}
	a, b := filepath.Join(media, "a.mkv"), filepath.Join(media, "b.mkv")
	ffmpegFixture(t, a, []string{"fre", "eng"}, nil)
	if out, err := exec.Command("cp", "-p", a, b).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	bBefore := stateOf(t, b)

	d := start(t, startOpts{wait: true, dir: dir,
		extra: fmt.Sprintf("\n[policies]\ndir = %q\nmin_file_age = \"0s\"\nrequire_approval = true\n", pdir)})
	cfg := filepath.Join(dir, "config.toml")
	env := baseEnv(dir)
	cli := func(args ...string) (int, string, string) {
		t.Helper()
		return run(t, env, append(args, "--config", cfg)...)
	}

	code, out, errs := cli("policy", "apply", "first", media, "--wait")
	if code != 0 || !strings.Contains(out, "completed: 2 files, 2 pending approval\n") {
		t.Fatalf("apply: exit %d\n%s%s\n%s", code, out, errs, d.stderr.String())
	}
	code, out, errs = cli("plan", "list", "--status", "pending", "--json")
	var rows []struct {
		ID     int64  `json:"id"`
		Path   string `json:"path"`
		Status string `json:"status"`
	}
	if err := json.Unmarshal([]byte(out), &rows); err != nil || code != 0 || len(rows) != 2 {
		t.Fatalf("plan list: exit %d, %v\n%s%s", code, err, out, errs)
	}
	var idA string
	for _, r := range rows {
		if r.Path == a {
			idA = strconv.FormatInt(r.ID, 10)
		}
	}
	code, out, errs = cli("plan", "list", "--status", "pending")
	if code != 0 || !containsAll(out, "ID", "STATUS", "pending  first", a, b) {
		t.Errorf("plan list table: exit %d\n%s%s", code, out, errs)
	}

	code, out, errs = cli("plan", "approve", idA)
	if code != 0 || !containsAll(out, "plan "+idA+" approved: "+a+" (apply job ") {
		t.Fatalf("approve: exit %d\n%s%s", code, out, errs)
	}
	job := strings.TrimSuffix(out[strings.Index(out, "(apply job ")+len("(apply job "):], ")\n")
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, out, _ = cli("jobs", "show", job, "--json")
		if code == 0 && strings.Contains(out, `"status": "completed"`) {
			break
		}
		if time.Now().After(deadline) || strings.Contains(out, `"status": "failed"`) {
			t.Fatalf("approved apply job %s: %s\n%s", job, out, d.stderr.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if got := audioLanguages(t, a); strings.Join(got, ",") != "eng" {
		t.Errorf("audio of %s after approval: %q", a, got)
	}

	code, out, errs = cli("plan", "reject", "--all")
	if code != 0 || !strings.Contains(out, "rejected: "+b+"\n") || strings.Contains(out, a) {
		t.Errorf("reject --all: exit %d\n%s%s", code, out, errs)
	}
	if got := stateOf(t, b); got != bBefore {
		t.Errorf("rejected %s was changed", b)
	}
	code, out, errs = cli("plan", "approve", "--all")
	if code != 0 || out != "" || !strings.Contains(errs, "no pending plans") {
		t.Errorf("approve --all with nothing pending: exit %d\n%s%s", code, out, errs)
	}
	code, _, errs = cli("plan", "approve", idA)
	if code != 6 || !strings.Contains(errs, "409") {
		t.Errorf("approve an applied plan: exit %d, %s", code, errs)
	}
}

func TestDoctorCLI(t *testing.T) {
	needTools(t, "ffmpeg", "ffprobe", "mkvmerge", "mkvpropedit")
	home := t.TempDir()
	pdir := filepath.Join(home, "policies")
	writePolicies(t, pdir, map[string]string{"first.yaml": firstPolicy})
	media := filepath.Join(home, "media")
	if err := os.Mkdir(media, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(home, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	systemctl := func(rw string) {
		script := "#!/bin/sh\necho LoadState=loaded\necho ProtectSystem=strict\necho ProtectHome=yes\necho ReadWritePaths=" + rw + "\n"
		if err := os.WriteFile(filepath.Join(bin, "systemctl"), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	env := []string{"HOME=" + home, "PATH=" + bin + ":" + os.Getenv("PATH"), "VPO_POLICIES_DIR=" + pdir}

	systemctl("/var/lib/vpo")
	code, out, errs := run(t, env, "doctor", media)
	fix := "FAIL  service vpo, path " + media + ": read-only for the service (ProtectSystem=strict and not under ReadWritePaths); " +
		"fix: systemctl edit vpo → [Service] ReadWritePaths=" + media + ", then systemctl restart vpo\n"
	if code != 1 || !containsAll(out, "ok    tool ffprobe: ", "ok    tool mkvpropedit: ", "warn  database ",
		"ok    policy first: ", "ok    path "+media+": readable and writable", fix, "1 failure, 1 warning\n") {
		t.Errorf("media outside ReadWritePaths: exit %d\n%s%s", code, out, errs)
	}

	systemctl("/var/lib/vpo " + media)
	code, out, errs = run(t, env, "doctor", media)
	if code != 0 || strings.Contains(out, "FAIL") || !strings.Contains(out, "0 failures, 1 warning\n") {
		t.Errorf("media in ReadWritePaths: exit %d\n%s%s", code, out, errs)
	}
}
