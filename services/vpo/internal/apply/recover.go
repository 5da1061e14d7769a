package apply

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/sirupsen/logrus"

	"github.com/vpo-project/vpo/libs/durable"
	"github.com/vpo-project/vpo/services/vpo/internal/proc"
)

// Recover undoes what applies killed before their end left (call it at
// start-up, before any Apply): a record of another vpo process that still
// runs (same boot, its executable or command name ours) is left alone,
// with a note; for each other journal record, the temporary
// file it names is removed when it is there, matches the temporary name
// pattern, lies in the recorded file's directory and is owned by vpo's
// user; a NAME.original.EXT the record names is removed when it is still
// the same file as the original (a link made before a rename that did not
// happen); then the record is removed. A torn record is removed (a
// record is complete before its temporary file is created), and so is a
// record whose temporary file is left alone because it does not fit these
// rules (with a warning); a record that could not be dealt with (an I/O
// error) stays for the next start and is in the error. Then the
// in-place editor restores the files it was editing. It returns the paths
// removed and restored; nothing a record does not name is touched.
func (e *Executor) Recover(ctx context.Context) ([]string, error) {
	recs, err := e.journal.list()
	if err != nil {
		return nil, err
	}
	var done []string
	var errs []error
	for _, r := range recs {
		if err := ctx.Err(); err != nil {
			return done, err
		}
		if r.err != nil {
			e.log.WithError(r.err).Warn("apply journal: removing an unreadable record")
			if err := os.Remove(r.file); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		in := r.intent
		if in.PID == os.Getpid() && e.locks.held(in.Path) {
			continue // an Apply of this process is at it
		}
		if in.PID != os.Getpid() && proc.OursRunning(in.PID, in.Boot) {
			e.log.WithFields(logrus.Fields{"path": in.Path, "pid": in.PID}).
				Infof("apply journal: %s belongs to vpo process %d, which still runs; left alone", in.Temp, in.PID)
			continue
		}
		removed, err := recoverIntent(in)
		done = append(done, removed...)
		var refused *refusal
		switch {
		case errors.As(err, &refused):
			e.log.WithField("path", in.Path).Warnf("apply journal: %v", err)
		case err != nil:
			errs = append(errs, fmt.Errorf("recover %s: %w", in.Path, err))
			continue // the record stays, for the next start
		}
		for _, p := range removed {
			e.log.WithField("path", in.Path).Warnf("apply of %s did not finish: removed %s", in.Path, p)
		}
		if err := e.journal.end(in.ID); err != nil {
			errs = append(errs, err)
		}
	}
	if e.inPlace != nil {
		restored, err := e.inPlace.Recover(ctx)
		done = append(done, restored...)
		if err != nil {
			errs = append(errs, fmt.Errorf("recover in-place edits: %w", err))
		}
	}
	return done, errors.Join(errs...)
}

// refusal is a record's temporary file that Recover leaves alone; the
// record is then removed.
type refusal struct {
	path, why string
}

func (r *refusal) Error() string { return r.path + " " + r.why + "; left alone" }

// recoverIntent removes what one unfinished rewrite left and returns the
// paths removed.
func recoverIntent(in intent) ([]string, error) {
	var removed []string
	dir := filepath.Dir(in.Path)
	if filepath.Dir(in.Temp) != dir || !isTempName(filepath.Base(in.Temp)) {
		return nil, &refusal{in.Temp, "is not a temporary file of vpo's in the file's directory"}
	}
	st, err := os.Lstat(in.Temp)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, err
	case !st.Mode().IsRegular():
		return nil, &refusal{in.Temp, "is not a regular file"}
	case int(st.Sys().(*syscall.Stat_t).Uid) != os.Geteuid():
		return nil, &refusal{in.Temp, "is not owned by vpo's user"}
	default:
		if err := os.Remove(in.Temp); err != nil {
			return nil, err
		}
		removed = append(removed, in.Temp)
	}
	if in.Kept != "" && filepath.Dir(in.Kept) == dir && strings.Contains(filepath.Base(in.Kept), ".original") {
		orig, err1 := os.Lstat(in.Path)
		kept, err2 := os.Lstat(in.Kept)
		if err1 == nil && err2 == nil && os.SameFile(orig, kept) {
			if err := os.Remove(in.Kept); err != nil {
				return removed, err
			}
			removed = append(removed, in.Kept)
		}
	}
	if len(removed) > 0 {
		if err := durable.SyncDir(dir); err != nil {
			return removed, err
		}
	}
	return removed, nil
}
