package proc_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vpo-project/vpo/services/vpo/internal/proc"
)

// script writes an executable shell script and returns its path.
func script(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "tool.sh")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// alive reports whether the process whose pid is in file still runs.
func alive(t *testing.T, file string) bool {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	for range 50 {
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			return false
		}
		// A killed child may linger as a zombie of its reaper for a moment.
		if st, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); err == nil && strings.Contains(string(st), ") Z ") {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

func TestRunKeepsBoundedOutput(t *testing.T) {
	tool := script(t, `printf 'hello world'; printf 'warning text' >&2; exit 3`)
	res, err := proc.Run(context.Background(), proc.Cmd{Path: tool, MaxStdout: 5, MaxStderr: 7})
	if err != nil {
		t.Fatal(err)
	}
	if res.Exit == nil || !strings.Contains(res.Exit.Error(), "exit status 3") {
		t.Errorf("Exit = %v, want exit status 3", res.Exit)
	}
	if string(res.Stdout) != "hello" || string(res.Stderr) != "warning" || res.StdoutOver {
		t.Errorf("stdout %q stderr %q over %v", res.Stdout, res.Stderr, res.StdoutOver)
	}
}

func TestRunKillsGrandchildOnExit(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	tool := script(t, `sleep 60 & echo $! > `+pidFile+`; exit 0`)
	res, err := proc.Run(context.Background(), proc.Cmd{Path: tool, MaxStdout: 1 << 10, MaxStderr: 1 << 10})
	if err != nil || res.Exit != nil {
		t.Fatalf("Run: %v, exit %v", err, res.Exit)
	}
	if alive(t, pidFile) {
		t.Error("the tool's child outlived the tool")
	}
}

func TestRunKillsGroupOnCancel(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pid")
	tool := script(t, `sleep 60 & echo $! > `+pidFile+`; wait`)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for {
			if _, err := os.Stat(pidFile); err == nil {
				cancel()
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	res, err := proc.Run(ctx, proc.Cmd{Path: tool, MaxStdout: 1 << 10, MaxStderr: 1 << 10})
	if err != nil {
		t.Fatal(err)
	}
	if res.Exit == nil || ctx.Err() == nil {
		t.Errorf("Exit = %v, ctx %v; want a killed tool", res.Exit, ctx.Err())
	}
	if alive(t, pidFile) {
		t.Error("the tool's child outlived the cancellation")
	}
}

// TestRunPassesExtraFiles checks that the tool reaches ExtraFiles[0] as
// fd 3 (and /proc/self/fd/3), and that it is the file the caller opened,
// even after another file took its path.
func TestRunPassesExtraFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "data")
	if err := os.WriteFile(path, []byte("opened\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	other := filepath.Join(dir, "other")
	if err := os.WriteFile(other, []byte("other\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(other, path); err != nil {
		t.Fatal(err)
	}
	tool := script(t, `cat <&3; cat /proc/self/fd/3; printf 'written\n' >> /proc/self/fd/3`)
	res, err := proc.Run(context.Background(), proc.Cmd{Path: tool, MaxStdout: 1 << 10, MaxStderr: 1 << 10, ExtraFiles: []*os.File{f}})
	if err != nil || res.Exit != nil {
		t.Fatalf("Run: %v, exit %v, stderr %q", err, res.Exit, res.Stderr)
	}
	if got, want := string(res.Stdout), "opened\nopened\n"; got != want {
		t.Errorf("the tool read %q from fd 3, want %q", got, want)
	}
	got := make([]byte, 64)
	n, _ := f.ReadAt(got, 0)
	if want := "opened\nwritten\n"; string(got[:n]) != want {
		t.Errorf("the opened file holds %q, want %q", got[:n], want)
	}
	if data, err := os.ReadFile(path); err != nil || string(data) != "other\n" {
		t.Errorf("the file now at the path holds %q (%v), want it untouched", data, err)
	}
}
