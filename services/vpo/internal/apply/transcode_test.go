package apply_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/vpo-project/vpo/libs/media"
	"github.com/vpo-project/vpo/libs/policy"
	"github.com/vpo-project/vpo/services/vpo/internal/apply"
	"github.com/vpo-project/vpo/services/vpo/internal/proc"
)

func intp(n int) *int { return &n }

// runFFmpeg runs ffmpeg with args and fails the test unless it exits 0.
func runFFmpeg(t testing.TB, args ...string) {
	t.Helper()
	res, err := proc.Run(context.Background(), proc.Cmd{Path: "ffmpeg", Args: args, MaxStderr: 8 << 10})
	if err == nil && res.Exit != nil {
		err = fmt.Errorf("%v: %s", res.Exit, res.Stderr)
	}
	if err != nil {
		t.Fatalf("ffmpeg %s: %v", strings.Join(args, " "), err)
	}
}

// makeClip writes an H.264 clip of the given size and seconds at path
// (its container from the extension) with a 440 Hz AAC track, a 660 Hz
// FLAC track (MKV only) and, with srt, an English subtitle.
func makeClip(t testing.TB, path, size string, seconds int, srt bool) {
	t.Helper()
	needTools(t, "ffmpeg", "ffprobe")
	d := strconv.Itoa(seconds)
	args := []string{"-nostdin", "-v", "error", "-y",
		"-f", "lavfi", "-i", "testsrc=size=" + size + ":rate=25:duration=" + d,
		"-f", "lavfi", "-i", "sine=frequency=440:duration=" + d,
		"-f", "lavfi", "-i", "sine=frequency=660:duration=" + d}
	maps := []string{"-map", "0", "-map", "1"}
	mkv := strings.HasSuffix(path, ".mkv")
	if mkv {
		maps = append(maps, "-map", "2")
	}
	if srt {
		sub := filepath.Join(t.TempDir(), "en.srt")
		if err := os.WriteFile(sub, []byte("1\n00:00:00,000 --> 00:00:01,500\nHello\n\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, "-i", sub)
		maps = append(maps, "-map", "3", "-c:s", "srt", "-metadata:s:s:0", "language=eng")
	}
	args = append(args, maps...)
	args = append(args, "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a:0", "aac", "-b:a:0", "96k",
		"-metadata:s:a:0", "language=eng")
	if mkv {
		args = append(args, "-c:a:1", "flac", "-metadata:s:a:1", "language=fre")
	}
	args = append(args, path)
	runFFmpeg(t, args...)
	old := time.Date(2024, 3, 4, 5, 6, 7, 0, time.UTC)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
}

// encodeVideo re-encodes the first video track of ts to HEVC (CRF 30,
// ultrafast), scaled to w x h when w > 0.
func encodeVideo(w, h int) func(ts []policy.TargetTrack) []policy.TargetTrack {
	return func(ts []policy.TargetTrack) []policy.TargetTrack {
		for i := range ts {
			if ts[i].Type == "video" {
				ts[i].Codec = "hevc"
				ts[i].Encode = &policy.Encode{Codec: "hevc", CRF: intp(30), Preset: "ultrafast"}
				if w > 0 {
					ts[i].Width, ts[i].Height = w, h
					ts[i].Encode.Scale, ts[i].Encode.ScaleAlgorithm = true, "lanczos"
				}
				break
			}
		}
		return ts
	}
}

// progressLog records Request.Progress calls.
type progressLog struct {
	mu       sync.Mutex
	percents []float64
	messages []string
	etas     []time.Duration
}

func (p *progressLog) report(percent float64, msg string, eta time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.percents = append(p.percents, percent)
	p.messages = append(p.messages, msg)
	p.etas = append(p.etas, eta)
}

// check fails unless at least one report came, percents never went back
// and the last was 100 with no time left.
func (p *progressLog) check(t *testing.T) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.percents)
	if n == 0 {
		t.Fatal("no progress reported")
	}
	for i := 1; i < n; i++ {
		if p.percents[i] < p.percents[i-1] {
			t.Errorf("progress went back: %v", p.percents)
		}
	}
	if p.percents[n-1] != 100 || p.etas[n-1] != 0 {
		t.Errorf("last report %v%% eta %v, want 100%% and 0", p.percents[n-1], p.etas[n-1])
	}
	if !strings.Contains(p.messages[n-1], " of 00:00:0") {
		t.Errorf("message %q lacks the duration", p.messages[n-1])
	}
}

