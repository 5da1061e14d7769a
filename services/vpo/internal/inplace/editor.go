package inplace

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/vpo-project/vpo/services/vpo/internal/proc"
)

const (
	// maxToolOutput bounds what is kept of mkvpropedit's stdout and
	// stderr; errorTail is how much of their ends goes into an error.
	maxToolOutput = 64 << 10
	errorTail     = 2 << 10
)

// Editor edits MKV files in place with mkvpropedit, undoably: see the
// package documentation. Its zero value with a JournalDir is ready to use;
// one Editor may run edits of different files at once; a second edit of a
// file whose edit is running is refused (ErrBusy).
type Editor struct {
	// JournalDir is the directory of the undo records (created when
	// missing). It must be on a disk that survives a restart, and no
	// other process may use it.
	JournalDir string
	// MkvPropEdit is the path of mkvpropedit; "" looks it up on PATH at
	// each edit.
	MkvPropEdit string
	// MaxSaved bounds the bytes one edit saves; 0 means DefaultMaxSaved.
	MaxSaved int64
	// Logger receives warnings (mkvpropedit's warnings, records Recover
	// drops); nil discards them.
	Logger *logrus.Entry
}

// Edit runs mkvpropedit with args on the MKV file at path, in place,
// safely. It opens path once, and everything after works on that open
// file (inode): mkvpropedit gets it as its file descriptor 3 and edits
// "/proc/self/fd/3", so a file that takes the path meanwhile (renamed over
// it) is never written to. Before mkvpropedit runs, the byte ranges
// mkvpropedit can rewrite (every level-1 element that is not a Cluster,
// every Cluster's header, the EBML and Segment headers) and the file's
// size, mtime and identity are saved in a fsynced undo record; after it,
// verify(ctx) is called (nil verify checks nothing) once the path is
// found to lead to the opened file still. If mkvpropedit fails, ctx ends,
// verify fails, or another file is at the path once mkvpropedit has run
// (the error says the file was replaced), the opened file is restored
// byte for byte (and its mtime too) and the error returned; on success
// the file is fsynced and the record removed. The mtime mkvpropedit
// leaves is kept: setting it is the caller's choice.
//
// A file whose layout cannot be saved (see Spans) is not touched: the
// error wraps ErrLayout. Nor is a file with another undo record in the
// journal (an edit of it is running, or one did not finish and Recover has
// not run since): the error wraps ErrBusy. mkvpropedit's exit status 1 (warnings only) is
// success; its warnings go to the Logger.
func (e *Editor) Edit(ctx context.Context, path string, args []string, verify func(ctx context.Context) error) error {
	tool, err := e.tool()
	if err != nil {
		return err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("edit %q: %w", path, err)
	}
	f, err := os.OpenFile(abs, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("edit: %w", err)
	}
	defer f.Close()
	rec, err := e.save(f, abs)
	if err != nil {
		return fmt.Errorf("edit %s: %w", abs, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("edit %s: %w", abs, err)
	}
	name, err := e.writeRecord(rec)
	if err != nil {
		return fmt.Errorf("edit %s: %w", abs, err)
	}
	// From here on the record exists: every way out either restores the
	// file or leaves the record for Recover.
	if err := e.run(ctx, tool, f, abs, args); err != nil {
		return e.undo(f, rec, name, err)
	}
	if err := sameFile(abs, rec); err != nil {
		// The original inode is no longer at the path: another file was
		// renamed over it (or mkvpropedit replaced the file instead of
		// editing it). The edit went to the opened inode, which is
		// restored; the file at the path was not touched.
		return e.undo(f, rec, name, err)
	}
	if verify != nil {
		if err := verify(ctx); err != nil {
			return e.undo(f, rec, name, fmt.Errorf("verify: %w", err))
		}
	}
	if err := ctx.Err(); err != nil {
		return e.undo(f, rec, name, err)
	}
	if err := f.Sync(); err != nil {
		return e.undo(f, rec, name, fmt.Errorf("fsync: %w", err))
	}
	if err := e.removeRecord(name); err != nil {
		// The edit is complete and durable; a record left behind would
		// undo it at the next start.
		return e.undo(f, rec, name, err)
	}
	return nil
}

// tool returns the mkvpropedit to run.
func (e *Editor) tool() (string, error) {
	if e.MkvPropEdit != "" {
		return e.MkvPropEdit, nil
	}
	p, err := exec.LookPath("mkvpropedit")
	if err != nil {
		return "", fmt.Errorf("mkvpropedit not found (install mkvtoolnix): %w", err)
	}
	return p, nil
}

// save reads the identity, size, mtime and layout of the open file f and
// the bytes of every span mkvpropedit may rewrite.
func (e *Editor) save(f *os.File, abs string) (record, error) {
	st, err := f.Stat()
	if err != nil {
		return record{}, err
	}
	if !st.Mode().IsRegular() {
		return record{}, fmt.Errorf("not a regular file (%s)", st.Mode().Type())
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return record{}, errors.New("no device and inode numbers for the file")
	}
	max := e.MaxSaved
	if max <= 0 {
		max = DefaultMaxSaved
	}
	spans, err := Spans(f, st.Size(), max)
	if err != nil {
		return record{}, err
	}
	rec := record{Path: abs, Size: st.Size(), MTime: st.ModTime(), Dev: uint64(sys.Dev), Ino: sys.Ino}
	for _, s := range spans {
		data := make([]byte, s.Len)
		if _, err := f.ReadAt(data, s.Off); err != nil {
			return record{}, fmt.Errorf("read %d bytes at offset %d: %w", s.Len, s.Off, err)
		}
		rec.Saved = append(rec.Saved, saved{Off: s.Off, Data: data})
	}
	return rec, nil
}

// openedFile is how mkvpropedit names the file Edit opened: the file is
// its first extra file descriptor (proc.Cmd.ExtraFiles[0]).
const openedFile = "/proc/self/fd/3"

// run runs mkvpropedit on the open file f (whose path was abs when it was
// opened), passed to it as fd 3; an error carries the end of its output
// (mkvpropedit prints its errors on stdout).
func (e *Editor) run(ctx context.Context, tool string, f *os.File, abs string, args []string) error {
	res, err := proc.Run(ctx, proc.Cmd{
		Path:       tool,
		Args:       append([]string{openedFile}, args...),
		MaxStdout:  maxToolOutput,
		MaxStderr:  maxToolOutput,
		ExtraFiles: []*os.File{f},
	})
	if err != nil {
		return fmt.Errorf("run mkvpropedit: %w", err)
	}
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("mkvpropedit: %w", cerr)
	}
	var exit *exec.ExitError
	if errors.As(res.Exit, &exit) && exit.ExitCode() == 1 {
		if e.Logger != nil {
			e.Logger.WithField("path", abs).Warnf("mkvpropedit warned: %s", named(tail(res.Stdout, res.Stderr), abs))
		}
		return nil
	}
	if res.Exit != nil {
		return fmt.Errorf("mkvpropedit: %w: %s", res.Exit, named(tail(res.Stdout, res.Stderr), abs))
	}
	return nil
}

