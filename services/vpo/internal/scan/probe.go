package scan

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vpo-project/vpo/libs/store"
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
	// waitDelay bounds the reading of ffprobe's output pipes once it
	// exited and its process group was killed.
	waitDelay = 2 * time.Second
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
	res, err := f.run(ctx, path)
	switch {
	case err != nil:
		return StreamInfo{}, fmt.Errorf("ffprobe %q: %w", path, err)
	case res.stdoutOver:
		return StreamInfo{}, fmt.Errorf("ffprobe %q: output larger than %d bytes", path, maxProbeOutput)
	case ctx.Err() != nil:
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return StreamInfo{}, fmt.Errorf("ffprobe %q: no answer within %v", path, timeout)
		}
		return StreamInfo{}, fmt.Errorf("ffprobe %q: %w", path, ctx.Err())
	case res.exit != nil:
		if msg := strings.TrimSpace(string(res.stderr)); msg != "" {
			return StreamInfo{}, fmt.Errorf("ffprobe %q: %w: %s", path, res.exit, msg)
		}
		return StreamInfo{}, fmt.Errorf("ffprobe %q: %w", path, res.exit)
	}
	info, err := parseProbe(res.stdout)
	if err != nil {
		return StreamInfo{}, fmt.Errorf("ffprobe %q: %w", path, err)
	}
	return info, nil
}

// runResult is what one ffprobe run left: its own exit error (nil when it
// exited 0), the output read and whether stdout went past its bound.
type runResult struct {
	exit       error
	stdout     []byte
	stderr     []byte
	stdoutOver bool
}

// run starts ffprobe on path in its own process group and waits for it to
// exit. Once it has exited (normally or not), and before it is reaped, the
// whole group is killed, so that nothing it started outlives the probe;
// its output is then read until the pipes close, for at most waitDelay
// (a process that left the group may hold them). The result is judged by
// ffprobe's own exit and the output read by then. An error means ffprobe
// could not be started or waited for.
func (f *FFProbe) run(ctx context.Context, path string) (runResult, error) {
	cmd := exec.CommandContext(ctx, f.Path, "-v", "error", "-print_format", "json",
		"-show_format", "-show_streams", "--", path)
	// Its own process group, killed as a whole: children ffprobe (or a
	// wrapper script) started die with it. Pdeathsig kills ffprobe when
	// vpo dies without a chance to kill it (SIGKILL, a crash). The kernel
	// sends it when the thread that forked ffprobe exits, not the process;
	// Go may end an OS thread (one left locked to a goroutine that
	// returns), so this goroutine stays locked to its thread from fork to
	// reap: the thread then lives at least as long as ffprobe, and
	// unlocking it afterwards returns it to the runtime's pool instead of
	// ending it. (Go's child side also checks, after setting Pdeathsig,
	// that its parent did not die during the fork.) Processes ffprobe
	// started are not reached by Pdeathsig; they are by the group kill
	// whenever vpo lives to do it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return killGroup(cmd.Process.Pid) }
	// Pipes of our own, handed to ffprobe as files: Wait then returns when
	// ffprobe exits, not when every holder of the pipes lets go.
	outR, outW, err := os.Pipe()
	if err != nil {
		return runResult{}, fmt.Errorf("pipe: %w", err)
	}
	defer outR.Close()
	errR, errW, err := os.Pipe()
	if err != nil {
		outW.Close()
		return runResult{}, fmt.Errorf("pipe: %w", err)
	}
	defer errR.Close()
	cmd.Stdout, cmd.Stderr = outW, errW

	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	err = cmd.Start()
	outW.Close()
	errW.Close()
	if err != nil {
		return runResult{}, err
	}
	var (
		res  runResult
		read sync.WaitGroup
	)
	read.Add(2)
	go func() {
		defer read.Done()
		res.stdout, res.stdoutOver = readCapped(outR, maxProbeOutput, true)
	}()
	go func() {
		defer read.Done()
		res.stderr, _ = readCapped(errR, maxProbeStderr, false)
	}()
	// Wait for ffprobe to exit without reaping it: its pid, which is also
	// its group's id, cannot be reused before the group is killed.
	werr := waitExited(cmd.Process.Pid)
	if kerr := killGroup(cmd.Process.Pid); kerr != nil && werr == nil {
		werr = fmt.Errorf("kill process group: %w", kerr)
	}
	res.exit = cmd.Wait()
	drained := make(chan struct{})
	go func() {
		read.Wait()
		close(drained)
	}()
	select {
	case <-drained:
	case <-time.After(waitDelay):
		// Something outside the group holds the pipes: stop reading.
		_ = outR.SetReadDeadline(time.Now())
		_ = errR.SetReadDeadline(time.Now())
		<-drained
	}
	if werr != nil {
		return runResult{}, werr
	}
	return res, nil
}

// waitExited blocks until the process pid has exited, leaving it to be
// reaped by exec.Cmd.Wait.
func waitExited(pid int) error {
	for {
		var info unix.Siginfo
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if err == nil {
			return nil
		}
		if !errors.Is(err, syscall.EINTR) {
			return fmt.Errorf("wait for ffprobe: %w", err)
		}
	}
}

// killGroup sends SIGKILL to the process group pgid; a group that is
// already gone is no error.
func killGroup(pgid int) error {
	if err := syscall.Kill(-pgid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return err
	}
	return nil
}

// readCapped reads r until EOF (or an error), keeping at most max bytes.
// Past max, it stops and reports over when closeOver is true (the writer
// then gets EPIPE), and otherwise reads on and drops the rest silently.
func readCapped(r *os.File, max int, closeOver bool) ([]byte, bool) {
	var buf bytes.Buffer
	chunk := make([]byte, 32<<10)
	for {
		n, err := r.Read(chunk)
		if room := max - buf.Len(); n > room {
			buf.Write(chunk[:room])
			if closeOver {
				_ = r.Close()
				return buf.Bytes(), true
			}
		} else {
			buf.Write(chunk[:n])
		}
		if err != nil {
			return buf.Bytes(), false
		}
	}
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
// sane — not a JSON object with "format" and "streams", a duration that is
// not a finite non-negative number, a negative size, width or height — is
// an error naming the field and value. Raw is the output reduced by
// store.ReduceProbe: bounded whatever ffprobe printed, strings that are
// not UTF-8 (ffprobe copies file names and tags as they are) repaired
// with U+FFFD.
func parseProbe(out []byte) (StreamInfo, error) {
	raw, err := store.ReduceProbe(out)
	if err != nil {
		return StreamInfo{}, err
	}
	var o ffprobeOutput
	if err := json.Unmarshal(out, &o); err != nil {
		return StreamInfo{}, fmt.Errorf("parse output: %w", err)
	}
	info := StreamInfo{Tracks: len(o.Streams), Raw: raw}
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
