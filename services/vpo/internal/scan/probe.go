package scan

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/vpo-project/vpo/libs/media"
	"github.com/vpo-project/vpo/libs/store"
	"github.com/vpo-project/vpo/services/vpo/internal/proc"
)

const (
	// probeTimeout bounds one ffprobe run unless FFProbe.Timeout says
	// otherwise.
	probeTimeout = 30 * time.Second
	// maxProbeOutput bounds what is read of ffprobe's standard output; a
	// longer answer is a probe error.
	maxProbeOutput = 4 << 20
	// maxProbeStderr bounds what is kept of ffprobe's standard error (it
	// goes into the probe error); the rest is dropped.
	maxProbeStderr = 4 << 10
)

// StreamInfo is what vpo keeps of ffprobe's answer.
type StreamInfo struct {
	Codec           string
	DurationSeconds float64
	Tracks          int
	// Raw is ffprobe's JSON reduced by store.ReduceProbe.
	Raw json.RawMessage
}

// Prober runs ffprobe on one file.
type Prober interface {
	Probe(ctx context.Context, path string) (StreamInfo, error)
}

// FFProbe runs the ffprobe binary at Path in its own process group, reads
// at most 4 MiB of its output (and keeps 4 KiB of its standard error) and
// kills the whole group when ffprobe exits, when the probe times out and
// when its context ends.
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
	res, err := proc.Run(ctx, proc.Cmd{
		Path:      f.Path,
		Args:      []string{"-v", "error", "-print_format", "json", "-show_format", "-show_streams", "--", path},
		MaxStdout: maxProbeOutput, CloseStdoutOver: true,
		MaxStderr: maxProbeStderr,
	})
	switch {
	case err != nil:
		return StreamInfo{}, fmt.Errorf("ffprobe %q: %w", path, err)
	case res.StdoutOver:
		return StreamInfo{}, fmt.Errorf("ffprobe %q: output larger than %d bytes", path, maxProbeOutput)
	case ctx.Err() != nil:
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return StreamInfo{}, fmt.Errorf("ffprobe %q: no answer within %v", path, timeout)
		}
		return StreamInfo{}, fmt.Errorf("ffprobe %q: %w", path, ctx.Err())
	case res.Exit != nil:
		if msg := strings.TrimSpace(string(res.Stderr)); msg != "" {
			return StreamInfo{}, fmt.Errorf("ffprobe %q: %w: %s", path, res.Exit, msg)
		}
		return StreamInfo{}, fmt.Errorf("ffprobe %q: %w", path, res.Exit)
	}
	info, err := parseProbe(res.Stdout)
	if err != nil {
		return StreamInfo{}, fmt.Errorf("ffprobe %q: %w", path, err)
	}
	return info, nil
}

// parseProbe turns ffprobe's JSON into StreamInfo. Output that is not
// sane — not a JSON object with "format" and "streams", a duration that is
// not a finite non-negative number, a negative size, width or height — is
// an error naming the field and value: the output must be a probe that
// media.FromFFProbe reads, as the policies read the stored probe with it.
// Raw is the output reduced by store.ReduceProbe: bounded whatever ffprobe
// printed, strings that are not UTF-8 (ffprobe copies file names and tags
// as they are) repaired with U+FFFD.
func parseProbe(out []byte) (StreamInfo, error) {
	raw, err := store.ReduceProbe(out)
	if err != nil {
		return StreamInfo{}, err
	}
	f, err := media.FromFFProbe(out, media.Options{})
	if err != nil {
		return StreamInfo{}, err
	}
	return NewStreamInfo(f, raw), nil
}

// NewStreamInfo is what vpo keeps of a probe f: the first video stream's
// codec, the duration and the number of streams, with reduced, the
// probe as store.ReduceProbe stores it.
func NewStreamInfo(f media.File, reduced json.RawMessage) StreamInfo {
	info := StreamInfo{Tracks: len(f.Streams), Raw: reduced, DurationSeconds: f.Duration.Seconds()}
	for _, st := range f.Streams {
		if st.Type == media.StreamVideo {
			info.Codec = st.Codec
			break
		}
	}
	return info
}
