package apply_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/vpo-project/vpo/libs/policy"
	"github.com/vpo-project/vpo/services/vpo/internal/proc"
)

// TestTimecodeTrackIsNotPromised: an MP4 with a timecode (tmcd) data
// track, as ffmpeg writes it and ffprobe reads it, gets no plan that
// needs ffmpeg to rewrite it (ffmpeg cannot copy the track: "Could not
// find tag for codec none"): the planner reports the track instead.
func TestTimecodeTrackIsNotPromised(t *testing.T) {
	needTools(t, "ffmpeg", "ffprobe")
	path := filepath.Join(t.TempDir(), "timecode.mp4")
	res, err := proc.Run(context.Background(), proc.Cmd{Path: "ffmpeg", MaxStderr: 8 << 10, Args: []string{
		"-nostdin", "-v", "error", "-y",
		"-f", "lavfi", "-i", "testsrc=size=160x120:rate=10:duration=1",
		"-f", "lavfi", "-i", "sine=frequency=440:duration=1",
		"-f", "lavfi", "-i", "sine=frequency=550:duration=1",
		"-map", "0", "-map", "1", "-map", "2", "-c:v", "libx264", "-preset", "ultrafast", "-b:v", "50k",
		"-c:a", "aac", "-b:a", "32k", "-metadata:s:a:0", "language=jpn", "-metadata:s:a:1", "language=eng",
		"-timecode", "01:00:00:00", path}})
	if err == nil && res.Exit != nil {
		t.Fatalf("ffmpeg: %v: %s", res.Exit, res.Stderr)
	}
	if err != nil {
		t.Fatal(err)
	}
	e, _ := newExecutor(t, nil)
	pol, err := policy.Parse("keep-english.yaml", []byte("schema_version: 13\nphases:\n  - name: filter\n    keep_audio:\n      languages: [eng]\n"))
	if err != nil {
		t.Fatal(err)
	}
	src, _, err := e.Probe(context.Background(), path, pol.MediaOptions())
	if err != nil {
		t.Fatal(err)
	}
	if len(src.Streams) != 4 || src.Streams[3].Type != "data" {
		t.Fatalf("the fixture has no timecode track: %+v", src.Streams)
	}
	plan, err := pol.Plan(src)
	if !errors.Is(err, policy.ErrIncompatibleCodec) {
		t.Fatalf("plan %+v, error %v; want ErrIncompatibleCodec naming the data track", plan, err)
	}
}
