package apply_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vpo-project/vpo/libs/media"
	"github.com/vpo-project/vpo/libs/policy"
	"github.com/vpo-project/vpo/services/vpo/internal/apply"
	"github.com/vpo-project/vpo/services/vpo/internal/proc"
)

// needTools skips the test when a tool is missing, unless the environment
// variable CI is set: then it fails.
func needTools(tb testing.TB, names ...string) {
	tb.Helper()
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			if os.Getenv("CI") != "" {
				tb.Fatalf("%s is not installed (CI is set, so this is a failure): %v", n, err)
			}
			tb.Skipf("%s is not installed; install ffmpeg and mkvtoolnix to run this test", n)
		}
	}
}

// fixtures are the media files the tests start from, made once per test
// binary run in a directory of their own.
type fixtures struct {
	once sync.Once
	dir  string
	err  error
}

// The fixture files, in the fixtures directory.
const (
	fixtureMKV       = "sample.mkv"     // video, audio eng/fre "Commentary"/jpn, srt eng / fre forced
	fixtureMP4       = "sample.mp4"     // the same, subtitles mov_text
	fixtureMKVAttach = "attachment.mkv" // sample.mkv plus a text attachment
)

// fixturesDir is where the fixtures are made; removed by TestMain.
var fixturesDir string