func TestTranscodeMKVToHEVCScaled(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "clip.mkv")
	made := filepath.Join(t.TempDir(), "made.mkv")
	makeClip(t, made, "640x480", 2, true)
	// Through mkvmerge, which tags every track with its statistics.
	needTools(t, "mkvmerge")
	if out, err := exec.Command("mkvmerge", "--quiet", "-o", path, made).CombinedOutput(); err != nil {
		t.Fatalf("mkvmerge: %v: %s", err, out)
	}
	e, jdir := newExecutor(t, nil)
	req := request(t, e, path, "mkv", func(ts []policy.TargetTrack) []policy.TargetTrack {
		ts = encodeVideo(320, 240)(ts)
		// AAC → Opus; FLAC and the subtitle copied.
		ts[1].Codec = "opus"
		ts[1].Encode = &policy.Encode{Codec: "opus", Bitrate: 64000}
		return ts
	})
	var prog progressLog
	req.Progress = prog.report
	res, err := e.Apply(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if res.Executor != apply.ExecutorTranscode || res.Encoder != "libx265" || res.HW != "none" || res.Path != path {
		t.Errorf("result %+v", res)
	}
	got := probeCheck(t, e, path, req.Plan.Target, req.Source)
	want := []string{"video/hevc 320x240", "audio/opus 0x0", "audio/flac 0x0", "subtitle/subrip 0x0"}
	for i, s := range got.Streams {
		if d := fmt.Sprintf("%s/%s %dx%d", s.Type, s.Codec, s.Width, s.Height); i >= len(want) || d != want[i] {
			t.Errorf("stream %d: %s, want %v", i, d, want)
		}
	}
	if d := got.Duration - req.Source.Duration; d < -500*time.Millisecond || d > 500*time.Millisecond {
		t.Errorf("duration %v, source %v", got.Duration, req.Source.Duration)
	}
	if got.Streams[1].Language != "eng" || got.Streams[2].Language != "fre" {
		t.Errorf("languages %q %q", got.Streams[1].Language, got.Streams[2].Language)
	}
	prog.check(t)
	assertClean(t, dir, jdir)
	// The encoded tracks lost the source's statistics; a copied one keeps
	// them.
	var raw struct {
		Streams []struct {
			Tags map[string]string `json:"tags"`
		} `json:"streams"`
	}
	if err := json.Unmarshal(res.AfterProbe, &raw); err != nil {
		t.Fatal(err)
	}
	for i, want := range []bool{false, false, true} {
		if _, ok := raw.Streams[i].Tags["NUMBER_OF_FRAMES"]; ok != want {
			t.Errorf("stream %d NUMBER_OF_FRAMES tag: %v, want %v (tags %v)", i, ok, want, raw.Streams[i].Tags)
		}
	}
}

func TestTranscodeMP4H264Scaled(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "clip.mp4")
	makeClip(t, path, "640x480", 2, false)
	e, jdir := newExecutor(t, nil)
	req := request(t, e, path, "mp4", func(ts []policy.TargetTrack) []policy.TargetTrack {
		ts[0].Width, ts[0].Height = 480, 360
		ts[0].Encode = &policy.Encode{Codec: "h264", CRF: intp(28), Preset: "ultrafast", Tune: "fastdecode", Scale: true, ScaleAlgorithm: "bilinear"}
		return ts
	})
	res, err := e.Apply(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if res.Encoder != "libx264" || res.Path != path {
		t.Errorf("result %+v", res)
	}
	got := probeCheck(t, e, path, req.Plan.Target, req.Source)
	if v := got.Streams[0]; v.Codec != "h264" || v.Width != 480 || v.Height != 360 {
		t.Errorf("video %+v", v)
	}
	assertClean(t, dir, jdir)
}

