package apply

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"

	"github.com/vpo-project/vpo/libs/media"
	"github.com/vpo-project/vpo/services/vpo/internal/proc"
	"github.com/vpo-project/vpo/services/vpo/internal/transcode"
)

// encodeRun is one prepared ffmpeg run of a transcode.
type encodeRun struct {
	ffmpeg  string
	args    []string
	encoder string
	hw      transcode.HW
}

// lookTool returns path, or name looked up on PATH when path is "".
func lookTool(name, path string) (string, error) {
	if path != "" {
		return path, nil
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%s is not installed: %w", name, err)
	}
	return p, nil
}

// prepareTranscode picks the hardware of the video encode and builds
// ffmpeg's arguments that write req's target from path to out. A plan
// that cannot be encoded as asked is a permanent error.
func (e *Executor) prepareTranscode(ctx context.Context, path, out string, req Request) (encodeRun, error) {
	ff, err := lookTool("ffmpeg", e.tools.FFmpeg)
	if err != nil {
		return encodeRun{}, err
	}
	ts := tracksFirst(req.Plan.Target.Tracks)
	spec := transcode.Spec{Input: path, Output: out, Format: ffmpegFormat(req.Plan.Target.Container),
		HW: transcode.HW{Method: transcode.Software}, Metadata: ffmpegMetadataArgs(req.Source, ts)}
	if spec.Format == "mp4" {
		// ffmpeg's mp4 muxer writes a new timecode (tmcd) track for a
		// video stream with a timecode tag; the plan dropped the source's
		// (it cannot be copied) and the result must have only its tracks.
		spec.Metadata = append(spec.Metadata, "-write_tmcd", "0")
	}
	for _, t := range ts {
		spec.Tracks = append(spec.Tracks, transcode.Track{Source: t.Source, Type: t.Type, Codec: t.Codec, Width: t.Width, Height: t.Height, Encode: t.Encode})
		if t.Encode == nil || t.Type != string(media.StreamVideo) {
			continue
		}
		if spec.HW, err = e.hw.Choose(ctx, ff, *t.Encode); err != nil {
			if errors.Is(err, transcode.ErrNoHW) {
				return encodeRun{}, permanent(err)
			}
			return encodeRun{}, err
		}
		if spec.HW.Method == transcode.Software && t.Encode.Codec == "av1" {
			// Which AV1 encoder this ffmpeg has.
			if spec.Encoders, err = e.hw.Encoders(ctx, ff); err != nil {
				return encodeRun{}, err
			}
		}
	}
	args, enc, err := transcode.Args(spec)
	if err != nil {
		return encodeRun{}, permanent(err)
	}
	return encodeRun{ffmpeg: ff, args: args, encoder: enc, hw: spec.HW}, nil
}

// runFFmpeg runs r's ffmpeg (with -progress pipe:1 in its arguments),
// turning its -progress output into calls of progress (when set) against
// the source's duration total: only when the run advanced (media time or
// frames), so a stuck ffmpeg stops reporting. An encode (polite) runs at
// the executor's niceness in the idle I/O class; a copy at vpo's.
func (e *Executor) runFFmpeg(ctx context.Context, r encodeRun, polite bool, total time.Duration, progress func(float64, string, time.Duration)) error {
	var last transcode.Progress
	cmd := proc.Cmd{Path: r.ffmpeg, Args: r.args, Env: transcode.EncoderEnv(r.encoder), MaxStderr: maxToolStderr,
		OnStdout: func(out io.Reader) {
			err := transcode.ReadProgress(out, func(p transcode.Progress) {
				if progress == nil || !(p.OutTime > last.OutTime || p.Frame > last.Frame || p.End && !last.End) {
					return
				}
				last = p
				eta, ok := p.ETA(total)
				if !ok {
					eta = -1
				}
				progress(p.Percent(total), p.Message(total), eta)
			})
			if err != nil {
				e.log.WithError(err).Warn("ffmpeg's progress output; the encode goes on without progress reports")
			}
		}}
	if polite {
		cmd.Nice, cmd.IdleIO = int(e.nice.Load()), true
	}
	// ffmpeg works in an empty directory of its own, removed when it is
	// done: a file that an option names relatively (an encoder's log,
	// dump or statistics, an extra output) lands there, never next to the
	// library or the database in vpo's working directory.
	dir, err := os.MkdirTemp("", "vpo-ffmpeg-")
	if err != nil {
		return fmt.Errorf("make ffmpeg's working directory: %w", err)
	}
	defer func() {
		if err := os.RemoveAll(dir); err != nil {
			e.log.WithError(err).Warn("remove ffmpeg's working directory")
		}
	}()
	cmd.Dir = dir
	_, err = e.runCmd(ctx, "ffmpeg", cmd)
	return err
}

// transcodeSpace estimates the bytes a transcode of a file of size bytes
// writes, and says how. With a bitrate for every encoded track and a
// known duration: the encoded tracks' bitrates × duration + 10%, plus the
// copied tracks' share of the source (per-stream sizes are not known: each
// copied video or audio track counts as the source's size divided by its
// number of video and audio tracks, generous since video dominates). With
// a CRF (quality, not size, is fixed; a re-encode may come out bigger than
// the source): the source's size + 5%. Both plus 64 MiB.
func transcodeSpace(size int64, req Request) (uint64, string) {
	dur := req.Source.Duration
	var bits int64
	byRate := dur > 0
	for _, t := range req.Plan.Target.Tracks {
		if t.Encode != nil {
			if t.Encode.Bitrate <= 0 {
				byRate = false
			}
			bits += t.Encode.Bitrate
		}
	}
	if !byRate {
		need := uint64(size) + uint64(size)*spaceMarginPercent/100 + spaceMarginBytes
		return need, fmt.Sprintf("a re-encode at a constant quality: the file's size %d + %d%% + %d MiB", size, spaceMarginPercent, spaceMarginBytes>>20)
	}
	av := 0
	for _, s := range req.Source.Streams {
		if s.Type == media.StreamVideo || s.Type == media.StreamAudio {
			av++
		}
	}
	var copied int64
	for _, t := range req.Plan.Target.Tracks {
		if t.Encode == nil && (t.Type == string(media.StreamVideo) || t.Type == string(media.StreamAudio)) && av > 0 {
			copied += size / int64(av)
		}
	}
	encoded := int64(float64(bits) / 8 * dur.Seconds() * 1.1)
	need := uint64(encoded) + uint64(copied) + spaceMarginBytes
	return need, fmt.Sprintf("a re-encode at %d bit/s for %s: %d bytes + 10%%, copied tracks %d, + %d MiB", bits, dur, int64(float64(bits)/8*dur.Seconds()), copied, spaceMarginBytes>>20)
}