// makeFixtures makes the fixture files in dir with ffmpeg: 2 s, 160x120,
// 10 frames per second, low bit rates.
func makeFixtures(ctx context.Context, dir string) error {
	srt := func(name, text string) error {
		return os.WriteFile(filepath.Join(dir, name), []byte("1\n00:00:00,000 --> 00:00:01,500\n"+text+"\n\n"), 0o644)
	}
	if err := srt("en.srt", "Hello"); err != nil {
		return err
	}
	if err := srt("fr.srt", "Bonjour"); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("notes\n"), 0o644); err != nil {
		return err
	}
	inputs := []string{"-nostdin", "-v", "error", "-y",
		"-f", "lavfi", "-i", "testsrc=size=160x120:rate=10:duration=2",
		"-f", "lavfi", "-i", "sine=frequency=440:duration=2",
		"-f", "lavfi", "-i", "sine=frequency=550:duration=2",
		"-f", "lavfi", "-i", "sine=frequency=660:duration=2",
		"-i", filepath.Join(dir, "en.srt"), "-i", filepath.Join(dir, "fr.srt"),
		"-map", "0", "-map", "1", "-map", "2", "-map", "3", "-map", "4", "-map", "5",
		"-c:v", "libx264", "-preset", "ultrafast", "-b:v", "50k", "-c:a", "aac", "-b:a", "32k",
		"-metadata:s:a:0", "language=eng",
		"-metadata:s:a:1", "language=fre", "-metadata:s:a:1", "title=Commentary",
		"-metadata:s:a:2", "language=jpn",
		"-metadata:s:s:0", "language=eng", "-metadata:s:s:1", "language=fre",
		"-disposition:v:0", "default", "-disposition:a:0", "default", "-disposition:a:1", "0",
		"-disposition:a:2", "0", "-disposition:s:0", "0", "-disposition:s:1", "forced",
	}
	for _, out := range []struct {
		name string
		args []string
	}{
		{fixtureMKV, []string{"-c:s", "srt"}},
		{fixtureMP4, []string{"-c:s", "mov_text"}},
		{fixtureMKVAttach, []string{"-c:s", "srt", "-attach", filepath.Join(dir, "notes.txt"), "-metadata:s:6", "mimetype=text/plain"}},
	} {
		args := append(append(append([]string{}, inputs...), out.args...), filepath.Join(dir, out.name))
		res, err := proc.Run(ctx, proc.Cmd{Path: "ffmpeg", Args: args, MaxStderr: 8 << 10})
		if err == nil && res.Exit != nil {
			err = &fixtureError{out.name, res.Exit, string(res.Stderr)}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

type fixtureError struct {
	name   string
	exit   error
	stderr string
}

func (f *fixtureError) Error() string {
	return "make " + f.name + ": " + f.exit.Error() + ": " + f.stderr
}

// fixture copies the fixture name into a new directory and returns the
// copy's path.
func fixture(tb testing.TB, name string) string {
	tb.Helper()
	needTools(tb, "ffmpeg", "ffprobe", "mkvmerge", "mkvpropedit")
	fix.once.Do(func() {
		fix.dir = fixturesDir
		fix.err = makeFixtures(context.Background(), fix.dir)
	})
	if fix.err != nil {
		tb.Fatalf("fixtures: %v", fix.err)
	}
	dst := filepath.Join(tb.TempDir(), name)
	copyTo(tb, filepath.Join(fix.dir, name), dst)
	return dst
}

// fix holds the fixtures of this run.
var fix fixtures

// copyTo copies src to dst with mode 0644 and the mtime of src.
func copyTo(tb testing.TB, src, dst string) {
	tb.Helper()
	in, err := os.Open(src)
	if err != nil {
		tb.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		tb.Fatal(err)
	}
	if err := out.Close(); err != nil {
		tb.Fatal(err)
	}
	// An mtime in the past, as a library file has.
	old := time.Date(2024, 3, 4, 5, 6, 7, 123456789, time.UTC)
	if err := os.Chtimes(dst, old, old); err != nil {
		tb.Fatal(err)
	}
}

// newExecutor returns an Executor with its journal in a new directory and
// the in-place editor ed (nil for none).
func newExecutor(tb testing.TB, ed apply.InPlaceEditorForTest) (*apply.Executor, string) {
	tb.Helper()
	jdir := filepath.Join(tb.TempDir(), "journal")
	opts := apply.Options{JournalDir: jdir}
	if ed != nil {
		opts.InPlace = ed
	}
	e, err := apply.New(opts)
	if err != nil {
		tb.Fatal(err)
	}
	return e, jdir
}

// request probes path and returns a request for it with a plan whose
// target is made by edit from the file as it is.
func request(tb testing.TB, e *apply.Executor, path, container string, edit func(ts []policy.TargetTrack) []policy.TargetTrack) apply.Request {
	tb.Helper()
	src, _, err := e.Probe(context.Background(), path, media.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		tb.Fatal(err)
	}
	ts := make([]policy.TargetTrack, 0, len(src.Streams))
	for _, s := range src.Streams {
		ts = append(ts, policy.TargetTrack{Source: s.Index, Type: string(s.Type), Codec: s.Codec,
			Language: s.Language, Title: s.Title, Default: s.Default, Forced: s.Forced})
	}
	req := apply.Request{Path: path, Source: src, SourceSize: st.Size(), SourceMTime: st.ModTime(),
		Plan: policy.Plan{Policy: "test", Target: policy.Target{Container: container, Tracks: ts}}}
	if edit != nil {
		req.Plan.Target.Tracks = edit(ts)
		// The executors read only the target; one change makes the plan
		// non-empty.
		req.Plan.Changes = []policy.Change{{Kind: policy.ChangeReorderTracks, Track: -1, Phase: "test", Reason: "test"}}
	}
	return req
}

// pick returns the tracks of ts with the given source indexes, in that
// order.
func pick(ts []policy.TargetTrack, sources ...int) []policy.TargetTrack {
	var out []policy.TargetTrack
	for _, s := range sources {
		for _, t := range ts {
			if t.Source == s {
				out = append(out, t)
			}
		}
	}
	return out
}

// sum returns the sha256 of the file at path.
func sum(tb testing.TB, path string) string {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		tb.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// names lists the names in dir.
func names(tb testing.TB, dir string) []string {
	tb.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		tb.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// assertClean fails when dir holds a temporary file or journal holds a
// record.
func assertClean(tb testing.TB, dir, journal string) {
	tb.Helper()
	for _, n := range names(tb, dir) {
		if strings.Contains(n, ".vpo-tmp-") {
			tb.Errorf("temporary file left: %s", filepath.Join(dir, n))
		}
	}
	for _, n := range names(tb, journal) {
		if strings.HasSuffix(n, ".intent") {
			tb.Errorf("journal record left: %s", filepath.Join(journal, n))
		}
	}
}

// probeCheck probes path and verifies it against target.
func probeCheck(tb testing.TB, e *apply.Executor, path string, target policy.Target, source media.File) media.File {
	tb.Helper()
	got, _, err := e.Probe(context.Background(), path, media.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	if err := apply.Verify(got, target, source); err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	return got
}
