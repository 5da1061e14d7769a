package inplace_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vpo-project/vpo/services/vpo/internal/proc"
)

// tool returns the path of an installed media tool. When it is missing the
// test is skipped, unless CI is set: then it fails.
func tool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is missing (CI is set): %v", name, err)
		}
		t.Skipf("%s is missing (install ffmpeg and mkvtoolnix): %v", name, err)
	}
	return p
}

// run runs a tool and fails the test when it does not exit 0.
func run(t testing.TB, path string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := proc.Run(ctx, proc.Cmd{Path: path, Args: args, MaxStdout: 1 << 20, MaxStderr: 64 << 10})
	if err != nil || res.Exit != nil {
		t.Fatalf("%s %s: %v %v\n%s\n%s", filepath.Base(path), strings.Join(args, " "), err, res.Exit, res.Stdout, res.Stderr)
	}
	return res.Stdout
}

// fixture writes a 2 s MKV into dir, with a video track, two audio tracks
// ("Main", default; "Commentary") and a forced subtitle track ("English"),
// and returns its path.
func fixture(t testing.TB, dir string) string {
	t.Helper()
	return fixtureBy(t, dir, "ffmpeg")
}

// fixtureBy writes the fixture as muxed by: "ffmpeg" (to a file: known
// sizes, no padding after Tracks), "mkvmerge" (ffmpeg's file remuxed:
// Void padding after the SeekHead and Tracks, Cues) or "ffmpeg-stream"
// (ffmpeg writing to a pipe: a Segment of unknown size).
func fixtureBy(t testing.TB, dir, muxer string) string {
	t.Helper()
	ffmpeg := tool(t, "ffmpeg")
	srt := filepath.Join(dir, "sub.srt")
	if err := os.WriteFile(srt, []byte("1\n00:00:00,000 --> 00:00:01,000\nHello\n\n2\n00:00:01,000 --> 00:00:02,000\nWorld\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "film.mkv")
	args := []string{"-v", "error", "-y",
		"-f", "lavfi", "-i", "testsrc=size=160x120:rate=10:duration=2",
		"-f", "lavfi", "-i", "sine=frequency=440:duration=2",
		"-f", "lavfi", "-i", "sine=frequency=880:duration=2",
		"-i", srt,
		"-map", "0", "-map", "1", "-map", "2", "-map", "3",
		"-c:v", "mpeg4", "-b:v", "50k", "-c:a", "aac", "-b:a", "32k", "-c:s", "srt",
		"-metadata:s:a:0", "title=Main", "-metadata:s:a:0", "language=eng",
		"-metadata:s:a:1", "title=Commentary", "-metadata:s:a:1", "language=eng",
		"-metadata:s:s:0", "title=English", "-metadata:s:s:0", "language=eng",
		"-disposition:a:0", "default", "-disposition:a:1", "0", "-disposition:s:0", "forced",
	}
	switch muxer {
	case "ffmpeg":
		run(t, ffmpeg, append(args, out)...)
	case "mkvmerge":
		src := filepath.Join(dir, "ffmpeg.mkv")
		run(t, ffmpeg, append(args, src)...)
		run(t, tool(t, "mkvmerge"), "-q", "-o", out, src)
	case "ffmpeg-stream":
		data := run(t, ffmpeg, append(args, "-f", "matroska", "pipe:1")...)
		if err := os.WriteFile(out, data, 0o644); err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatalf("no muxer %q", muxer)
	}
	return out
}

// track is what the tests check of one stream.
type track struct {
	Type    string
	Title   string
	Default bool
	Forced  bool
}

// probe reads the tracks of the file at path with ffprobe; it fails the
// test when ffprobe cannot read the file.
func probe(t testing.TB, path string) []track {
	t.Helper()
	out := run(t, tool(t, "ffprobe"), "-v", "error", "-of", "json", "-show_streams", path)
	var doc struct {
		Streams []struct {
			CodecType   string            `json:"codec_type"`
			Tags        map[string]string `json:"tags"`
			Disposition map[string]int    `json:"disposition"`
		} `json:"streams"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatalf("ffprobe %s: %v", path, err)
	}
	var tracks []track
	for _, s := range doc.Streams {
		tracks = append(tracks, track{Type: s.CodecType, Title: s.Tags["title"], Default: s.Disposition["default"] == 1, Forced: s.Disposition["forced"] == 1})
	}
	return tracks
}

// sum is the SHA-256 of the file at path.
func sum(t testing.TB, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// copyFile copies src to dst, keeping its mtime.
func copyFile(t testing.TB, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(dst, time.Time{}, st.ModTime()); err != nil {
		t.Fatal(err)
	}
}

// mtime is the modification time of the file at path.
func mtime(t testing.TB, path string) time.Time {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.ModTime()
}

// records lists the files in the journal directory.
func records(t testing.TB, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}