func TestTranscodeMKVToMP4DroppingSubtitles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "clip.mkv")
	makeClip(t, path, "320x240", 2, true)
	e, jdir := newExecutor(t, nil)
	req := request(t, e, path, "mp4", func(ts []policy.TargetTrack) []policy.TargetTrack {
		ts = encodeVideo(0, 0)(pick(ts, 0, 1, 2))
		// MP4 marks the first track of each type default when none is.
		ts[0].Default, ts[1].Default, ts[2].Default = true, true, false
		return ts
	})
	res, err := e.Apply(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	mp4 := filepath.Join(dir, "clip.mp4")
	if res.Path != mp4 || res.Executor != apply.ExecutorTranscode {
		t.Errorf("result %+v", res)
	}
	got := probeCheck(t, e, mp4, req.Plan.Target, req.Source)
	if len(got.Streams) != 3 || got.Streams[0].Codec != "hevc" || got.Streams[2].Codec != "flac" {
		t.Errorf("streams %+v", got.Streams)
	}
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Errorf("the MKV original is still there: %v", err)
	}
	assertClean(t, dir, jdir)
}

func TestTranscodeVerifiesTheSize(t *testing.T) {
	path := fixture(t, fixtureMKV)
	orig := sum(t, path)
	e, jdir := newExecutor(t, nil)
	// The target says 320x240, but nothing scales the 160x120 video.
	req := request(t, e, path, "mkv", func(ts []policy.TargetTrack) []policy.TargetTrack {
		ts = encodeVideo(0, 0)(ts)
		ts[0].Width, ts[0].Height = 320, 240
		return ts
	})
	_, err := e.Apply(context.Background(), req)
	if !errors.Is(err, apply.ErrVerify) || !strings.Contains(err.Error(), `width is "160", the target has "320"`) {
		t.Fatalf("error %v, want ErrVerify naming the width", err)
	}
	if sum(t, path) != orig {
		t.Error("the original changed")
	}
	assertClean(t, filepath.Dir(path), jdir)
}

func TestTranscodeRefusesBadPlans(t *testing.T) {
	path := fixture(t, fixtureMKV)
	e, _ := newExecutor(t, nil)
	for _, tc := range []struct {
		name string
		edit func(ts []policy.TargetTrack) []policy.TargetTrack
		want string
	}{
		{"codec change without encode", func(ts []policy.TargetTrack) []policy.TargetTrack {
			ts[0].Codec = "hevc"
			return ts
		}, "the target wants video/hevc without re-encoding it"},
		{"encode to another codec than the target's", func(ts []policy.TargetTrack) []policy.TargetTrack {
			ts[0].Encode = &policy.Encode{Codec: "hevc"}
			return ts
		}, `encoded to "hevc", but the target's codec is "h264"`},
		{"encoded subtitle", func(ts []policy.TargetTrack) []policy.TargetTrack {
			ts[4].Codec = "ass"
			ts[4].Encode = &policy.Encode{Codec: "ass"}
			return ts
		}, "a subtitle track (source stream 4) cannot be re-encoded"},
		{"unknown preset", func(ts []policy.TargetTrack) []policy.TargetTrack {
			ts = encodeVideo(0, 0)(ts)
			ts[0].Encode.Preset = "warp"
			return ts
		}, `preset "warp"`},
		{"denied ffmpeg arg", func(ts []policy.TargetTrack) []policy.TargetTrack {
			ts = encodeVideo(0, 0)(ts)
			ts[0].Encode.FFmpegArgs = []string{"-f", "avi"}
			return ts
		}, `"-f" is refused: vpo chooses the output format`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.Apply(context.Background(), request(t, e, path, "mkv", tc.edit))
			if !errors.Is(err, apply.ErrPermanent) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want a permanent one saying %q", err, tc.want)
			}
		})
	}
}

