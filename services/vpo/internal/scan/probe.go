package scan

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strconv"
	"time"
)

// probeTimeout bounds one ffprobe run.
const probeTimeout = 30 * time.Second

// StreamInfo is what vpo keeps of ffprobe's answer.
type StreamInfo struct {
	Codec           string
	DurationSeconds float64
	Tracks          int
	Raw             json.RawMessage
}

// Prober runs ffprobe on one file.
type Prober interface {
	Probe(ctx context.Context, path string) (StreamInfo, error)
}

// FFProbe runs the ffprobe binary at Path.
type FFProbe struct{ Path string }

// FindFFProbe returns an FFProbe when ffprobe is on PATH, else nil.
func FindFFProbe() *FFProbe {
	p, err := exec.LookPath("ffprobe")
	if err != nil {
		return nil
	}
	return &FFProbe{Path: p}
}

type ffprobeOutput struct {
	Streams []struct {
		CodecType string `json:"codec_type"`
		CodecName string `json:"codec_name"`
	} `json:"streams"`
	Format struct {
		Duration string `json:"duration"`
	} `json:"format"`
}

// Probe implements Prober.
func (f *FFProbe) Probe(ctx context.Context, path string) (StreamInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, f.Path, "-v", "error", "-print_format", "json",
		"-show_format", "-show_streams", "--", path).Output()
	if err != nil {
		return StreamInfo{}, fmt.Errorf("ffprobe %q: %w", path, err)
	}
	return parseProbe(out)
}

func parseProbe(out []byte) (StreamInfo, error) {
	var o ffprobeOutput
	if err := json.Unmarshal(out, &o); err != nil {
		return StreamInfo{}, fmt.Errorf("parse ffprobe output: %w", err)
	}
	info := StreamInfo{Tracks: len(o.Streams), Raw: json.RawMessage(out)}
	for _, s := range o.Streams {
		if s.CodecType == "video" && info.Codec == "" {
			info.Codec = s.CodecName
		}
	}
	if d, err := strconv.ParseFloat(o.Format.Duration, 64); err == nil {
		info.DurationSeconds = d
	}
	return info, nil
}
