package apply

import (
	"context"
	"errors"
	"fmt"
	"os"
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
		// The editor edited the file now at path (it checks that): it
		// must be the one planned, not one that took its name before the
		// editor opened it.
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
	sys := st.Sys().(*syscall.Stat_t)
	times := []unix.Timespec{unix.NsecToTimespec(sys.Atim.Nano()), unix.NsecToTimespec(sys.Mtim.Nano())}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, path, times, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		e.log.WithError(err).Warnf("%s: edited, but its modification time could not be kept", path)
	} else if f, err := os.Open(path); err == nil {
		_ = f.Sync()
		f.Close()
	}
	if gotRaw == nil {
		// An editor that did not call verify: probe the result now.
		if got, gotRaw, err = e.Probe(context.WithoutCancel(ctx), path, media.Options{}); err != nil {
			e.log.WithError(err).Warnf("%s: edited, but not probed", path)
		}
	}
	return e.result(ExecutorMkvPropEdit, path, "", got, gotRaw), nil
}