func TestTranscodeHardwareUnavailable(t *testing.T) {
	path := fixture(t, fixtureMKV)
	jdir := filepath.Join(t.TempDir(), "journal")
	// No device nodes at all.
	e, err := apply.New(apply.Options{JournalDir: jdir, DevRoot: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	hw := func(fallback bool) func(ts []policy.TargetTrack) []policy.TargetTrack {
		return func(ts []policy.TargetTrack) []policy.TargetTrack {
			ts = encodeVideo(0, 0)(ts)
			ts[0].Encode.HW, ts[0].Encode.HWFallback = policy.HWVAAPI, fallback
			return ts
		}
	}
	_, err = e.Apply(context.Background(), request(t, e, path, "mkv", hw(false)))
	if !errors.Is(err, apply.ErrPermanent) || !strings.Contains(err.Error(), "hw vaapi cannot encode hevc here") {
		t.Fatalf("error %v, want a permanent one naming vaapi", err)
	}
	res, err := e.Apply(context.Background(), request(t, e, path, "mkv", hw(true)))
	if err != nil {
		t.Fatal(err)
	}
	if res.HW != "none" || res.Encoder != "libx265" {
		t.Errorf("result %+v, want software libx265", res)
	}
}

func TestTranscodeNeedsSpace(t *testing.T) {
	path := fixture(t, fixtureMKV)
	e, _ := newExecutor(t, nil)
	var asked []string
	apply.SetFreeSpace(e, func(dir string) (uint64, error) {
		asked = append(asked, dir)
		return 100 << 20, nil
	})
	// 1 Gbit/s for 2 s is 250 MB: more than the 100 MiB free.
	req := request(t, e, path, "mkv", func(ts []policy.TargetTrack) []policy.TargetTrack {
		ts = encodeVideo(0, 0)(ts)
		ts[0].Encode.CRF, ts[0].Encode.Bitrate = nil, 1_000_000_000
		for i := range ts[1:4] {
			ts[1+i].Codec = "opus"
			ts[1+i].Encode = &policy.Encode{Codec: "opus", Bitrate: 64_000}
		}
		return ts
	})
	_, err := e.Apply(context.Background(), req)
	if !errors.Is(err, apply.ErrNoSpace) || !strings.Contains(err.Error(), "a re-encode at 1000192000 bit/s") {
		t.Fatalf("error %v, want ErrNoSpace for the bitrate", err)
	}
	// At a constant quality: the file's size + 5% + 64 MiB fits.
	req = request(t, e, path, "mkv", encodeVideo(0, 0))
	if _, err := e.Apply(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if len(asked) != 2 || asked[0] != filepath.Dir(path) {
		t.Errorf("free space asked of %v", asked)
	}
}

// TestTranscodeCancel cancels a real encode after its first progress
// report: Apply returns, ffmpeg's whole group is gone, the temporary file
// is removed and the original is as it was. At that report ffmpeg runs at
// the niceness set by SetNice (its threads at least that: x265 lowers its
// lookahead threads' priority itself), every thread in the idle I/O class.
func TestTranscodeCancel(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "long.mkv")
	makeClip(t, path, "640x480", 20, false)
	orig := sum(t, path)
	// ffmpeg through a wrapper that records its process group.
	bin := t.TempDir()
	pidFile := filepath.Join(bin, "pid")
	wrapper := filepath.Join(bin, "ffmpeg")
	if err := os.WriteFile(wrapper, []byte("#!/bin/sh\necho $$ > "+pidFile+"\nexec ffmpeg \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	jdir := filepath.Join(t.TempDir(), "journal")
	e, err := apply.New(apply.Options{JournalDir: jdir, Tools: apply.Tools{FFmpeg: wrapper}, Nice: 5})
	if err != nil {
		t.Fatal(err)
	}
	req := request(t, e, path, "mkv", func(ts []policy.TargetTrack) []policy.TargetTrack {
		ts = encodeVideo(0, 0)(ts)
		ts[0].Encode.Preset = "medium"
		return ts
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e.SetNice(7)
	reports := 0
	var tempSeen bool
	var priorities []threadPriority
	req.Progress = func(float64, string, time.Duration) {
		reports++
		priorities = threadPriorities(t, pidFile)
		for _, n := range names(t, dir) {
			tempSeen = tempSeen || strings.Contains(n, ".vpo-tmp-")
		}
		cancel()
	}
	done := make(chan error, 1)
	go func() {
		_, err := e.Apply(ctx, req)
		done <- err
	}()
	select {
	case err = <-done:
	case <-time.After(2 * time.Minute):
		t.Fatal("Apply did not return within 2 minutes of the start")
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	if reports == 0 || !tempSeen {
		t.Fatalf("%d progress reports, temporary file seen: %v", reports, tempSeen)
	}
	if len(priorities) == 0 {
		t.Error("no ffmpeg thread seen")
	}
	for i, p := range priorities {
		if p.nice < 7 || i == 0 && p.nice != 7 || p.ioprio != proc.IdlePriority {
			t.Errorf("ffmpeg's thread %d has nice %d and I/O priority %#x, want nice 7 (at least, past the main thread) and the idle I/O class %#x",
				p.tid, p.nice, p.ioprio, proc.IdlePriority)
		}
	}
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pgid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(-pgid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("ffmpeg's process group %d: %v, want it gone", pgid, err)
	}
	if sum(t, path) != orig {
		t.Error("the original changed")
	}
	assertClean(t, dir, jdir)
	if n := names(t, dir); len(n) != 1 {
		t.Errorf("directory holds %v", n)
	}
}

// threadPriority is one thread's niceness and I/O priority.
type threadPriority struct {
	tid, nice, ioprio int
}

// threadPriorities returns the priorities of every thread of the process
// whose pid is in pidFile, its main thread first.
func threadPriorities(t *testing.T, pidFile string) []threadPriority {
	t.Helper()
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid := strings.TrimSpace(string(data))
	tasks, err := os.ReadDir("/proc/" + pid + "/task")
	if err != nil {
		t.Fatal(err)
	}
	var out []threadPriority
	for _, task := range tasks {
		stat, err := os.ReadFile("/proc/" + pid + "/task/" + task.Name() + "/stat")
		if err != nil {
			continue // the thread ended
		}
		s := string(stat)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		tid, _ := strconv.Atoi(task.Name())
		prio, err := proc.IOPriority(tid)
		if err != nil {
			continue
		}
		nice, err := strconv.Atoi(fields[16])
		if err != nil {
			t.Fatal(err)
		}
		tp := threadPriority{tid, nice, prio}
		if task.Name() == pid {
			out = append([]threadPriority{tp}, out...)
		} else {
			out = append(out, tp)
		}
	}
	return out
}

// TestTranscodeAV1 encodes AV1 with the software encoder the installed
// ffmpeg has (libsvtav1, else libaom-av1) and the audio to AC-3 at a
// bitrate; the encoder's chatter on standard error is not logged as a
// warning.
func TestTranscodeAV1(t *testing.T) {
	path := fixture(t, fixtureMKV)
	jdir := filepath.Join(t.TempDir(), "journal")
	var logged bytes.Buffer
	l := logrus.New()
	l.Out = &logged
	e, err := apply.New(apply.Options{JournalDir: jdir, Logger: logrus.NewEntry(l)})
	if err != nil {
		t.Fatal(err)
	}
	req := request(t, e, path, "mkv", func(ts []policy.TargetTrack) []policy.TargetTrack {
		ts = pick(ts, 0, 1)
		ts[0].Codec = "av1"
		ts[0].Encode = &policy.Encode{Codec: "av1", CRF: intp(40), Preset: "ultrafast"}
		ts[1].Codec = "ac3"
		ts[1].Encode = &policy.Encode{Codec: "ac3", Bitrate: 96_000}
		return ts
	})
	res, err := e.Apply(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if res.Encoder != "libsvtav1" && res.Encoder != "libaom-av1" {
		t.Errorf("encoder %q", res.Encoder)
	}
	got := probeCheck(t, e, path, req.Plan.Target, req.Source)
	if got.Streams[0].Codec != "av1" || got.Streams[1].Codec != "ac3" {
		t.Errorf("streams %+v", got.Streams)
	}
	if strings.Contains(logged.String(), "level=warning") {
		t.Errorf("warnings logged:\n%s", logged.String())
	}
	assertClean(t, filepath.Dir(path), jdir)
}

// TestTranscodeSurroundLayouts encodes 5.1(side) audio, the usual
// surround layout in MKV, to Opus and 7.1 to AC-3: layouts those
// encoders refuse as they are become the nearest ones they take.
func TestTranscodeSurroundLayouts(t *testing.T) {
	needTools(t, "ffmpeg", "ffprobe")
	for _, tc := range []struct{ layout, codec, want string }{
		{"5.1(side)", "opus", "5.1"},
		{"7.1", "ac3", "5.1(side)"},
	} {
		t.Run(tc.codec, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "surround.mkv")
			runFFmpeg(t, "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=10:duration=2",
				"-f", "lavfi", "-i", "sine=frequency=440:duration=2,aformat=channel_layouts="+tc.layout,
				"-c:v", "libx264", "-preset", "ultrafast", "-c:a", "flac", path)
			old := time.Date(2024, 3, 4, 5, 6, 7, 0, time.UTC)
			if err := os.Chtimes(path, old, old); err != nil {
				t.Fatal(err)
			}
			e, _ := newExecutor(t, nil)
			req := request(t, e, path, "mkv", func(ts []policy.TargetTrack) []policy.TargetTrack {
				ts[1].Codec = tc.codec
				ts[1].Encode = &policy.Encode{Codec: tc.codec, Bitrate: 256_000}
				return ts
			})
			if _, err := e.Apply(context.Background(), req); err != nil {
				t.Fatal(err)
			}
			got := probeCheck(t, e, path, req.Plan.Target, req.Source)
			if got.Streams[1].Codec != tc.codec {
				t.Errorf("audio codec %q, want %q", got.Streams[1].Codec, tc.codec)
			}
			out, err := exec.Command("ffprobe", "-v", "error", "-select_streams", "a", "-show_entries", "stream=channel_layout", "-of", "csv=p=0", path).Output()
			if err != nil {
				t.Fatal(err)
			}
			if l := strings.TrimSpace(string(out)); l != tc.want {
				t.Errorf("channel layout %q, want %q", l, tc.want)
			}
		})
	}
}

// TestTranscodeRotatedClip: phone footage (stored 320x240, shown upright
// by its display matrix) is planned at the size shown; ffmpeg turns it
// upright when it encodes, so the scaled result is 120x160 with no
// rotation and passes verification.
func TestTranscodeRotatedClip(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain.mp4")
	makeClip(t, plain, "320x240", 1, false)
	path := filepath.Join(dir, "phone.mp4")
	e, jdir := newExecutor(t, nil)
	// ffmpeg 5 writes a rotation from the rotate tag; later releases
	// only from -display_rotation (the tag turns the other way round;
	// both read back as 270).
	var src media.File
	for _, args := range [][]string{
		{"-i", plain, "-map", "0", "-c", "copy", "-metadata:s:v:0", "rotate=270", path},
		{"-display_rotation", "270", "-i", plain, "-map", "0", "-c", "copy", path},
	} {
		res, err := proc.Run(context.Background(), proc.Cmd{Path: "ffmpeg", Args: append([]string{"-nostdin", "-v", "error", "-y"}, args...), MaxStderr: 8 << 10})
		if err != nil || res.Exit != nil {
			continue // an option this ffmpeg does not have
		}
		if src, _, err = e.Probe(context.Background(), path, media.Options{}); err != nil {
			t.Fatal(err)
		}
		if src.Streams[0].Rotation != 0 {
			break
		}
	}
	if v := src.Streams[0]; v.Rotation != 270 || v.Width != 320 {
		t.Fatalf("source video %+v, want 320x240 rotated 270", v)
	}
	p, err := policy.Parse("phone.yaml", []byte("schema_version: 13\nphases:\n  - name: shrink\n    transcode:\n      video: {to: h264, preset: ultrafast, max_height: 160}\n"))
	if err != nil {
		t.Fatal(err)
	}
	plan, err := p.Plan(src)
	if err != nil {
		t.Fatal(err)
	}
	if tt := plan.Target.Tracks[0]; tt.Width != 120 || tt.Height != 160 {
		t.Fatalf("target video %dx%d, want 120x160", tt.Width, tt.Height)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	req := apply.Request{Path: path, Source: src, SourceSize: st.Size(), SourceMTime: st.ModTime(), Plan: plan}
	if _, err := e.Apply(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	got := probeCheck(t, e, path, plan.Target, src)
	if v := got.Streams[0]; v.Width != 120 || v.Height != 160 || v.Rotation != 0 {
		t.Errorf("result video %+v, want 120x160 upright", v)
	}
	assertClean(t, dir, jdir)
}

// TestTranscodeMP4CoverAndTimecode: an mp4 with an mjpeg cover and a
// timecode, as ffmpeg writes it, is re-encoded by the planner's plan: the
// cover is copied, the timecode (tmcd) tracks are dropped and ffmpeg
// writes no new one, so the result matches the plan.
func TestTranscodeMP4CoverAndTimecode(t *testing.T) {
	needTools(t, "ffmpeg", "ffprobe")
	dir := t.TempDir()
	cover := filepath.Join(dir, "cover.jpg")
	path := filepath.Join(dir, "clip.mp4")
	for _, args := range [][]string{
		{"-f", "lavfi", "-i", "testsrc=size=64x64:duration=1", "-frames:v", "1", cover},
		{"-f", "lavfi", "-i", "testsrc=size=160x120:rate=10:duration=1", "-f", "lavfi", "-i", "sine=duration=1", "-i", cover,
			"-map", "0", "-map", "1", "-map", "2", "-c:v:0", "libx264", "-preset", "ultrafast", "-c:v:1", "copy",
			"-disposition:v:1", "attached_pic", "-c:a", "aac", "-timecode", "01:00:00:00", path},
	} {
		runFFmpeg(t, append([]string{"-nostdin", "-v", "error", "-y"}, args...)...)
	}
	e, jdir := newExecutor(t, nil)
	src, _, err := e.Probe(context.Background(), path, media.Options{})
	if err != nil {
		t.Fatal(err)
	}
	p, err := policy.Parse("hevc.yaml", []byte("schema_version: 13\nphases:\n  - name: encode\n    transcode:\n      video: {to: hevc, preset: ultrafast, crf: 32}\n"))
	if err != nil {
		t.Fatal(err)
	}
	plan, err := p.Plan(src)
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for _, tt := range plan.Target.Tracks {
		kept = append(kept, tt.Type+" "+tt.Codec)
	}
	if want := "video hevc,audio aac,video mjpeg"; strings.Join(kept, ",") != want {
		t.Fatalf("target %v, want %s", kept, want)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	req := apply.Request{Path: path, Source: src, SourceSize: st.Size(), SourceMTime: st.ModTime(), Plan: plan}
	if _, err := e.Apply(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	got := probeCheck(t, e, path, plan.Target, src)
	if c := got.Streams[2]; !c.AttachedPic || c.Codec != "mjpeg" {
		t.Errorf("cover %+v, want the mjpeg attached picture", c)
	}
	assertClean(t, dir, jdir)
}

// TestFFmpegWorksInItsOwnDirectory: ffmpeg runs in an empty directory of
// its own, removed afterwards, so a file an encoder option names
// relatively (a log, a dump, an extra output) never lands in vpo's
// working directory, where the packaged service keeps its database.
func TestFFmpegWorksInItsOwnDirectory(t *testing.T) {
	needTools(t, "ffmpeg", "ffprobe")
	real, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	seen := filepath.Join(dir, "pwd")
	fake := filepath.Join(dir, "ffmpeg")
	// Records where it runs and writes a file there, as an encoder's
	// relative dump would, then runs the real ffmpeg.
	script := fmt.Sprintf("#!/bin/sh\npwd > %q\necho dump > relative-dump.yuv\nexec %q \"$@\"\n", seen, real)
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	path := fixture(t, fixtureMKV)
	probe, _ := newExecutor(t, nil)
	req := request(t, probe, path, "mkv", encodeVideo(0, 0))
	e, err := apply.New(apply.Options{JournalDir: filepath.Join(t.TempDir(), "journal"), Tools: apply.Tools{FFmpeg: fake}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Apply(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(seen)
	if err != nil {
		t.Fatal(err)
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	ran := strings.TrimSpace(string(b))
	if ran == wd || ran == filepath.Dir(path) {
		t.Errorf("ffmpeg ran in %s, vpo's working directory or the file's", ran)
	}
	if _, err := os.Stat(ran); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ffmpeg's working directory %s is still there (%v)", ran, err)
	}
	for _, d := range []string{wd, filepath.Dir(path)} {
		if _, err := os.Stat(filepath.Join(d, "relative-dump.yuv")); err == nil {
			t.Errorf("a relative file ffmpeg wrote landed in %s", d)
		}
	}
}
