package apply

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/vpo-project/vpo/libs/media"
	"github.com/vpo-project/vpo/services/vpo/internal/proc"
)

const (
	// probeTimeout bounds one ffprobe run.
	probeTimeout = 60 * time.Second
	// maxProbeOutput bounds what is read of ffprobe's or mkvmerge -J's
	// output; maxToolStderr what is kept of a tool's standard error.
	maxProbeOutput = 4 << 20
	maxToolStderr  = 8 << 10
)

// Probe runs `ffprobe -v error -print_format json -show_format
// -show_streams` on path and returns its model and its JSON. A file
// ffprobe does not read as media is an error matching ErrPermanent.
func (e *Executor) Probe(ctx context.Context, path string, opts media.Options) (media.File, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	out, err := e.run(ctx, "ffprobe", e.tools.FFProbe, []string{"-v", "error", "-print_format", "json", "-show_format", "-show_streams", "--", path}, true)
	if err != nil {
		var te *toolError
		if errors.As(err, &te) && te.notMedia() {
			return media.File{}, nil, permanent(fmt.Errorf("%s is not a media file ffprobe can read: %w", path, err))
		}
		return media.File{}, nil, err
	}
	f, err := media.FromFFProbe(out, opts)
	if err != nil {
		return media.File{}, nil, permanent(fmt.Errorf("ffprobe %s: %w", path, err))
	}
	return f, out, nil
}

// run runs the tool name (at path, or looked up on PATH when "") with
// args and returns its standard output; probe bounds it. A failure is an
// error naming the tool, its exit status and the end of its standard
// error; a cancellation is ctx's error.
func (e *Executor) run(ctx context.Context, name, path string, args []string, probe bool) ([]byte, error) {
	path, err := lookTool(name, path)
	if err != nil {
		return nil, err
	}
	cmd := proc.Cmd{Path: path, Args: args, MaxStderr: maxToolStderr, MaxStdout: maxToolStderr}
	if probe {
		cmd.MaxStdout, cmd.CloseStdoutOver = maxProbeOutput, true
	}
	return e.runCmd(ctx, name, cmd)
}

// runCmd runs cmd, the tool name, as run does.
func (e *Executor) runCmd(ctx context.Context, name string, cmd proc.Cmd) ([]byte, error) {
	res, err := proc.Run(ctx, cmd)
	return e.toolResult(ctx, name, cmd.Args, res, err)
}

// toolResult turns what proc.Run returned for the tool name run with args
// into run's answer.
func (e *Executor) toolResult(ctx context.Context, name string, args []string, res proc.Result, err error) ([]byte, error) {
	if err == nil && res.PriorityErr != nil {
		e.log.WithError(res.PriorityErr).Warnf("%s runs at vpo's priority", name)
	}
	switch {
	case err != nil:
		return nil, fmt.Errorf("%s: %w", name, err)
	case ctx.Err() != nil:
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, fmt.Errorf("%s: no answer in time: %w", name, ctx.Err())
		}
		return nil, fmt.Errorf("%s: %w", name, ctx.Err())
	case res.StdoutOver:
		return nil, fmt.Errorf("%s: output larger than %d bytes", name, maxProbeOutput)
	case res.Exit == nil && name == "ffmpeg" && ffmpegWriteFailed(res.Stderr):
		return nil, &toolError{name: name, exit: errors.New("exit status 0, but the output was not written"), msg: strings.TrimSpace(string(res.Stderr))}
	case res.Exit == nil && name == "ffmpeg" && len(res.Stderr) > 0:
		e.log.Warnf("ffmpeg %s: %s", quoteArgs(args), strings.TrimSpace(string(res.Stderr)))
	case res.Exit != nil && mkvToolWarned(name, res.Exit):
		e.log.Warnf("%s %s: %s", name, quoteArgs(args), strings.TrimSpace(string(res.Stdout)))
	case res.Exit != nil:
		msg := strings.TrimSpace(string(res.Stderr))
		if msg == "" {
			// mkvmerge and mkvpropedit write their errors to stdout.
			msg = strings.TrimSpace(string(res.Stdout))
		}
		if msg != "" {
			return nil, &toolError{name: name, exit: res.Exit, msg: msg}
		}
		return nil, &toolError{name: name, exit: res.Exit}
	}
	return res.Stdout, nil
}

// mkvToolWarned reports whether the mkvtoolnix tool name exited with 1:
// it made its output, with warnings.
func mkvToolWarned(name string, exit error) bool {
	var ee *exec.ExitError
	return (name == "mkvmerge" || name == "mkvpropedit") && errors.As(exit, &ee) && ee.ExitCode() == 1
}

// toolError is a tool that ended with an error.
type toolError struct {
	name string
	exit error
	msg  string
}

func (t *toolError) Error() string {
	if t.msg == "" {
		return fmt.Sprintf("%s: %v", t.name, t.exit)
	}
	return fmt.Sprintf("%s: %v: %s", t.name, t.exit, t.msg)
}

func (t *toolError) Unwrap() error { return t.exit }

// diskFull reports whether the tool said its disk is full.
func (t *toolError) diskFull() bool {
	return strings.Contains(t.msg, "No space left") || strings.Contains(t.msg, "drive may be full")
}

// notMedia reports whether ffprobe said its input is not a media file it
// can read.
func (t *toolError) notMedia() bool {
	return t.name == "ffprobe" && strings.Contains(t.msg, "Invalid data found when processing input")
}

// ffmpegWriteFailed reports whether ffmpeg's standard error says it could
// not write its output: ffmpeg 5 exits 0 when writing the trailer or
// closing the output fails (a full disk among others).
func ffmpegWriteFailed(stderr []byte) bool {
	for _, s := range []string{"Error writing trailer", "Error closing file", "No space left on device", "av_interleaved_write_frame()"} {
		if strings.Contains(string(stderr), s) {
			return true
		}
	}
	return false
}
