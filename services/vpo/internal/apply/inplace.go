package apply

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/vpo-project/vpo/libs/media"
	"github.com/vpo-project/vpo/services/vpo/internal/inplace"
)

// applyInPlace makes a plan that only changes flags, titles and languages
// of an MKV file with mkvpropedit, through the in-place editor, which
// restores the file when mkvpropedit or the verification fails. The
// file's modification time is kept.
func (e *Executor) applyInPlace(ctx context.Context, path string, req Request) (Result, error) {
	st, err := e.precheck(path, req, false)
	if err != nil {
		return Result{}, err
	}
	tracks, err := e.matroskaTracks(ctx, path, req.Source)
	if err != nil {
		return Result{}, err
	}
	args := propEditArgs(req.Source, req.Plan.Target, tracks)
	// The file must still be the one checked and read by mkvmerge -J.
	if err := checkSame(path, st, false); err != nil {
		return Result{}, err
	}
	var (
		got    media.File
		gotRaw []byte
	)
	check := func(ctx context.Context) error {
		// The editor edited the file it opened, and calls this only
		// while that file is still at path (it checks that); the
		// probe reads path, so the file there must be the one
		// planned, not one that took its name before the editor
		// opened it.
		if err := checkSame(path, st, true); err != nil {
			return err
		}
		var err error
		if got, gotRaw, err = e.Probe(ctx, path, media.Options{}); err != nil {
			return fmt.Errorf("verify: %w", err)
		}
		return verify(got, req.Plan.Target, req.Source)
	}
	if err := e.inPlace.Edit(ctx, path, args, check); err != nil {
		if errors.Is(err, inplace.ErrBusy) {
			return Result{}, fmt.Errorf("edit in place: %w: %w", ErrBusy, err)
		}
		if !errors.Is(err, ErrChanged) {
			if cerr := checkSame(path, st, true); cerr != nil {
				// Another file took the path during the edit; the editor
				// restored the one it edited.
				return Result{}, fmt.Errorf("edit in place: %w: %w", cerr, err)
			}
		}
		return Result{}, fmt.Errorf("edit in place: %w", err)
	}
	if err := keepTimes(path, st); errors.Is(err, ErrChanged) {
		return Result{}, fmt.Errorf("edit in place: %w", err)
	} else if err != nil {
		e.log.WithError(err).Warnf("%s: edited, but its modification time could not be kept", path)
	}
	if gotRaw == nil {
		// An editor that did not call verify: probe the result now.
		if got, gotRaw, err = e.Probe(context.WithoutCancel(ctx), path, media.Options{}); err != nil {
			e.log.WithError(err).Warnf("%s: edited, but not probed", path)
		}
	}
	return e.result(ExecutorMkvPropEdit, path, "", got, gotRaw), nil
}

// keepTimes gives the file at path, once edited in place, the access and
// modification times st recorded before the edit, and fsyncs it. It sets
// them on a file it opened and found to be the one st describes (device
// and inode), never through the path alone: a file that took the name
// after the edit is left as it is, and the error wraps ErrChanged.
func keepTimes(path string, st fs.FileInfo) error {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return fmt.Errorf("%s: edited, but it is gone from its path (%v): %w", path, err, ErrChanged)
	}
	defer f.Close()
	now, err := f.Stat()
	if err != nil {
		return err
	}
	if !os.SameFile(now, st) {
		return fmt.Errorf("%s: edited, but another file took its name right after the edit (that file was not touched): %w", path, ErrChanged)
	}
	sys := st.Sys().(*syscall.Stat_t)
	times := []unix.Timespec{unix.NsecToTimespec(sys.Atim.Nano()), unix.NsecToTimespec(sys.Mtim.Nano())}
	raw, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = unix.UtimesNanoAt(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(int(fd)), times, 0)
	}); err != nil {
		return err
	}
	if serr != nil {
		return serr
	}
	return f.Sync()
}
