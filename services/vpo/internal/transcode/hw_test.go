package transcode_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/vpo-project/vpo/libs/policy"
	"github.com/vpo-project/vpo/services/vpo/internal/transcode"
)

// fakeFFmpeg writes a stand-in ffmpeg: -encoders lists the encoders in
// the file "encoders" beside it; a trial encode with encoder E succeeds
// when the file "ok-E" exists. Every run is appended to "calls".
func fakeFFmpeg(t *testing.T, encoders ...string) (path, dir string) {
	t.Helper()
	dir = t.TempDir()
	var list strings.Builder
	list.WriteString("Encoders:\n V..... = Video\n ------\n")
	for _, e := range encoders {
		list.WriteString(" V....D " + e + "    some encoder (codec x)\n")
	}
	list.WriteString(" A....D aac    AAC (Advanced Audio Coding)\n")
	if err := os.WriteFile(filepath.Join(dir, "encoders"), []byte(list.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(dir, "ffmpeg")
	script := `#!/bin/sh
d=$(dirname "$0")
echo "$*" >> "$d/calls"
for a in "$@"; do
  if [ "$a" = -encoders ]; then cat "$d/encoders"; exit 0; fi
done
enc=
prev=
for a in "$@"; do
  if [ "$prev" = -c:v ]; then enc=$a; fi
  prev=$a
done
if [ -e "$d/ok-$enc" ]; then exit 0; fi
echo "Device creation failed: -22." >&2
echo "Error initializing output stream 0:0 -- no device" >&2
exit 1
`
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path, dir
}

// devRoot makes a fake /dev with the given nodes (plain files).
func devRoot(t *testing.T, nodes ...string) string {
	t.Helper()
	root := t.TempDir()
	for _, n := range nodes {
		p := filepath.Join(root, n)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func touch(t *testing.T, dir, name string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

func calls(t *testing.T, dir string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "calls"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(data)), "\n")
}

func logger() (*logrus.Entry, *bytes.Buffer) {
	var buf bytes.Buffer
	l := logrus.New()
	l.Out = &buf
	l.Formatter = &logrus.TextFormatter{DisableTimestamp: true}
	return logrus.NewEntry(l), &buf
}

func TestChooseAutoPicksAWorkingMethod(t *testing.T) {
	ff, dir := fakeFFmpeg(t, "hevc_vaapi", "hevc_nvenc", "hevc_qsv")
	touch(t, dir, "ok-hevc_vaapi")
	log, buf := logger()
	p := &transcode.Prober{DevRoot: devRoot(t, "dri/renderD129", "dri/renderD128"), Log: log}
	hw, err := p.Choose(context.Background(), ff, policy.Encode{Codec: "hevc", HW: policy.HWAuto})
	if err != nil {
		t.Fatal(err)
	}
	if hw.Method != transcode.VAAPI || !strings.HasSuffix(hw.Device, "/dri/renderD128") {
		t.Errorf("hw %+v, want vaapi on renderD128", hw)
	}
	// Asked again: answered from what is known, ffmpeg is not run.
	n := len(calls(t, dir))
	if _, err := p.Choose(context.Background(), ff, policy.Encode{Codec: "hevc", HW: policy.HWAuto}); err != nil {
		t.Fatal(err)
	}
	if got := calls(t, dir); len(got) != n {
		t.Errorf("ffmpeg run again: %q", got[n:])
	}
	if buf.Len() != 0 {
		t.Errorf("logged %q", buf)
	}
	// The trial encoded one frame with the device.
	if c := calls(t, dir); !strings.Contains(strings.Join(c, "\n"), "-vaapi_device "+hw.Device+" -f lavfi -i color=s=256x256:d=0.04 -frames:v 1 -vf format=nv12,hwupload -c:v hevc_vaapi -f null -") {
		t.Errorf("no vaapi trial among %q", c)
	}
}

func TestChooseAutoFallsBackToSoftwareLoggingOnce(t *testing.T) {
	ff, dir := fakeFFmpeg(t, "hevc_vaapi", "hevc_qsv")
	log, buf := logger()
	// No NVIDIA device; a render node whose trials fail.
	p := &transcode.Prober{DevRoot: devRoot(t, "dri/renderD128"), Log: log}
	for range 3 {
		hw, err := p.Choose(context.Background(), ff, policy.Encode{Codec: "hevc", HW: policy.HWAuto})
		if err != nil {
			t.Fatal(err)
		}
		if hw.Method != transcode.Software {
			t.Errorf("hw %+v, want software", hw)
		}
	}
	out := buf.String()
	if strings.Count(out, "\n") != 1 || !strings.Contains(out, "level=info") {
		t.Fatalf("want one Info line, logged:\n%s", out)
	}
	for _, want := range []string{"nvenc: no " + p.DevRoot + "/nvidia0", "vaapi: a one-frame trial encode with hevc_vaapi failed", "Error initializing output stream", "qsv: a one-frame trial", "encoding in software"} {
		if !strings.Contains(out, want) {
			t.Errorf("log line lacks %q:\n%s", want, out)
		}
	}
	// Listing + two trials, once.
	if c := calls(t, dir); len(c) != 3 {
		t.Errorf("ffmpeg ran %d times, want 3: %q", len(c), c)
	}
	// Another ffmpeg is probed anew.
	ff2, dir2 := fakeFFmpeg(t, "h264_nvenc")
	touch(t, dir2, "ok-h264_nvenc")
	p.DevRoot = devRoot(t, "nvidia0")
	hw, err := p.Choose(context.Background(), ff2, policy.Encode{Codec: "h264", HW: policy.HWAuto})
	if err != nil || hw.Method != transcode.NVENC {
		t.Errorf("hw %+v, %v; want nvenc", hw, err)
	}
}

func TestChooseNamedMethod(t *testing.T) {
	ff, _ := fakeFFmpeg(t, "hevc_nvenc")
	root := devRoot(t, "nvidia0")
	t.Run("no fallback", func(t *testing.T) {
		p := &transcode.Prober{DevRoot: root}
		_, err := p.Choose(context.Background(), ff, policy.Encode{Codec: "hevc", HW: policy.HWNVENC})
		if !errors.Is(err, transcode.ErrNoHW) || !strings.Contains(err.Error(), "hw nvenc cannot encode hevc here") || !strings.Contains(err.Error(), "hw_fallback is off") {
			t.Errorf("error %v, want ErrNoHW naming nvenc", err)
		}
	})
	t.Run("fallback", func(t *testing.T) {
		log, buf := logger()
		p := &transcode.Prober{DevRoot: root, Log: log}
		for range 2 {
			hw, err := p.Choose(context.Background(), ff, policy.Encode{Codec: "hevc", HW: policy.HWNVENC, HWFallback: true})
			if err != nil || hw.Method != transcode.Software {
				t.Errorf("hw %+v, %v; want software", hw, err)
			}
		}
		if out := buf.String(); strings.Count(out, "\n") != 1 || !strings.Contains(out, "hw nvenc cannot encode hevc here") || !strings.Contains(out, "hw_fallback") {
			t.Errorf("want one line about the fallback, logged:\n%s", out)
		}
	})
	t.Run("encoder not listed", func(t *testing.T) {
		p := &transcode.Prober{DevRoot: devRoot(t, "dri/renderD128")}
		_, err := p.Choose(context.Background(), ff, policy.Encode{Codec: "hevc", HW: policy.HWQSV})
		if !errors.Is(err, transcode.ErrNoHW) || !strings.Contains(err.Error(), "ffmpeg lists no hevc_qsv encoder") {
			t.Errorf("error %v", err)
		}
	})
	t.Run("none", func(t *testing.T) {
		p := &transcode.Prober{DevRoot: root}
		hw, err := p.Choose(context.Background(), "/nonexistent/ffmpeg", policy.Encode{Codec: "hevc", HW: policy.HWNone})
		if err != nil || hw.Method != transcode.Software {
			t.Errorf("hw %+v, %v", hw, err)
		}
	})
	t.Run("unknown", func(t *testing.T) {
		p := &transcode.Prober{DevRoot: root}
		if _, err := p.Choose(context.Background(), ff, policy.Encode{Codec: "hevc", HW: "cuda"}); err == nil || !strings.Contains(err.Error(), `unknown hw method "cuda"`) {
			t.Errorf("error %v", err)
		}
	})
}

func TestEncodersOfTheInstalledFFmpeg(t *testing.T) {
	ff := lookFFmpeg(t)
	enc, err := (&transcode.Prober{}).Encoders(context.Background(), ff)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []string{"libx264", "aac", "flac"} {
		if !enc[e] {
			t.Errorf("%s not listed", e)
		}
	}
}

// lookFFmpeg returns the installed ffmpeg's path; it skips the test when
// there is none, unless CI is set (then it fails).
func lookFFmpeg(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("ffmpeg")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("ffmpeg is not installed (CI is set): %v", err)
		}
		t.Skipf("ffmpeg is not installed: %v", err)
	}
	return p
}
