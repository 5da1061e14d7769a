package scan

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"
)

const (
	// probeTimeout bounds one ffprobe run unless FFProbe.Timeout says
	// otherwise.
	probeTimeout = 30 * time.Second
	// maxProbeOutput bounds what is read of ffprobe's standard output; a
	// longer answer is a probe error.
	maxProbeOutput = 4 << 20
	// maxProbeStderr bounds what is kept of ffprobe's standard error (it
	// goes into the probe error).
	maxProbeStderr = 4 << 10
	// waitDelay bounds the wait for ffprobe's output pipes once its process
	// group was killed.
	waitDelay = 2 * time.Second
)

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

// FFProbe runs the ffprobe binary at Path in its own process group, reads
// at most 4 MiB of its output and kills the whole group when the probe
// times out or its context ends.
//
// A scanner given an FFProbe with an empty Path looks "ffprobe" up on PATH
// at the start of every scan, so that ffprobe installed while vpo runs is
// used from the next scan on.
type FFProbe struct {
	Path string
	// Timeout bounds one run; 0 means 30 s.
	Timeout time.Duration
}

// lookup returns a prober for this scan: f itself when it names a binary,
// else the ffprobe found on PATH now, else nil (not installed).
func (f *FFProbe) lookup() Prober {
	if f.Path != "" {
		return f
	}
	p, err := exec.LookPath("ffprobe")
	if err != nil {
		return nil
	}
	return &FFProbe{Path: p, Timeout: f.Timeout}
}

// Probe implements Prober.
func (f *FFProbe) Probe(ctx context.Context, path string) (StreamInfo, error) {
	timeout := f.Timeout
	if timeout <= 0 {
		timeout = probeTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, f.Path, "-v", "error", "-print_format", "json",
		"-show_format", "-show_streams", "--", path)
	// Its own process group, killed as a whole: children ffprobe (or a
	// wrapper script) started die with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = waitDelay
	stdout := &cappedBuffer{max: maxProbeOutput}
	stderr := &cappedBuffer{max: maxProbeStderr}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	err := cmd.Run()
	switch {
	case stdout.over:
		return StreamInfo{}, fmt.Errorf("ffprobe %q: output larger than %d bytes", path, maxProbeOutput)
	case ctx.Err() != nil:
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return StreamInfo{}, fmt.Errorf("ffprobe %q: no answer within %v", path, timeout)
		}
		return StreamInfo{}, fmt.Errorf("ffprobe %q: %w", path, ctx.Err())
	case err != nil:
		if msg := strings.TrimSpace(stderr.buf.String()); msg != "" {
			return StreamInfo{}, fmt.Errorf("ffprobe %q: %w: %s", path, err, msg)
		}
		return StreamInfo{}, fmt.Errorf("ffprobe %q: %w", path, err)
	}
	info, err := parseProbe(stdout.buf.Bytes())
	if err != nil {
		return StreamInfo{}, fmt.Errorf("ffprobe %q: %w", path, err)
	}
	return info, nil
}

// cappedBuffer keeps up to max bytes; a write beyond that fails (the
// process then gets EPIPE) and sets over.
type cappedBuffer struct {
	buf  bytes.Buffer
	max  int
	over bool
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	if c.buf.Len()+len(p) > c.max {
		c.over = true
		return 0, errors.New("output limit reached")
	}
	return c.buf.Write(p)
}

type ffprobeOutput struct {
	Streams []struct {
		CodecType string      `json:"codec_type"`
		CodecName string      `json:"codec_name"`
		Width     json.Number `json:"width"`
		Height    json.Number `json:"height"`
		Duration  string      `json:"duration"`
	} `json:"streams"`
	Format struct {
		Duration string `json:"duration"`
		Size     string `json:"size"`
	} `json:"format"`
}

// parseProbe turns ffprobe's JSON into StreamInfo. Output that is not
// sane — not a JSON object, a duration that is not a finite non-negative
// number, a negative size, width or height — is an error naming the field
// and value. Strings that are not UTF-8 (ffprobe copies file names and
// tags as they are) are replaced with U+FFFD in Raw.
func parseProbe(out []byte) (StreamInfo, error) {
	var o ffprobeOutput
	if err := json.Unmarshal(out, &o); err != nil {
		return StreamInfo{}, fmt.Errorf("parse output: %w", err)
	}
	info := StreamInfo{Tracks: len(o.Streams), Raw: json.RawMessage(out)}
	d, err := probeDuration("format.duration", o.Format.Duration)
	if err != nil {
		return StreamInfo{}, err
	}
	info.DurationSeconds = d
	if o.Format.Size != "" && o.Format.Size != "N/A" {
		n, err := strconv.ParseInt(o.Format.Size, 10, 64)
		if err != nil || n < 0 {
			return StreamInfo{}, fmt.Errorf("format.size %q is not a non-negative integer", o.Format.Size)
		}
	}
	for i, s := range o.Streams {
		if s.CodecType == "video" && info.Codec == "" {
			info.Codec = s.CodecName
		}
		for _, dim := range []struct {
			name string
			v    json.Number
		}{{"width", s.Width}, {"height", s.Height}} {
			if dim.v == "" {
				continue
			}
			if n, err := dim.v.Int64(); err != nil || n < 0 {
				return StreamInfo{}, fmt.Errorf("streams[%d].%s %s is not a non-negative integer", i, dim.name, dim.v)
			}
		}
		if _, err := probeDuration(fmt.Sprintf("streams[%d].duration", i), s.Duration); err != nil {
			return StreamInfo{}, err
		}
	}
	if !utf8.Valid(out) {
		raw, err := validUTF8(out)
		if err != nil {
			return StreamInfo{}, err
		}
		info.Raw = raw
	}
	return info, nil
}

// probeDuration parses one of ffprobe's durations ("" and "N/A" mean
// unknown: 0).
func probeDuration(field, s string) (float64, error) {
	if s == "" || s == "N/A" {
		return 0, nil
	}
	d, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(d) || math.IsInf(d, 0) || d < 0 {
		return 0, fmt.Errorf("%s %q is not a finite, non-negative number of seconds", field, s)
	}
	return d, nil
}

// validUTF8 re-encodes a JSON document, replacing bytes that are not UTF-8
// inside strings with U+FFFD; numbers keep their text.
func validUTF8(out []byte) (json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("parse output: %w", err)
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("re-encode output: %w", err)
	}
	return raw, nil
}