// tail returns the last bytes of a tool's stdout and stderr, on one line.
func tail(stdout, stderr []byte) string {
	out := bytes.TrimSpace(bytes.Join([][]byte{bytes.TrimSpace(stdout), bytes.TrimSpace(stderr)}, []byte("\n")))
	if len(out) > errorTail {
		out = append([]byte("…"), out[len(out)-errorTail:]...)
	}
	return string(bytes.ReplaceAll(out, []byte("\n"), []byte(" / ")))
}

// named puts the file's path where mkvpropedit's output names the file
// by the descriptor it was given.
func named(out, abs string) string {
	return strings.ReplaceAll(out, openedFile, abs)
}

// undo restores the file after a failed edit and removes its record; cause
// is why. When restoring fails the record stays, for Recover.
func (e *Editor) undo(f *os.File, rec record, name string, cause error) error {
	if err := restore(f, rec); err != nil {
		return fmt.Errorf("edit %s: %w; restoring the original failed, its undo record %s stays for the next start: %w", rec.Path, cause, name, err)
	}
	if err := e.removeRecord(name); err != nil {
		return fmt.Errorf("edit %s: %w (original restored, but its undo record %s stays: %w)", rec.Path, cause, name, err)
	}
	return fmt.Errorf("edit %s (original restored): %w", rec.Path, cause)
}

// sameFile checks that the file at path is the one rec was saved from.
func sameFile(path string, rec record) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok || uint64(sys.Dev) != rec.Dev || sys.Ino != rec.Ino {
		return fmt.Errorf("%s was replaced by another file (which was not touched)", path)
	}
	return nil
}

// restore puts the file f back as rec saved it: size, saved bytes, mtime,
// all fsynced. It is idempotent. It refuses (changing nothing) when the
// file is shorter than it was and the missing bytes were not saved:
// mkvpropedit never removes Cluster data, so something else did.
func restore(f *os.File, rec record) error {
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if cur := st.Size(); cur < rec.Size && !covered(rec.Saved, cur, rec.Size) {
		return fmt.Errorf("the file is %d bytes, shorter than its original %d, and the missing bytes were not saved", cur, rec.Size)
	}
	if err := f.Truncate(rec.Size); err != nil {
		return fmt.Errorf("truncate to %d bytes: %w", rec.Size, err)
	}
	for _, s := range rec.Saved {
		if _, err := f.WriteAt(s.Data, s.Off); err != nil {
			return fmt.Errorf("write %d bytes at offset %d: %w", len(s.Data), s.Off, err)
		}
	}
	// The mtime is set on the open file, not through its path, which
	// may lead to another file by now.
	if err := setMTime(f, rec.MTime); err != nil {
		return fmt.Errorf("restore mtime: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("fsync: %w", err)
	}
	return nil
}

// setMTime sets the modification time of the open file f to mtime (its
// access time is left as it is), whatever its path leads to.
func setMTime(f *os.File, mtime time.Time) error {
	raw, err := f.SyscallConn()
	if err != nil {
		return err
	}
	times := []unix.Timespec{{Nsec: unix.UTIME_OMIT}, unix.NsecToTimespec(mtime.UnixNano())}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = unix.UtimesNanoAt(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(int(fd)), times, 0)
	}); err != nil {
		return err
	}
	return serr
}

// covered reports whether the saved spans cover [from, to) entirely.
func covered(spans []saved, from, to int64) bool {
	for _, s := range spans {
		end := s.Off + int64(len(s.Data))
		if s.Off <= from && end > from {
			from = end
		}
	}
	return from >= to
}
