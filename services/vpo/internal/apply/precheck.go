package apply

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Free space a rewrite needs beyond the file's size: spaceMarginPercent of
// the size plus spaceMarginBytes (room for a larger result, the journal
// and whatever else writes to the disk meanwhile).
const (
	spaceMarginPercent = 5
	spaceMarginBytes   = 64 << 20
)

// checkUnchanged returns path's lstat when it is the regular file the plan
// was made from (same size and modification time), else an error
// wrapping ErrChanged (or naming what path is).
func checkUnchanged(path string, req Request) (fs.FileInfo, error) {
	st, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, permanent(fmt.Errorf("not a regular file but %s; vpo changes only regular files", fileKind(st.Mode())))
	}
	if st.Size() != req.SourceSize || !st.ModTime().Equal(req.SourceMTime) {
		return nil, fmt.Errorf("size %d and modification time %s, the plan was made for size %d and %s: %w",
			st.Size(), st.ModTime().UTC().Format(time.RFC3339Nano),
			req.SourceSize, req.SourceMTime.UTC().Format(time.RFC3339Nano), ErrChanged)
	}
	return st, nil
}

// precheck runs the checks before a change of path (see the package doc);
// rewrite adds the free-space check. It returns path's lstat.
func (e *Executor) precheck(path string, req Request, rewrite bool) (fs.FileInfo, error) {
	st, err := checkUnchanged(path, req)
	if err != nil {
		return nil, err
	}
	if req.MinFileAge > 0 {
		now := time.Now()
		changed := st.ModTime()
		if sys, ok := st.Sys().(*syscall.Stat_t); ok {
			if c := time.Unix(sys.Ctim.Unix()); c.After(changed) {
				changed = c
			}
		}
		if age := now.Sub(changed); age < req.MinFileAge {
			return nil, fmt.Errorf("modified %s ago, less than min_file_age %s: %w",
				age.Truncate(time.Millisecond), req.MinFileAge, ErrStillChanging)
		}
	}
	dir := filepath.Dir(path)
	if err := writable(path, st.Mode(), "file"); err != nil {
		return nil, err
	}
	dst, err := os.Stat(dir)
	if err != nil {
		return nil, err
	}
	if err := writable(dir, dst.Mode(), "directory"); err != nil {
		return nil, err
	}
	if rewrite {
		need := uint64(st.Size()) + uint64(st.Size())*spaceMarginPercent/100 + spaceMarginBytes
		how := fmt.Sprintf("the file's size %d + %d%% + %d MiB", st.Size(), spaceMarginPercent, spaceMarginBytes>>20)
		if err := e.checkSpace(dir, need, how); err != nil {
			return nil, err
		}
	}
	return st, nil
}

// checkSpace returns an error wrapping ErrNoSpace when dir has less than
// need bytes free; how says how need was reckoned.
func (e *Executor) checkSpace(dir string, need uint64, how string) error {
	free, err := e.freeSpace(dir)
	if err != nil {
		return fmt.Errorf("free space in %s: %w", dir, err)
	}
	if free < need {
		return fmt.Errorf("need %d bytes free in %s (%s), %d available: %w", need, dir, how, free, ErrNoSpace)
	}
	return nil
}

// ReadOnlyMode reports whether mode has no write permission bit at all:
// vpo then never changes the file (or the files of the directory), even
// when it runs as root.
func ReadOnlyMode(mode fs.FileMode) bool { return mode.Perm()&0o222 == 0 }

// writable returns an error when path (a file or directory) is read-only:
// no write permission bit at all (which vpo respects even as root), not
// writable for vpo, or on a read-only mount.
func writable(path string, mode fs.FileMode, what string) error {
	if ReadOnlyMode(mode) {
		return permanent(fmt.Errorf("%s %s is read-only (mode %s); vpo does not change it", what, path, mode.Perm()))
	}
	access := uint32(unix.W_OK)
	if mode.IsDir() {
		access |= unix.X_OK
	}
	if err := unix.Access(path, access); err != nil {
		if errors.Is(err, unix.EROFS) {
			return permanent(fmt.Errorf("%s %s is on a read-only file system", what, path))
		}
		if errors.Is(err, unix.EACCES) || errors.Is(err, unix.EPERM) {
			return permanent(fmt.Errorf("%s %s is not writable for vpo: %w", what, path, err))
		}
		return fmt.Errorf("%s %s is not writable for vpo: %w", what, path, err)
	}
	return nil
}

// statfsFree returns the bytes available to unprivileged users in dir's
// file system.
func statfsFree(dir string) (uint64, error) {
	var s unix.Statfs_t
	if err := unix.Statfs(dir, &s); err != nil {
		return 0, err
	}
	return s.Bavail * uint64(s.Bsize), nil
}

// fileKind names the kind of a file that is not regular.
func fileKind(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return fmt.Sprintf("a file of mode %s", m)
}
