package proc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// waitDelay bounds the reading of a tool's output pipes once it exited and
// its process group was killed.
const waitDelay = 2 * time.Second

// Cmd is one run of a tool.
type Cmd struct {
	// Path is the tool's executable; Args its arguments (without argv[0]).
	Path string
	Args []string
	// Dir is the working directory; "" is vpo's.
	Dir string
	// MaxStdout bounds what is kept of standard output. Past it, reading
	// stops and Result.StdoutOver is set when CloseStdoutOver is true (the
	// tool then gets EPIPE); otherwise the rest is read and dropped.
	MaxStdout       int
	CloseStdoutOver bool
	// MaxStderr bounds what is kept of standard error; the rest is read
	// and dropped.
	MaxStderr int
	// ExtraFiles are open files the tool inherits: ExtraFiles[i] is its
	// file descriptor 3+i (so the tool can reach the first one as
	// /proc/self/fd/3). They are shared, not copied: the tool reads and
	// writes the very files (inodes) the caller opened, whatever their
	// paths lead to by then. The caller keeps them open until Run returns
	// and closes them itself.
	ExtraFiles []*os.File
	// OnStdout, when set, reads the tool's standard output as it comes
	// (a progress pipe) instead of Run keeping it: Result.Stdout stays
	// empty and MaxStdout is not used. It is called once, in a goroutine
	// of its own; whatever it leaves unread is read and dropped, so the
	// tool never blocks on a full pipe. It must return at the end of its
	// reader (which comes when the tool's group is killed).
	OnStdout func(io.Reader)
	// Nice is the least niceness of the tool: it runs at Nice or at
	// vpo's own niceness, whichever is higher (never with more CPU
	// priority than vpo; 0 leaves it at vpo's), set right after it
	// started (setpriority); IdleIO gives it the idle I/O scheduling
	// class (ioprio_set). Both are set on every thread the tool has by
	// then; threads and processes it starts later inherit them. A failure
	// is not an error of the run: it is in Result.PriorityErr.
	Nice   int
	IdleIO bool
	// Env are variables (NAME=value) added to the tool's environment,
	// which is vpo's otherwise.
	Env []string
	// Started, when set, is called with the tool's pid once it started
	// and its priority was set (a test hook).
	Started func(pid int)
}

// Result is what one run left: the tool's own exit error (nil when it
// exited 0), the output kept, and whether stdout went past its bound.
type Result struct {
	Exit       error
	Stdout     []byte
	Stderr     []byte
	StdoutOver bool
	// PriorityErr says why Cmd.Nice or Cmd.IdleIO could not be applied
	// (nil when they were, or were not asked for).
	PriorityErr error
}

// Run starts the tool in its own process group and waits for it to exit.
// Once it has exited (normally or not), and before it is reaped, the whole
// group is killed, so that nothing it started outlives it; its output is
// then read until the pipes close, for at most two seconds (a process that
// left the group may hold them). When ctx ends, the group is killed. An
// error means the tool could not be started or waited for; how it ended is
// in Result.Exit (with ctx.Err() telling a cancellation apart).
func Run(ctx context.Context, c Cmd) (Result, error) {
	cmd := exec.CommandContext(ctx, c.Path, c.Args...)
	cmd.Dir = c.Dir
	if len(c.Env) > 0 {
		cmd.Env = append(os.Environ(), c.Env...)
	}
	cmd.ExtraFiles = c.ExtraFiles
	// Its own process group, killed as a whole: children the tool (or a
	// wrapper script) started die with it. Pdeathsig kills the tool when
	// vpo dies without a chance to kill it (SIGKILL, a crash). The kernel
	// sends it when the thread that forked the tool exits, not the
	// process; Go may end an OS thread (one left locked to a goroutine
	// that returns), so this goroutine stays locked to its thread from
	// fork to reap: the thread then lives at least as long as the tool,
	// and unlocking it afterwards returns it to the runtime's pool instead
	// of ending it. (Go's child side also checks, after setting Pdeathsig,
	// that its parent did not die during the fork.) Processes the tool
	// started are not reached by Pdeathsig; they are by the group kill
	// whenever vpo lives to do it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return killGroup(cmd.Process.Pid) }
	// Pipes of our own, handed to the tool as files: Wait then returns
	// when the tool exits, not when every holder of the pipes lets go.
	outR, outW, err := os.Pipe()
	if err != nil {
		return Result{}, fmt.Errorf("pipe: %w", err)
	}
	defer outR.Close()
	errR, errW, err := os.Pipe()
	if err != nil {
		outW.Close()
		return Result{}, fmt.Errorf("pipe: %w", err)
	}
	defer errR.Close()
	cmd.Stdout, cmd.Stderr = outW, errW

	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	err = cmd.Start()
	outW.Close()
	errW.Close()
	if err != nil {
		return Result{}, err
	}
	var (
		res  Result
		read sync.WaitGroup
	)
	if nice := toolNice(c.Nice); nice != 0 || c.IdleIO {
		res.PriorityErr = setPriority(cmd.Process.Pid, nice, c.IdleIO)
	}
	if c.Started != nil {
		c.Started(cmd.Process.Pid)
	}
	read.Add(2)
	go func() {
		defer read.Done()
		if c.OnStdout != nil {
			c.OnStdout(outR)
			_, _ = io.Copy(io.Discard, outR)
			return
		}
		res.Stdout, res.StdoutOver = readCapped(outR, c.MaxStdout, c.CloseStdoutOver)
	}()
	go func() {
		defer read.Done()
		res.Stderr, _ = readCapped(errR, c.MaxStderr, false)
	}()
	// Wait for the tool to exit without reaping it: its pid, which is
	// also its group's id, cannot be reused before the group is killed.
	werr := waitExited(cmd.Process.Pid)
	if kerr := killGroup(cmd.Process.Pid); kerr != nil && werr == nil {
		werr = fmt.Errorf("kill process group: %w", kerr)
	}
	res.Exit = cmd.Wait()
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
		return Result{}, werr
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
			return fmt.Errorf("wait for process %d: %w", pid, err)
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
