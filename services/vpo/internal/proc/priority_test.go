package proc_test

import (
	"context"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vpo-project/vpo/services/vpo/internal/proc"
)

// statNice returns the nice field (the 19th) of /proc/PID/stat.
func statNice(t *testing.T, pid int) int {
	t.Helper()
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	// The fields after the command name, which is in parentheses.
	s := string(data)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	n, err := strconv.Atoi(fields[16])
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestRunSetsNiceAndIdleIO(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var nice, ioprio int
	var perr error
	res, err := proc.Run(ctx, proc.Cmd{Path: "sleep", Args: []string{"60"}, Nice: 10, IdleIO: true,
		Started: func(pid int) {
			nice = statNice(t, pid)
			ioprio, perr = proc.IOPriority(pid)
			cancel()
		}})
	if err != nil {
		t.Fatal(err)
	}
	if res.PriorityErr != nil {
		t.Errorf("PriorityErr: %v", res.PriorityErr)
	}
	if perr != nil {
		t.Fatal(perr)
	}
	if nice != 10 {
		t.Errorf("nice %d, want 10", nice)
	}
	if ioprio != proc.IdlePriority {
		t.Errorf("ioprio %#x, want the idle class %#x", ioprio, proc.IdlePriority)
	}
}

func TestRunWithoutPriorityKeepsOurs(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	want := statNice(t, os.Getpid())
	got := -100
	_, err := proc.Run(ctx, proc.Cmd{Path: "sleep", Args: []string{"60"},
		Started: func(pid int) { got = statNice(t, pid); cancel() }})
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("nice %d, want ours %d", got, want)
	}
}

func TestRunStreamsStdout(t *testing.T) {
	tool := script(t, `i=0; while [ $i -lt 3000 ]; do echo "line $i"; i=$((i+1)); done; echo err >&2`)
	var lines int
	res, err := proc.Run(context.Background(), proc.Cmd{Path: tool, MaxStderr: 100,
		OnStdout: func(r io.Reader) {
			// Read only the first block: the rest is dropped for the tool.
			buf := make([]byte, 100)
			n, _ := io.ReadFull(r, buf)
			lines = strings.Count(string(buf[:n]), "\n")
		}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Exit != nil {
		t.Fatalf("exit %v: %s", res.Exit, res.Stderr)
	}
	if lines == 0 || len(res.Stdout) != 0 || string(res.Stderr) != "err\n" {
		t.Errorf("lines %d, stdout %q, stderr %q", lines, res.Stdout, res.Stderr)
	}
}

func TestRunAddsEnv(t *testing.T) {
	tool := script(t, `printf '%s %s' "$VPO_PROC_TEST" "${PATH:+path}"`)
	res, err := proc.Run(context.Background(), proc.Cmd{Path: tool, Env: []string{"VPO_PROC_TEST=yes"}, MaxStdout: 100})
	if err != nil {
		t.Fatal(err)
	}
	if string(res.Stdout) != "yes path" {
		t.Errorf("stdout %q, want the added variable and vpo's PATH", res.Stdout)
	}
}

// TestRunNeverRaisesPriorityAboveVpos checks that a tool asked to run at
// a niceness lower than vpo's own (here, the thread starting it, at 15)
// runs at vpo's instead, and that Nice 0 leaves it at vpo's.
func TestRunNeverRaisesPriorityAboveVpos(t *testing.T) {
	for _, nice := range []int{0, 10, 17} {
		want := max(nice, 15)
		got := make(chan int, 1)
		go func() {
			// This thread is niced and never given back: the goroutine
			// ends locked to it, so the runtime ends the thread.
			runtime.LockOSThread()
			if err := unix.Setpriority(unix.PRIO_PROCESS, 0, 15); err != nil {
				t.Error(err)
				got <- -100
				return
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			n := -100
			res, err := proc.Run(ctx, proc.Cmd{Path: "sleep", Args: []string{"60"}, Nice: nice,
				Started: func(pid int) { n = statNice(t, pid); cancel() }})
			if err != nil {
				t.Error(err)
			} else if res.PriorityErr != nil {
				t.Errorf("Nice %d: PriorityErr %v", nice, res.PriorityErr)
			}
			got <- n
		}()
		if n := <-got; n != want {
			t.Errorf("Nice %d under a vpo at 15: the tool runs at %d, want %d", nice, n, want)
		}
	}
}
