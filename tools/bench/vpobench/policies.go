package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// fakeFFProbeJSON is what the fake ffprobe of the dry-run benchmark prints
// for every file: a realistic answer for a film with one video, three
// audio (eng, fre, jpn) and two subtitle tracks.
const fakeFFProbeJSON = `{"streams":[` +
	`{"index":0,"codec_name":"h264","codec_type":"video","width":1920,"height":1080,"r_frame_rate":"24000/1001","disposition":{"default":1,"forced":0},"tags":{"language":"und"}},` +
	`{"index":1,"codec_name":"eac3","codec_type":"audio","channels":6,"channel_layout":"5.1(side)","sample_rate":"48000","disposition":{"default":1,"forced":0},"tags":{"language":"eng","title":"English 5.1"}},` +
	`{"index":2,"codec_name":"ac3","codec_type":"audio","channels":6,"channel_layout":"5.1(side)","sample_rate":"48000","disposition":{"default":0,"forced":0},"tags":{"language":"fre","title":"Français"}},` +
	`{"index":3,"codec_name":"aac","codec_type":"audio","channels":2,"channel_layout":"stereo","sample_rate":"48000","disposition":{"default":0,"forced":0},"tags":{"language":"jpn"}},` +
	`{"index":4,"codec_name":"subrip","codec_type":"subtitle","disposition":{"default":0,"forced":0},"tags":{"language":"eng"}},` +
	`{"index":5,"codec_name":"subrip","codec_type":"subtitle","disposition":{"default":0,"forced":1},"tags":{"language":"fre","title":"Forced"}}],` +
	`"format":{"filename":"x.mkv","nb_streams":6,"format_name":"matroska,webm","duration":"2640.512000","size":"2147483648","bit_rate":"6505000"}}`

// dropJapanesePolicy removes the jpn audio track of the files above (and
// of the generated film of the overhead benchmark).
const dropJapanesePolicy = "schema_version: 13\ndescription: drop the Japanese audio track\nphases:\n" +
	"  - name: filter\n    keep_audio:\n      languages: [eng, fre]\n"

// frenchDefaultPolicy only moves the default audio flag from eng to fre.
const frenchDefaultPolicy = "schema_version: 13\nconfig:\n  audio_languages: [fre]\nphases:\n" +
	"  - name: flags\n    default_flags:\n      set_preferred_audio_default: true\n      clear_other_defaults: true\n"

// toMP4Policy converts to MP4 without re-encoding.
const toMP4Policy = "schema_version: 13\nphases:\n  - name: convert\n    container:\n      target: mp4\n"

// dryRunResult is the dry-run benchmark: a directory dry run of an
// already-scanned library.
type dryRunResult struct {
	Files      int
	Runs       []time.Duration // submit → completed
	Jobs       []time.Duration // the job's started → finished
	Counts     map[string]int  // the last run's result
	ScanWall   time.Duration   // the first scan (fake ffprobe per file)
	RescanWall time.Duration   // a rescan of the unchanged library
	FindStat   time.Duration   // find -type f -printf %s%T@, median of 10
	Probes     int             // fake ffprobe runs during the first scan
}

// overheadCase is one change made by the daemon's apply and by hand.
type overheadCase struct {
	Name, Policy, Executor string
	Daemon, Job, Hand      []time.Duration
	// Fsync, Probe and Identify time, by hand, the steps the daemon adds
	// to the tool: fsync of the result, ffprobe of the result (the
	// verification) and mkvmerge -J of the source (track IDs; not for
	// ffmpeg).
	Fsync, Probe, Identify []time.Duration
	// Bench is the executor-only benchmark of the same change
	// (services/vpo/internal/apply) and Ratio its apply/raw.
	Bench string
	Ratio float64
}

