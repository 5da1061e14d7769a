package applyjob_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/vpo-project/vpo/libs/media"
	"github.com/vpo-project/vpo/libs/store"
	"github.com/vpo-project/vpo/services/vpo/internal/apply"
	"github.com/vpo-project/vpo/services/vpo/internal/applyjob"
	"github.com/vpo-project/vpo/services/vpo/internal/inplace"
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

// TestLongTitleSurvivesApplyOfScannedFile: a track title longer than the
// 1 KiB a stored probe keeps is written back whole when a scanned file is
// applied with the real tools (the plan is made from a fresh probe, not
// from the stored one whose title store.ReduceProbe cut).
func TestLongTitleSurvivesApplyOfScannedFile(t *testing.T) {
	needTools(t, "ffmpeg", "ffprobe", "mkvmerge", "mkvpropedit")
	ctx := context.Background()
	f := newFixture(t, applyjob.Settings{})
	title := strings.Repeat("Long title", 150) // 1500 bytes
	makeMKV(t, f.file, "language=eng", "title="+title, "language=fre")
	ex := realExecutor(t, f)
	// The scan: the reduced probe is stored for the file as it is.
	_, raw, err := ex.Probe(ctx, f.file, media.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reduced, err := store.ReduceProbe(raw)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(reduced), store.ProbeTruncated) {
		t.Fatalf("the stored probe does not hold a cut title; the test needs one: %s", reduced)
	}
	fi, err := os.Stat(f.file)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.st.UpsertFile(ctx, store.File{Path: f.file, Size: fi.Size(), ModTime: fi.ModTime(), LastScannedAt: time.Now(),
		Probe: reduced, ProbedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}

	_, res, err := f.run(t, fmt.Sprintf(`{"policy":"eng","path":%q}`, f.file))
	if err != nil {
		t.Fatal(err)
	}
	if r := outcome(t, res); r.Outcome != applyjob.OutcomeApplied {
		t.Fatalf("apply: %+v, want applied", r)
	}
	after, _, err := ex.Probe(ctx, f.file, media.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var audio []media.Stream
	for _, s := range after.Streams {
		if s.Type == media.StreamAudio {
			audio = append(audio, s)
		}
	}
	if len(audio) != 1 || audio[0].Title != title {
		got := ""
		if len(audio) > 0 {
			got = audio[0].Title
		}
		t.Fatalf("after the apply: %d audio tracks, title of %d bytes ending %q; want 1 track titled with the %d bytes of the original",
			len(audio), len(got), got[max(0, len(got)-20):], len(title))
	}
}

// makeMKV writes an MKV file at path with ffmpeg: 2 s of 160x120 video and
// one audio track per "language=" in meta (the "title=" after one is its
// title), with an mtime two hours ago.
func makeMKV(t *testing.T, path string, meta ...string) {
	t.Helper()
	args := []string{"-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=10:duration=2"}
	maps := []string{"-map", "0"}
	var tags []string
	audio := -1
	for _, m := range meta {
		if strings.HasPrefix(m, "language=") {
			audio++
			args = append(args, "-f", "lavfi", "-i", fmt.Sprintf("sine=frequency=%d:duration=2", 440+110*audio))
			maps = append(maps, "-map", fmt.Sprint(audio+1))
		}
		tags = append(tags, fmt.Sprintf("-metadata:s:a:%d", audio), m)
	}
	args = append(append(append(args, maps...), "-c:v", "libx264", "-preset", "ultrafast", "-b:v", "50k",
		"-c:a", "aac", "-b:a", "32k"), tags...)
	out, err := exec.Command("ffmpeg", append(args, path)...).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg: %v: %s", err, out)
	}
	old := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
}

// realExecutor makes f's handler use the real tools (with the in-place
// editor for flag, title and language changes as vpo serve does when
// inPlace is true) and returns the executor.
func realExecutor(t *testing.T, f *fixture, inPlace ...bool) *apply.Executor {
	t.Helper()
	l := logrus.New()
	l.SetOutput(io.Discard)
	opts := apply.Options{JournalDir: filepath.Join(f.dir, "journal"), Logger: logrus.NewEntry(l)}
	if len(inPlace) > 0 && inPlace[0] {
		opts.InPlace = &inplace.Editor{JournalDir: filepath.Join(f.dir, "journal", "inplace"), Logger: logrus.NewEntry(l)}
	}
	ex, err := apply.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	f.h = applyjob.New(f.st, ex, f.h.Settings(), logrus.NewEntry(l))
	return ex
}

// TestApplyAfterSameSizeReplacement: a file replaced after its scan by one
// of the same size and mtime (here: the stored probe is that of another
// file, with the file's size and mtime) is applied with the real tools at
// the first attempt, planned from what is on disk.
func TestApplyAfterSameSizeReplacement(t *testing.T) {
	needTools(t, "ffmpeg", "ffprobe", "mkvmerge", "mkvpropedit")
	ctx := context.Background()
	f := newFixture(t, applyjob.Settings{})
	makeMKV(t, f.file, "language=fre", "language=eng", "language=jpn")
	before := filepath.Join(f.dir, "before.mkv")
	makeMKV(t, before, "language=eng", "language=fre")
	ex := realExecutor(t, f)
	_, raw, err := ex.Probe(ctx, before, media.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f.storeProbe(t, string(raw))
	_, res, err := f.run(t, fmt.Sprintf(`{"policy":"eng","path":%q}`, f.file))
	if err != nil {
		t.Fatalf("first attempt: %v", err)
	}
	if r := outcome(t, res); r.Outcome != applyjob.OutcomeApplied {
		t.Fatalf("apply: %+v, want applied", r)
	}
	after, _, err := ex.Probe(ctx, f.file, media.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var langs []string
	for _, s := range after.Streams {
		if s.Type == media.StreamAudio {
			langs = append(langs, s.Language)
		}
	}
	if strings.Join(langs, ",") != "eng" {
		t.Errorf("audio after the apply: %v, want [eng]", langs)
	}
}

// freDefault makes the French audio track the default: a change of flags
// only, which the in-place editor makes with mkvpropedit.
const freDefault = "schema_version: 13\nconfig:\n  audio_languages: [fre]\nphases:\n  - name: flags\n    default_flags:\n" +
	"      set_preferred_audio_default: true\n      clear_other_defaults: true\n"

// TestLongTitleSurvivesInPlaceApplyOfScannedFile: the in-place variant of
// TestLongTitleSurvivesApplyOfScannedFile: a flags-only apply of a scanned
// file with a 1500-byte title succeeds and leaves the title whole.
func TestLongTitleSurvivesInPlaceApplyOfScannedFile(t *testing.T) {
	needTools(t, "ffmpeg", "ffprobe", "mkvmerge", "mkvpropedit")
	ctx := context.Background()
	f := newFixture(t, applyjob.Settings{})
	if err := os.WriteFile(filepath.Join(f.h.Settings().Dir, "fredef.yaml"), []byte(freDefault), 0o644); err != nil {
		t.Fatal(err)
	}
	title := strings.Repeat("Long title", 150) // 1500 bytes
	makeMKV(t, f.file, "language=eng", "title="+title, "language=fre")
	ex := realExecutor(t, f, true)
	_, raw, err := ex.Probe(ctx, f.file, media.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f.storeProbe(t, string(raw))
	_, res, err := f.run(t, fmt.Sprintf(`{"policy":"fredef","path":%q}`, f.file))
	if err != nil {
		t.Fatalf("apply: %.300s", err)
	}
	if r := outcome(t, res); r.Outcome != applyjob.OutcomeApplied || r.Executor != apply.ExecutorMkvPropEdit {
		t.Fatalf("apply: %+v, want applied by mkvpropedit", r)
	}
	after, _, err := ex.Probe(ctx, f.file, media.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range after.Streams {
		if s.Type == media.StreamAudio && s.Language == "eng" && s.Title != title {
			t.Errorf("title after the apply: %d bytes, want the %d of the original", len(s.Title), len(title))
		}
	}
}
