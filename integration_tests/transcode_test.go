package integration_test

// Transcoding end to end (issue 11): the real binary re-encodes generated
// clips with the installed ffmpeg; progress, cancellation, a SIGKILL, a
// stalled encoder and the per-kind limit are watched through the API and
// /proc. The tests that encode need the policy's transcode phases and the
// transcode executor; TestTranscodeKindPayloadValidated and
// TestTranscodeJobWithoutEncode check the job kind's wiring alone.

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Ports of the transcoding tests (this file's range is 18700-18799).
const (
	portTranscodeValidate = 18700 + iota
	portTranscodeNoEncode
	portTranscodeHEVC
	portTranscodeH264
	portTranscodeMP4Subs
	portTranscodeProgress
	portTranscodeCancel
	portTranscodeKill
	portTranscodeStall
	portTranscodeLimits
)

// startTranscoding boots a daemon on port whose policies directory is
// DIR/policies, with extra TOML after the [policies] table and env added.
func startTranscoding(t *testing.T, port int, extra string, env ...string) (*daemon, string) {
	t.Helper()
	dir := t.TempDir()
	pdir := filepath.Join(dir, "policies")
	if err := os.MkdirAll(pdir, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf("\n[policies]\ndir = %q\nmin_file_age = \"0s\"\n%s\n", pdir, extra)
	d := start(t, startOpts{dir: dir, port: port, wait: true, extra: cfg, env: env})
	return d, pdir
}

// clip describes a generated test clip.
type clip struct {
	width, height, seconds, rate int
	video                        []string // encoder arguments of the video
	audio                        []string // one codec per audio track (eng, fre, ...)
	subs                         bool     // one subrip track (MKV only)
}

// makeClip writes c at path with ffmpeg from lavfi sources; the file's
// mtime is set an hour back (older than any min_file_age).
func makeClip(t *testing.T, path string, c clip) {
	t.Helper()
	needTools(t, "ffmpeg", "ffprobe")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	src := fmt.Sprintf("testsrc2=size=%dx%d:rate=%d:duration=%d", c.width, c.height, c.rate, c.seconds)
	args := []string{"-v", "error", "-y", "-f", "lavfi", "-i", src}
	for i := range c.audio {
		args = append(args, "-f", "lavfi", "-i", fmt.Sprintf("sine=frequency=%d:duration=%d", 440+220*i, c.seconds))
	}
	if c.subs {
		srt := filepath.Join(t.TempDir(), "s.srt")
		if err := os.WriteFile(srt, []byte("1\n00:00:00,000 --> 00:00:01,500\nHello\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, "-i", srt)
	}
	inputs := 1 + len(c.audio)
	if c.subs {
		inputs++
	}
	for i := 0; i < inputs; i++ {
		args = append(args, "-map", strconv.Itoa(i))
	}
	args = append(args, "-c:v")
	args = append(args, c.video...)
	langs := []string{"eng", "fre", "ger"}
	for i, codec := range c.audio {
		args = append(args, "-c:a:"+strconv.Itoa(i), codec, "-metadata:s:a:"+strconv.Itoa(i), "language="+langs[i%len(langs)])
		if codec == "aac" {
			args = append(args, "-b:a:"+strconv.Itoa(i), "32k")
		}
	}
	if c.subs {
		args = append(args, "-c:s", "srt", "-metadata:s:s:0", "language=eng")
	}
	args = append(args, path)
	if out, err := exec.Command("ffmpeg", args...).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg %v: %v\n%s", args, err, out)
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
}

var (
	longClipOnce sync.Once
	longClipData []byte
	longClipErr  error
)

// longClip writes a 24 s 1280x720 MPEG-4 MKV with one AAC track at path
// (made once per test binary): re-encoding it to H.264 with preset medium
// takes several seconds here, long enough to watch, cancel or kill.
func longClip(t *testing.T, path string) {
	t.Helper()
	needTools(t, "ffmpeg", "ffprobe")
	longClipOnce.Do(func() {
		dir, err := os.MkdirTemp("", "vpo-longclip-")
		if err != nil {
			longClipErr = err
			return
		}
		defer os.RemoveAll(dir)
		out := filepath.Join(dir, "long.mkv")
		cmd := exec.Command("ffmpeg", "-v", "error", "-y",
			"-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=10:duration=24",
			"-f", "lavfi", "-i", "sine=frequency=440:duration=24",
			"-map", "0", "-map", "1", "-c:v", "mpeg4", "-q:v", "5", "-c:a", "aac", "-b:a", "32k",
			"-metadata:s:a:0", "language=eng", out)
		if b, err := cmd.CombinedOutput(); err != nil {
			longClipErr = fmt.Errorf("ffmpeg: %v: %s", err, b)
			return
		}
		longClipData, longClipErr = os.ReadFile(out)
	})
	if longClipErr != nil {
		t.Fatal(longClipErr)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, longClipData, 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
}

// Policies of the transcoding tests (upstream VPO's V13 transcode phase).
const (
	// hevcPolicy: HEVC at CRF 30, no larger than 480p; FLAC kept, other
	// audio to Opus 64k.
	hevcPolicy = `schema_version: 13
phases:
  - name: shrink
    transcode:
      video:
        to: hevc
        crf: 30
        preset: ultrafast
        max_resolution: 480p
        hw: none
      audio:
        preserve: [flac]
        to: opus
        bitrate: 64k
`
	// smallH264Policy: H.264 no larger than 480p.
	smallH264Policy = `schema_version: 13
phases:
  - name: small
    transcode:
      video:
        to: h264
        crf: 35
        preset: ultrafast
        max_resolution: 480p
        hw: none
`
	// hevcUnlessH264Policy: HEVC, but an H.264 video is left alone.
	hevcUnlessH264Policy = `schema_version: 13
phases:
  - name: shrink
    transcode:
      video:
        to: hevc
        preset: ultrafast
        hw: none
        skip_if:
          codec_matches: [h264]
`
	// mp4HEVCPolicy: MP4 with HEVC video (subrip does not fit in MP4).
	mp4HEVCPolicy = `schema_version: 13
phases:
  - name: convert
    container:
      target: mp4
    transcode:
      video:
        to: hevc
        crf: 35
        preset: ultrafast
        hw: none
`
	// slowH264Policy: H.264 at preset medium, slow enough to watch.
	slowH264Policy = `schema_version: 13
phases:
  - name: encode
    transcode:
      video:
        to: h264
        crf: 23
        preset: medium
        hw: none
`
)

// tjob is a job as the API shows it, with the fields these tests read.
type tjob struct {
	ID              string          `json:"id"`
	Kind            string          `json:"kind"`
	Status          string          `json:"status"`
	Attempts        int             `json:"attempts"`
	Error           string          `json:"error"`
	Result          json.RawMessage `json:"result"`
	ProgressPercent float64         `json:"progress_percent"`
	ProgressMessage string          `json:"progress_message"`
	ParentID        string          `json:"parent_id"`
	// raw is the whole object, for fields that may be absent
	// (eta_seconds).
	raw map[string]json.RawMessage
}

// fileResult is the result of an apply or transcode job of one file.
type fileResult struct {
	Outcome  string   `json:"outcome"`
	Path     string   `json:"path"`
	NewPath  string   `json:"new_path"`
	PlanID   int64    `json:"plan_id"`
	Executor string   `json:"executor"`
	Encoder  string   `json:"encoder"`
	HW       string   `json:"hw"`
	Reason   string   `json:"reason"`
	Notes    []string `json:"notes"`
}

func (d *daemon) tjob(id string) tjob {
	d.t.Helper()
	code, _, b := d.call(http.MethodGet, "/api/jobs/"+id, "", "")
	if code != http.StatusOK {
		d.t.Fatalf("GET /api/jobs/%s = %d: %s", id, code, b)
	}
	var j tjob
	if err := json.Unmarshal(b, &j); err != nil {
		d.t.Fatalf("job %s: %v: %s", id, err, b)
	}
	_ = json.Unmarshal(b, &j.raw)
	return j
}

// submitKind queues a job of kind for one file with max_attempts.
func (d *daemon) submitKind(kind, policy, path string, maxAttempts int) string {
	d.t.Helper()
	return d.submitBody(fmt.Sprintf(`{"kind":%q,"max_attempts":%d,"payload":{"policy":%q,"path":%q}}`, kind, maxAttempts, policy, path))
}

// submitBody queues the job of the JSON body and returns its id.
func (d *daemon) submitBody(body string) string {
	d.t.Helper()
	code, _, b := d.call(http.MethodPost, "/api/jobs", body, "")
	if code != http.StatusCreated {
		d.t.Fatalf("submit %s: %d %s", body, code, b)
	}
	var j tjob
	if err := json.Unmarshal(b, &j); err != nil {
		d.t.Fatal(err)
	}
	return j.ID
}

// waitEnd waits until job id has ended and returns it.
func (d *daemon) waitEnd(id string, timeout time.Duration) tjob {
	d.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		j := d.tjob(id)
		switch j.Status {
		case "completed", "failed", "cancelled":
			return j
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("job %s is %q after %v (%.0f%% %q), want it ended\n%s", id, j.Status, timeout, j.ProgressPercent, j.ProgressMessage, d.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// childJobs lists the children of job id.
func (d *daemon) childJobs(id string) []tjob {
	d.t.Helper()
	var out struct {
		Jobs []tjob `json:"jobs"`
	}
	if code := d.getBody("/api/jobs?parent="+id, &out); code != http.StatusOK {
		d.t.Fatalf("children of %s: %d", id, code)
	}
	return out.Jobs
}

// runningOf lists the running jobs of kind.
func (d *daemon) runningOf(kind string) []tjob {
	d.t.Helper()
	var out struct {
		Jobs []tjob `json:"jobs"`
	}
	if code := d.getBody("/api/jobs?status=running&kind="+kind, &out); code != http.StatusOK {
		d.t.Fatalf("running %s jobs: %d", kind, code)
	}
	return out.Jobs
}

// resultOf decodes a file job's result.
func resultOf(t *testing.T, j tjob) fileResult {
	t.Helper()
	var r fileResult
	if err := json.Unmarshal(j.Result, &r); err != nil {
		t.Fatalf("job %s result %s: %v", j.ID, j.Result, err)
	}
	return r
}

// planOf returns the plan JSON of plan id (GET /api/plans?job= of the job
// that made it).
func (d *daemon) planOf(jobID string, id int64) map[string]any {
	d.t.Helper()
	var out struct {
		Plans []struct {
			ID   int64           `json:"id"`
			Plan json.RawMessage `json:"plan"`
		} `json:"plans"`
	}
	if code := d.getBody("/api/plans?job="+jobID, &out); code != http.StatusOK {
		d.t.Fatalf("plans of job %s: %d", jobID, code)
	}
	for _, p := range out.Plans {
		if p.ID == id {
			var m map[string]any
			if err := json.Unmarshal(p.Plan, &m); err != nil {
				d.t.Fatal(err)
			}
			return m
		}
	}
	d.t.Fatalf("plan %d not among the plans of job %s", id, jobID)
	return nil
}

// stream is one ffprobe stream.
type stream struct {
	Type   string `json:"codec_type"`
	Codec  string `json:"codec_name"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
}

// probeFile returns the streams and duration of path.
func probeFile(t *testing.T, path string) ([]stream, float64) {
	t.Helper()
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "stream=codec_type,codec_name,width,height",
		"-show_entries", "format=duration", "-of", "json", path).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var p struct {
		Streams []stream `json:"streams"`
		Format  struct {
			Duration string `json:"duration"`
		} `json:"format"`
	}
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatal(err)
	}
	dur, _ := strconv.ParseFloat(p.Format.Duration, 64)
	return p.Streams, dur
}

// codecs lists the codecs of the streams of type typ.
func codecs(ss []stream, typ string) []string {
	var out []string
	for _, s := range ss {
		if s.Type == typ {
			out = append(out, s.Codec)
		}
	}
	return out
}

// within480p reports whether a 16:9 video was scaled down into the 480p
// box (854x480): 480 high, even sizes, the aspect ratio kept to within
// the rounding to an even width.
func within480p(s stream) bool {
	return s.Height == 480 && s.Width <= 854 && s.Width%2 == 0 && math.Abs(float64(s.Width)-480*16.0/9) < 2
}

// tempFiles lists the executor's temporary files in dir.
func tempFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, ".*.vpo-tmp-*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// procsWith lists the processes (other than this one) whose command line
// holds s.
func procsWith(s string) []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		if strings.Contains(strings.ReplaceAll(string(b), "\x00", " "), s) && !zombie(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// zombie reports whether pid has exited and waits for its parent.
func zombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] == 'Z'
}

// waitNoProcs waits until no process's command line holds s; a process
// that outlives timeout fails the test.
func waitNoProcs(t *testing.T, s string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		pids := procsWith(s)
		if len(pids) == 0 {
			return
		}
		if time.Now().After(deadline) {
			for _, pid := range pids {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
			t.Fatalf("processes %v with %q in their command line still run %v later", pids, s, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitEncoding waits until the transcode job id runs with progress above
// 0 and returns it with the temporary file the encode writes in dir.
func (d *daemon) waitEncoding(id, dir string, timeout time.Duration) (tjob, string) {
	d.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		j := d.tjob(id)
		if j.Status != "running" && j.Status != "queued" {
			d.t.Fatalf("job %s is %s (%s) before its encode was seen under way\n%s", id, j.Status, j.Error, d.stderr.String())
		}
		if tmp := tempFiles(d.t, dir); j.Status == "running" && j.ProgressPercent > 0 && j.ProgressPercent < 100 && len(tmp) == 1 {
			return j, tmp[0]
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("job %s: no encode under way after %v (%s %.0f%% %q)\n%s", id, timeout, j.Status, j.ProgressPercent,
				j.ProgressMessage, d.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestTranscodeKindPayloadValidated: POST /api/jobs takes the transcode
// kind and checks its payload as an apply job's, at submission.
func TestTranscodeKindPayloadValidated(t *testing.T) {
	d, _ := startTranscoding(t, portTranscodeValidate, "")
	for _, tc := range []struct{ payload, want string }{
		{`{"path":"/x"}`, "policy is required"},
		{`{"policy":"p","path":"rel/x"}`, "must be absolute"},
		{`{"policy":"p","path":"/nonexistent/vpo/x.mkv"}`, "does not exist"},
		{`{"policy":"../p","path":"/tmp"}`, "is not a policy name"},
		{`{"policy":"p","path":"/tmp","bogus":1}`, `unknown field`},
	} {
		code, _, b := d.call(http.MethodPost, "/api/jobs", `{"kind":"transcode","payload":`+tc.payload+`}`, "")
		if code != http.StatusBadRequest || !strings.Contains(string(b), tc.want) {
			t.Errorf("transcode payload %s: %d %s; want 400 containing %q", tc.payload, code, b, tc.want)
		}
	}
	code, _, b := d.call(http.MethodPost, "/api/jobs", fmt.Sprintf(`{"kind":"transcode","payload":{"policy":"p","path":%q}}`, d.dir), "")
	if code != http.StatusCreated || !strings.Contains(string(b), `"kind":"transcode"`) {
		t.Errorf("good transcode payload: %d %s; want 201", code, b)
	}
}

// TestTranscodeJobWithoutEncode: a transcode job whose plan encodes
// nothing applies it as an apply job would (here, removing a track).
func TestTranscodeJobWithoutEncode(t *testing.T) {
	d, pdir := startTranscoding(t, portTranscodeNoEncode, "")
	writePolicy(t, pdir, "eng.yaml", keepEngPolicy)
	a := filepath.Join(d.dir, "lib", "a.mkv")
	mkvFixture(t, a)
	j := d.waitEnd(d.submitKind("transcode", "eng", a, 1), 60*time.Second)
	r := resultOf(t, j)
	if j.Status != "completed" || r.Outcome != "applied" || r.Encoder != "" {
		t.Fatalf("transcode job %s %q: %+v; want applied without an encoder", j.Status, j.Error, r)
	}
	if n := streams(t, a); n != 2 {
		t.Errorf("%d streams, want 2 (video, eng)", n)
	}
}

// TestTranscodeHEVCKeepsAudio: an apply job of an H.264 MKV under a HEVC
// policy hands the file to a transcode job, which makes HEVC 854x480 of
// the 1280x720 source, keeps the FLAC track, converts the AAC track to
// Opus and keeps the subtitle; the result names the encoder.
func TestTranscodeHEVCKeepsAudio(t *testing.T) {
	d, pdir := startTranscoding(t, portTranscodeHEVC, "")
	writePolicy(t, pdir, "hevc.yaml", hevcPolicy)
	a := filepath.Join(d.dir, "lib", "a.mkv")
	makeClip(t, a, clip{width: 1280, height: 720, seconds: 2, rate: 10,
		video: []string{"libx264", "-preset", "ultrafast"}, audio: []string{"aac", "flac"}, subs: true})
	_, srcDur := probeFile(t, a)
	parent := d.submitKind("apply", "hevc", a, 1)
	p := d.waitEnd(parent, 120*time.Second)
	if p.Status != "completed" {
		t.Fatalf("apply job %s: %q", p.Status, p.Error)
	}
	kids := d.childJobs(parent)
	if len(kids) != 1 || kids[0].Kind != "transcode" || kids[0].Status != "completed" {
		t.Fatalf("children %+v; want one completed transcode job", kids)
	}
	r := resultOf(t, d.tjob(kids[0].ID))
	if r.Outcome != "applied" || r.Encoder != "libx265" || r.HW != "none" {
		t.Errorf("transcode result %+v; want applied with libx265, hw none", r)
	}
	ss, dur := probeFile(t, a)
	if v := codecs(ss, "video"); len(v) != 1 || v[0] != "hevc" {
		t.Errorf("video %v, want hevc", v)
	}
	for _, s := range ss {
		if s.Type == "video" && !within480p(s) {
			t.Errorf("video %dx%d, want 16:9 within 480p (854x480), even sizes", s.Width, s.Height)
		}
	}
	if au := codecs(ss, "audio"); len(au) != 2 || au[0] != "opus" || au[1] != "flac" {
		t.Errorf("audio %v, want [opus flac] (aac converted, flac preserved)", au)
	}
	if sub := codecs(ss, "subtitle"); len(sub) != 1 || sub[0] != "subrip" {
		t.Errorf("subtitles %v, want the subrip track kept", sub)
	}
	if math.Abs(dur-srcDur) > 0.5 {
		t.Errorf("duration %.2f s, source %.2f s", dur, srcDur)
	}
	if tmp := tempFiles(t, filepath.Dir(a)); len(tmp) != 0 {
		t.Errorf("temporary files left: %v", tmp)
	}
}

// TestTranscodeH264MaxResolutionAndSkipIf: an H.264 MP4 is re-encoded to
// H.264 no larger than 480p; under a policy whose skip_if matches H.264
// the file is left byte for byte, the result and the dry run's plan
// saying why.
func TestTranscodeH264MaxResolutionAndSkipIf(t *testing.T) {
	d, pdir := startTranscoding(t, portTranscodeH264, "")
	writePolicy(t, pdir, "small.yaml", smallH264Policy)
	writePolicy(t, pdir, "hevc.yaml", hevcUnlessH264Policy)
	lib := filepath.Join(d.dir, "lib")
	big := filepath.Join(lib, "big.mp4")
	keep := filepath.Join(lib, "keep.mp4")
	for _, p := range []string{big, keep} {
		makeClip(t, p, clip{width: 1280, height: 720, seconds: 2, rate: 10,
			video: []string{"libx264", "-preset", "ultrafast"}, audio: []string{"aac"}})
	}

	j := d.waitEnd(d.submitKind("transcode", "small", big, 1), 120*time.Second)
	if r := resultOf(t, j); j.Status != "completed" || r.Outcome != "applied" || r.Encoder != "libx264" {
		t.Fatalf("transcode %s %q: %+v; want applied with libx264", j.Status, j.Error, r)
	}
	ss, _ := probeFile(t, big)
	for _, s := range ss {
		if s.Type == "video" && (s.Codec != "h264" || !within480p(s)) {
			t.Errorf("video %s %dx%d, want h264, 16:9 within 480p (854x480), even sizes", s.Codec, s.Width, s.Height)
		}
	}
	if au := codecs(ss, "audio"); len(au) != 1 || au[0] != "aac" {
		t.Errorf("audio %v, want the aac track copied", au)
	}

	before := stamp(t, keep)
	dry := d.waitEnd(d.submitDryRun("hevc", keep), 60*time.Second)
	dr := resultOf(t, dry)
	if dry.Status != "completed" || dr.Outcome != "unchanged" {
		t.Fatalf("dry run %s %q: %+v; want unchanged", dry.Status, dry.Error, dr)
	}
	plan := d.planOf(dry.ID, dr.PlanID)
	if notes, _ := json.Marshal(plan["notes"]); !strings.Contains(string(notes), "codec_matches") {
		t.Errorf("dry-run plan %v; want a note naming skip_if codec_matches", plan)
	}
	j = d.waitEnd(d.submitKind("apply", "hevc", keep, 1), 60*time.Second)
	r := resultOf(t, j)
	if j.Status != "completed" || r.Outcome != "unchanged" || !strings.Contains(strings.Join(r.Notes, " "), "codec_matches") {
		t.Errorf("apply %s %q: %+v; want unchanged with the skip_if note", j.Status, j.Error, r)
	}
	if kids := d.childJobs(j.ID); len(kids) != 0 {
		t.Errorf("children %+v; a skipped transcode hands nothing off", kids)
	}
	if after := stamp(t, keep); after != before {
		t.Errorf("skipped file changed: %+v → %+v", before, after)
	}
}

// submitDryRun queues a dry-run apply job of one file.
func (d *daemon) submitDryRun(policy, path string) string {
	d.t.Helper()
	return d.submitBody(fmt.Sprintf(`{"kind":"apply","payload":{"policy":%q,"path":%q,"dry_run":true}}`, policy, path))
}

// TestTranscodeToMP4DropsSubtitle: an MKV with a subrip track converted
// to MP4 with a re-encode becomes an MP4 without the subtitle, and the
// plan says why it was dropped.
func TestTranscodeToMP4DropsSubtitle(t *testing.T) {
	d, pdir := startTranscoding(t, portTranscodeMP4Subs, "")
	writePolicy(t, pdir, "mp4.yaml", mp4HEVCPolicy)
	a := filepath.Join(d.dir, "lib", "a.mkv")
	makeClip(t, a, clip{width: 640, height: 360, seconds: 2, rate: 10,
		video: []string{"libx264", "-preset", "ultrafast"}, audio: []string{"aac"}, subs: true})
	j := d.waitEnd(d.submitKind("transcode", "mp4", a, 1), 120*time.Second)
	r := resultOf(t, j)
	want := filepath.Join(d.dir, "lib", "a.mp4")
	if j.Status != "completed" || r.Outcome != "applied" || r.NewPath != want {
		t.Fatalf("transcode %s %q: %+v; want applied, now %s", j.Status, j.Error, r, want)
	}
	if _, err := os.Stat(a); !os.IsNotExist(err) {
		t.Errorf("the mkv is still there (%v)", err)
	}
	ss, _ := probeFile(t, want)
	if v := codecs(ss, "video"); len(v) != 1 || v[0] != "hevc" {
		t.Errorf("video %v, want hevc", v)
	}
	if sub := codecs(ss, "subtitle"); len(sub) != 0 {
		t.Errorf("subtitles %v in the mp4, want none", sub)
	}
	plan := d.planOf(j.ID, r.PlanID)
	changes, _ := plan["changes"].([]any)
	var why string
	for _, c := range changes {
		m, _ := c.(map[string]any)
		if m["kind"] == "remove_track" && m["track_type"] == "subtitle" {
			why, _ = m["reason"].(string)
		}
	}
	if !strings.Contains(why, "mp4") {
		t.Errorf("plan changes %v; want the subtitle's removal with a reason naming mp4", changes)
	}
}

// TestTranscodeProgressVisible: while a longer encode runs, GET
// /api/jobs/{id} shows a percent strictly between 0 and 100 with a
// message (and eta_seconds when the API has the field).
func TestTranscodeProgressVisible(t *testing.T) {
	d, pdir := startTranscoding(t, portTranscodeProgress, "")
	writePolicy(t, pdir, "slow.yaml", slowH264Policy)
	a := filepath.Join(d.dir, "lib", "long.mkv")
	longClip(t, a)
	id := d.submitKind("transcode", "slow", a, 1)
	var mid *tjob
	deadline := time.Now().Add(5 * time.Minute)
	for mid == nil {
		j := d.tjob(id)
		if j.Status == "running" && j.ProgressPercent > 0 && j.ProgressPercent < 100 && j.ProgressMessage != "" {
			mid = &j
			break
		}
		if j.Status == "completed" || j.Status == "failed" || j.Status == "cancelled" || time.Now().After(deadline) {
			t.Fatalf("job %s %s (%q) without a reading strictly between 0 and 100\n%s", id, j.Status, j.Error, d.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("mid-encode reading: %.1f%% %q", mid.ProgressPercent, mid.ProgressMessage)
	if !strings.Contains(mid.ProgressMessage, "speed") {
		t.Errorf("progress message %q; want the encoder's speed and position", mid.ProgressMessage)
	}
	if raw, ok := mid.raw["eta_seconds"]; ok && string(raw) != "null" {
		var eta float64
		if err := json.Unmarshal(raw, &eta); err != nil || eta < 0 {
			t.Errorf("eta_seconds %s; want a number of seconds, not negative", raw)
		}
	}
	if j := d.waitEnd(id, 5*time.Minute); j.Status != "completed" {
		t.Fatalf("job %s %q", j.Status, j.Error)
	}
}

// TestTranscodeCancelMidEncode: cancelling a running encode through the
// API ends the job as cancelled, removes its temporary file, leaves the
// original byte for byte and leaves no ffmpeg writing the temporary file.
func TestTranscodeCancelMidEncode(t *testing.T) {
	d, pdir := startTranscoding(t, portTranscodeCancel, "")
	writePolicy(t, pdir, "slow.yaml", slowH264Policy)
	lib := filepath.Join(d.dir, "lib")
	a := filepath.Join(lib, "long.mkv")
	longClip(t, a)
	before := stamp(t, a)
	id := d.submitKind("transcode", "slow", a, 3)
	_, tmp := d.waitEncoding(id, lib, 5*time.Minute)
	if len(procsWith(tmp)) == 0 {
		t.Errorf("no process writes %s while the job encodes", tmp)
	}
	at := time.Now()
	if code, _, b := d.call(http.MethodPost, "/api/jobs/"+id+"/cancel", "", ""); code != http.StatusOK {
		t.Fatalf("cancel: %d %s", code, b)
	}
	j := d.waitEnd(id, time.Minute)
	t.Logf("cancel → %s in %v", j.Status, time.Since(at))
	if j.Status != "cancelled" {
		t.Fatalf("job %s %q, want cancelled", j.Status, j.Error)
	}
	waitNoProcs(t, tmp, 10*time.Second)
	if left := tempFiles(t, lib); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
	if after := stamp(t, a); after.sum != before.sum {
		t.Errorf("original changed by a cancelled encode")
	}
}

// TestTranscodeSIGKILLMidEncode: after a SIGKILL of vpo mid-encode the
// ffmpeg it started dies with it, the original is intact, the next start
// removes the orphaned temporary file, and the job, requeued when its
// lease expires, runs again to a transcoded result.
func TestTranscodeSIGKILLMidEncode(t *testing.T) {
	d, pdir := startTranscoding(t, portTranscodeKill, "\n[jobs]\nlease_duration = \"2s\"\n")
	writePolicy(t, pdir, "slow.yaml", slowH264Policy)
	lib := filepath.Join(d.dir, "lib")
	a := filepath.Join(lib, "long.mkv")
	longClip(t, a)
	before := stamp(t, a)
	id := d.submitKind("transcode", "slow", a, 3)
	_, tmp := d.waitEncoding(id, lib, 5*time.Minute)
	if err := d.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	d.wait(10 * time.Second)
	waitNoProcs(t, tmp, 10*time.Second)
	if after := stamp(t, a); after.sum != before.sum {
		t.Fatalf("original changed by a killed encode")
	}

	d2 := start(t, startOpts{dir: d.dir, port: d.port, wait: true,
		extra: fmt.Sprintf("\n[policies]\ndir = %q\nmin_file_age = \"0s\"\n\n[jobs]\nlease_duration = \"2s\"\n", pdir)})
	j := d2.waitEnd(id, 5*time.Minute)
	if j.Status != "completed" || j.Attempts < 2 {
		t.Fatalf("job after restart: %s after %d attempts %q; want completed by a second attempt", j.Status, j.Attempts, j.Error)
	}
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Errorf("orphaned temporary file %s still there (%v)", tmp, err)
	}
	if left := tempFiles(t, lib); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
	ss, _ := probeFile(t, a)
	if v := codecs(ss, "video"); len(v) != 1 || v[0] != "h264" {
		t.Errorf("video %v after the re-run, want h264", v)
	}
}

// fakeFFmpeg writes a PATH directory whose ffmpeg, when asked for
// -progress, writes two progress blocks and then hangs (in a child sleep
// marked by sleepMark); every other call goes to the real ffmpeg.
func fakeFFmpeg(t *testing.T, sleepMark string) string {
	t.Helper()
	real, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "bin")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	script := `#!/bin/sh
# A stuck encoder: it reports progress twice, then never again.
target=""
prev=""
for a in "$@"; do
  if [ "$prev" = "-progress" ]; then target="$a"; fi
  prev="$a"
done
if [ -z "$target" ]; then exec ` + real + ` "$@"; fi
block() {
  printf 'frame=%d\nfps=10.00\nout_time_us=%d000000\nout_time_ms=%d000000\nout_time=00:00:0%d.000000\nspeed=1.00x\nprogress=continue\n' "$1" "$2" "$2" "$2"
}
case "$target" in
  pipe:*) fd="${target#pipe:}"; [ "$fd" = "" ] && fd=1
          eval "block 10 1 >&$fd; block 20 2 >&$fd" ;;
  *) block 10 1 >>"$target"; block 20 2 >>"$target" ;;
esac
sleep ` + sleepMark + ` &
wait
`
	if err := os.WriteFile(filepath.Join(dir, "ffmpeg"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestTranscodeStallFailsJob: an encoder that stops reporting progress is
// stopped after jobs.stall_timeout: the job fails as stalled, the encoder
// and its child are gone, no temporary file is left and the original is
// intact.
func TestTranscodeStallFailsJob(t *testing.T) {
	needTools(t, "ffmpeg", "ffprobe")
	// The hung encoder's sleep, told apart from any other by this
	// process's id; whatever survives the test is killed at its end.
	mark := fmt.Sprintf("86399.%d", os.Getpid())
	t.Cleanup(func() {
		for _, pid := range procsWith("sleep " + mark) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	bin := fakeFFmpeg(t, mark)
	d, pdir := startTranscoding(t, portTranscodeStall, "", "PATH="+bin+":"+os.Getenv("PATH"), "VPO_JOBS_STALL_TIMEOUT=2s")
	writePolicy(t, pdir, "hevc.yaml", hevcPolicy)
	lib := filepath.Join(d.dir, "lib")
	a := filepath.Join(lib, "a.mkv")
	makeClip(t, a, clip{width: 640, height: 360, seconds: 2, rate: 10,
		video: []string{"libx264", "-preset", "ultrafast"}, audio: []string{"aac"}})
	before := stamp(t, a)
	j := d.waitEnd(d.submitKind("transcode", "hevc", a, 1), 2*time.Minute)
	if j.Status != "failed" || !strings.Contains(j.Error, "stalled: no progress for 2s") {
		t.Fatalf("job %s %q; want failed: stalled: no progress for 2s", j.Status, j.Error)
	}
	waitNoProcs(t, "sleep "+mark, 10*time.Second)
	waitNoProcs(t, filepath.Join(bin, "ffmpeg"), 10*time.Second)
	if left := tempFiles(t, lib); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
	if after := stamp(t, a); after != before {
		t.Errorf("original changed by a stalled encode")
	}
}

// TestTranscodeLimit: with jobs.limits transcode = 1 and two workers, two
// transcode jobs never run at once, and a scan submitted meanwhile
// completes while a transcode runs.
func TestTranscodeLimit(t *testing.T) {
	d, pdir := startTranscoding(t, portTranscodeLimits, "\n[jobs]\nworkers = 2\n\n[jobs.limits]\ntranscode = 1\n")
	writePolicy(t, pdir, "slow.yaml", slowH264Policy)
	lib := filepath.Join(d.dir, "lib")
	one, two := filepath.Join(lib, "one.mkv"), filepath.Join(lib, "two.mkv")
	longClip(t, one)
	longClip(t, two)
	scanDir := filepath.Join(d.dir, "scan")
	makeClip(t, filepath.Join(scanDir, "s.mkv"), clip{width: 160, height: 120, seconds: 1, rate: 10,
		video: []string{"libx264", "-preset", "ultrafast"}, audio: []string{"aac"}})
	ids := []string{d.submitKind("transcode", "slow", one, 1), d.submitKind("transcode", "slow", two, 1)}
	d.waitEncoding(ids[0], lib, 5*time.Minute)
	scan := d.submit("scan", fmt.Sprintf(`{"path":%q}`, scanDir))
	scanDone, transcodeDuringScan := false, false
	deadline := time.Now().Add(10 * time.Minute)
	for {
		running := d.runningOf("transcode")
		if len(running) > 1 {
			t.Fatalf("%d transcode jobs run at once: %+v", len(running), running)
		}
		if !scanDone {
			if s := d.job(scan.ID); s.Status == "completed" {
				scanDone, transcodeDuringScan = true, len(running) == 1
			} else if s.Status == "failed" || s.Status == "cancelled" {
				t.Fatalf("scan %s: %s", s.Status, s.Error)
			}
		}
		a, b := d.tjob(ids[0]), d.tjob(ids[1])
		if a.Status == "completed" && b.Status == "completed" {
			break
		}
		if a.Status == "failed" || b.Status == "failed" || time.Now().After(deadline) {
			t.Fatalf("transcodes %s %q, %s %q\n%s", a.Status, a.Error, b.Status, b.Error, d.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !scanDone || !transcodeDuringScan {
		t.Errorf("scan completed: %v, while a transcode ran: %v; want the scan done beside the running transcode", scanDone, transcodeDuringScan)
	}
}