// makeFakeLibrary writes n tiny .mkv files, 100 per directory.
func makeFakeLibrary(root string, n int) error {
	const perDir = 100
	for i := 0; i < n; i++ {
		dir := filepath.Join(root, fmt.Sprintf("show-%03d", i/(perDir*10)), fmt.Sprintf("season-%02d", (i/perDir)%10))
		if i%perDir == 0 {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("episode-%06d.mkv", i)), []byte("fake mkv"), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// measureDryRun scans a library of fake files with a fake ffprobe (so the
// probes are stored without real media), then times directory dry runs of
// a policy that removes one audio track, checking that none of them runs
// ffprobe. Baselines: a rescan of the same unchanged library and find.
func measureDryRun(ctx context.Context, o options, rep *report) error {
	dir := filepath.Join(o.work, "dryrun")
	root := filepath.Join(dir, "library")
	bin := filepath.Join(dir, "bin")
	calls := filepath.Join(dir, "ffprobe-calls")
	pdir := filepath.Join(dir, "policies")
	for _, d := range []string{bin, pdir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	logf("generating %d fake video files", o.policyFiles)
	if err := makeFakeLibrary(root, o.policyFiles); err != nil {
		return err
	}
	script := "#!/bin/sh\necho x >> '" + calls + "'\nprintf '%s\\n' '" + fakeFFProbeJSON + "'\n"
	if err := os.WriteFile(filepath.Join(bin, "ffprobe"), []byte(script), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(pdir, "drop-jpn.yaml"), []byte(dropJapanesePolicy), 0o644); err != nil {
		return err
	}
	probes := func() (int, error) {
		b, err := os.ReadFile(calls)
		if errors.Is(err, os.ErrNotExist) {
			return 0, nil
		}
		return bytes.Count(b, []byte("x")), err
	}
	res := &dryRunResult{Files: o.policyFiles}
	var err error
	if res.FindStat, err = hyperfineMedian(ctx, o.work, "find "+root+" -type f -printf %s%T@"); err != nil {
		return err
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	s, err := startServer(o.vpo, []string{"serve"}, vpoEnv(dir, port, "PATH="+bin, "VPO_POLICIES_DIR="+pdir),
		filepath.Join(dir, "vpo.log"))
	if err != nil {
		return err
	}
	defer s.kill()
	if _, err := waitOK(ctx, base+"/health", s.exited, 30*time.Second); err != nil {
		return err
	}
	scan, err := runScan(ctx, base, root)
	if err != nil {
		return fmt.Errorf("scan with the fake ffprobe: %w", err)
	}
	res.ScanWall = scan.Wall
	if res.Probes, err = probes(); err != nil {
		return err
	}
	if res.Probes != o.policyFiles {
		return fmt.Errorf("the scan ran the fake ffprobe %d times for %d files", res.Probes, o.policyFiles)
	}
	rescan, err := runScan(ctx, base, root)
	if err != nil {
		return fmt.Errorf("rescan: %w", err)
	}
	res.RescanWall = rescan.Wall
	logf("dry run: scan %s (%d fake probes), rescan %s, find with stat %s", ms(res.ScanWall), res.Probes, ms(res.RescanWall), ms(res.FindStat))
	for i := 0; i < 3; i++ {
		before, err := probes()
		if err != nil {
			return err
		}
		j, err := runJob(ctx, base, "apply", map[string]any{"policy": "drop-jpn", "path": root, "dry_run": true}, 10*time.Millisecond)
		if err != nil {
			return fmt.Errorf("dry run: %w", err)
		}
		after, err := probes()
		if err != nil {
			return err
		}
		if after != before {
			return fmt.Errorf("the dry run of an already-scanned library ran ffprobe %d times", after-before)
		}
		if err := json.Unmarshal(j.Result, &res.Counts); err != nil {
			return fmt.Errorf("dry run result %s: %w", j.Result, err)
		}
		if res.Counts["files"] != o.policyFiles || res.Counts["planned"] != o.policyFiles {
			return fmt.Errorf("dry run result %s: want %d files, all planned", j.Result, o.policyFiles)
		}
		res.Runs, res.Jobs = append(res.Runs, j.Wall), append(res.Jobs, j.Job)
		logf("dry run %d: %s (job %s), %s", i+1, ms(j.Wall), ms(j.Job), j.Result)
	}
	rep.dryRun = res
	_, err = s.stop(60 * time.Second)
	return err
}

// jobRun is a job run to completion through the API.
type jobRun struct {
	Wall   time.Duration // POST → completed seen by polling
	Job    time.Duration // started_at → finished_at
	Result json.RawMessage
}

// runJob submits a job and polls it every poll until it completes.
func runJob(ctx context.Context, base, kind string, payload any, poll time.Duration) (jobRun, error) {
	body, err := json.Marshal(map[string]any{"kind": kind, "payload": payload})
	if err != nil {
		return jobRun{}, err
	}
	t0 := time.Now()
	resp, err := http.Post(base+"/api/jobs", "application/json", bytes.NewReader(body))
	if err != nil {
		return jobRun{}, err
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var j struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(b, &j); err != nil || resp.StatusCode != http.StatusCreated {
		return jobRun{}, fmt.Errorf("submit %s job: %d %s", kind, resp.StatusCode, b)
	}
	for {
		var job struct {
			Status     string          `json:"status"`
			Error      string          `json:"error"`
			StartedAt  *time.Time      `json:"started_at"`
			FinishedAt *time.Time      `json:"finished_at"`
			Result     json.RawMessage `json:"result"`
		}
		resp, err := http.Get(base + "/api/jobs/" + j.ID)
		if err != nil {
			return jobRun{}, err
		}
		err = json.NewDecoder(resp.Body).Decode(&job)
		resp.Body.Close()
		if err != nil {
			return jobRun{}, err
		}
		switch job.Status {
		case "completed":
			r := jobRun{Wall: time.Since(t0), Result: job.Result}
			if job.StartedAt != nil && job.FinishedAt != nil {
				r.Job = job.FinishedAt.Sub(*job.StartedAt)
			}
			return r, nil
		case "failed", "cancelled":
			return jobRun{}, fmt.Errorf("%s job %s %s: %s", kind, j.ID, job.Status, job.Error)
		}
		select {
		case <-ctx.Done():
			return jobRun{}, ctx.Err()
		case <-time.After(poll):
		}
	}
}

// makeFilm writes a 30 s, 640x360 MKV with three audio tracks (eng
// default, fre, jpn) with ffmpeg.
func makeFilm(ctx context.Context, path string) error {
	args := []string{"-nostdin", "-v", "error", "-y",
		"-f", "lavfi", "-i", "testsrc=size=640x360:rate=25:duration=30",
		"-f", "lavfi", "-i", "sine=frequency=440:duration=30",
		"-f", "lavfi", "-i", "sine=frequency=550:duration=30",
		"-f", "lavfi", "-i", "sine=frequency=660:duration=30",
		"-map", "0", "-map", "1", "-map", "2", "-map", "3",
		"-c:v", "libx264", "-preset", "ultrafast", "-b:v", "1500k", "-c:a", "aac", "-b:a", "128k",
		"-metadata:s:a:0", "language=eng", "-metadata:s:a:1", "language=fre", "-metadata:s:a:2", "language=jpn",
		"-disposition:a:0", "default", "-disposition:a:1", "0", "-disposition:a:2", "0", path}
	if out, err := exec.CommandContext(ctx, "ffmpeg", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("ffmpeg: %w: %s", err, out)
	}
	return nil
}

// copyFile copies src to dst, gives it mtime and fsyncs it, so that the
// copy is on disk like a file of a library (an fsync of the measured
// run then flushes only what that run wrote).
func copyFile(src, dst string, mtime time.Time) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(dst, data, 0o644); err != nil {
		return err
	}
	if err := os.Chtimes(dst, mtime, mtime); err != nil {
		return err
	}
	return fsyncFile(dst)
}

// fsyncFile fsyncs the file at path.
func fsyncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// timeTool runs argv and returns how long it took.
func timeTool(ctx context.Context, argv []string) (time.Duration, error) {
	t0 := time.Now()
	if out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput(); err != nil {
		return 0, fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, out)
	}
	return time.Since(t0), nil
}

// measureApplyOverhead times, on a fresh copy of one generated film per
// run, the daemon's apply of a policy (through the API: submit →
// completed, the file scanned beforehand as in a library) against the
// same change made by hand with the tool, for the three executors; and
// runs the executor-only benchmarks of services/vpo/internal/apply.
func measureApplyOverhead(ctx context.Context, o options, rep *report) error {
	for _, tool := range []string{"ffmpeg", "ffprobe", "mkvmerge", "mkvpropedit"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s is not installed (apt-get install ffmpeg mkvtoolnix)", tool)
		}
	}
	dir := filepath.Join(o.work, "overhead")
	pdir := filepath.Join(dir, "policies")
	if err := os.MkdirAll(pdir, 0o755); err != nil {
		return err
	}
	film := filepath.Join(dir, "film.mkv")
	logf("generating a 30 s 640x360 film with three audio tracks")
	if err := makeFilm(ctx, film); err != nil {
		return err
	}
	if fi, err := os.Stat(film); err == nil {
		rep.filmSize = fi.Size()
	}
	cases := []*overheadCase{
		{Name: "remove one audio track", Policy: "drop-jpn", Executor: "mkvmerge", Bench: "Mkvmerge"},
		{Name: "move the default audio flag", Policy: "fre-default", Executor: "mkvpropedit", Bench: "Mkvpropedit"},
		{Name: "convert MKV to MP4 (-c copy)", Policy: "to-mp4", Executor: "ffmpeg", Bench: "FFmpeg"},
	}
	for name, body := range map[string]string{"drop-jpn": dropJapanesePolicy, "fre-default": frenchDefaultPolicy, "to-mp4": toMP4Policy} {
		if err := os.WriteFile(filepath.Join(pdir, name+".yaml"), []byte(body), 0o644); err != nil {
			return err
		}
	}
	hand := map[string]func(src, out string) []string{
		"mkvmerge": func(src, out string) []string {
			return []string{"mkvmerge", "--quiet", "--output", out, "--audio-tracks", "1,2", src}
		},
		"mkvpropedit": func(src, _ string) []string {
			return []string{"mkvpropedit", "--quiet", src, "--edit", "track:a1", "--set", "flag-default=0",
				"--edit", "track:a2", "--set", "flag-default=1"}
		},
		"ffmpeg": func(src, out string) []string {
			return []string{"ffmpeg", "-nostdin", "-v", "error", "-y", "-i", src, "-map", "0", "-c", "copy", "-f", "mp4", out}
		},
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	path := os.Getenv("PATH")
	s, err := startServer(o.vpo, []string{"serve"}, vpoEnv(dir, port, "PATH="+path, "VPO_POLICIES_DIR="+pdir,
		"VPO_POLICIES_MIN_FILE_AGE=0s"), filepath.Join(dir, "vpo.log"))
	if err != nil {
		return err
	}
	defer s.kill()
	if _, err := waitOK(ctx, base+"/health", s.exited, 30*time.Second); err != nil {
		return err
	}
	old := time.Now().Add(-time.Hour)
	for _, c := range cases {
		for i := 0; i < o.applyRuns; i++ {
			// The daemon: a fresh copy, scanned (not timed), then applied.
			lib := filepath.Join(dir, fmt.Sprintf("daemon-%s-%d", c.Policy, i))
			target := filepath.Join(lib, "film.mkv")
			if err := copyFile(film, target, old); err != nil {
				return err
			}
			if _, err := runJob(ctx, base, "scan", map[string]any{"path": lib}, 5*time.Millisecond); err != nil {
				return fmt.Errorf("scan %s: %w", lib, err)
			}
			j, err := runJob(ctx, base, "apply", map[string]any{"policy": c.Policy, "path": target}, 5*time.Millisecond)
			if err != nil {
				return fmt.Errorf("%s: %w", c.Name, err)
			}
			var out struct {
				Outcome  string `json:"outcome"`
				Executor string `json:"executor"`
			}
			if err := json.Unmarshal(j.Result, &out); err != nil || out.Outcome != "applied" || out.Executor != c.Executor {
				return fmt.Errorf("%s: apply result %s, want applied by %s", c.Name, j.Result, c.Executor)
			}
			c.Daemon, c.Job = append(c.Daemon, j.Wall), append(c.Job, j.Job)
			if err := os.RemoveAll(lib); err != nil {
				return err
			}

			// By hand: a fresh copy, the tool.
			hdir := filepath.Join(dir, fmt.Sprintf("hand-%s-%d", c.Policy, i))
			src := filepath.Join(hdir, "film.mkv")
			if err := copyFile(film, src, old); err != nil {
				return err
			}
			result := filepath.Join(hdir, "out"+map[bool]string{true: ".mp4", false: ".mkv"}[c.Executor == "ffmpeg"])
			if c.Executor == "mkvpropedit" {
				result = src
			}
			argv := hand[c.Executor](src, result)
			d, err := timeTool(ctx, argv)
			if err != nil {
				return fmt.Errorf("%s by hand: %w", c.Name, err)
			}
			c.Hand = append(c.Hand, d)
			// What the daemon does on top, alone: fsync the result, probe it.
			t0 := time.Now()
			if err := fsyncFile(result); err != nil {
				return err
			}
			c.Fsync = append(c.Fsync, time.Since(t0))
			if d, err = timeTool(ctx, []string{"ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams", "--", result}); err != nil {
				return err
			}
			c.Probe = append(c.Probe, d)
			if c.Executor != "ffmpeg" {
				if d, err = timeTool(ctx, []string{"mkvmerge", "-J", film}); err != nil {
					return err
				}
				c.Identify = append(c.Identify, d)
			}
			if err := os.RemoveAll(hdir); err != nil {
				return err
			}
		}
		logf("apply overhead, %s: daemon %s (job %s), by hand %s", c.Name, ms(median(c.Daemon)), ms(median(c.Job)), ms(median(c.Hand)))
	}
	if _, err := s.stop(60 * time.Second); err != nil {
		return err
	}
	if err := executorBench(ctx, o, cases); err != nil {
		return err
	}
	rep.overhead = cases
	return nil
}

var applyBenchLine = regexp.MustCompile(`(?m)^BenchmarkApply(\w+?)(?:-\d+)?\s+\d+\s+([0-9.]+) ns/op.*?\s([0-9.]+) apply/raw`)

// executorBench runs services/vpo/internal/apply's BenchmarkApply* (an
// Apply against the same tool command run by hand in the same loop) and
// stores their apply/raw ratios in cases.
func executorBench(ctx context.Context, o options, cases []*overheadCase) error {
	cmd := exec.CommandContext(ctx, "go", "test", "-run", "^$", "-bench", "^BenchmarkApply(Mkvmerge|Mkvpropedit|FFmpeg)$",
		"-benchtime", strconv.Itoa(o.applyRuns)+"x", "-count", "1", "./services/vpo/internal/apply")
	cmd.Dir = o.repo
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go test -bench BenchmarkApply: %w\n%s", err, out)
	}
	found := 0
	for _, m := range applyBenchLine.FindAllStringSubmatch(string(out), -1) {
		for _, c := range cases {
			if c.Bench == m[1] {
				c.Ratio, _ = strconv.ParseFloat(m[3], 64)
				found++
			}
		}
	}
	if found != len(cases) {
		return fmt.Errorf("apply/raw of %d of %d executors in the benchmark output:\n%s", found, len(cases), out)
	}
	return nil
}
