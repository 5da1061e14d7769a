package inplace

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/vpo-project/vpo/libs/durable"
	"github.com/vpo-project/vpo/services/vpo/internal/proc"
)

const (
	// recordExt names a complete undo record; tempPrefix one being
	// written (its edit never started); corruptExt a record set aside.
	recordExt  = ".undo"
	tempPrefix = ".tmp-"
	corruptExt = ".corrupt"
	// recordSlack is what a record may hold beyond its saved bytes and
	// their span overhead (magic, path, fields, checksum).
	recordSlack = 1 << 20
)

// writeRecord stores rec durably in the journal directory (temp file,
// fsync, rename, fsync of the directory) and returns its file name.
func (e *Editor) writeRecord(rec record) (string, error) {
	if e.JournalDir == "" {
		return "", errors.New("no journal directory for undo records")
	}
	if err := makeDir(e.JournalDir); err != nil {
		return "", fmt.Errorf("create journal directory: %w", err)
	}
	var id [8]byte
	if _, err := rand.Read(id[:]); err != nil {
		return "", fmt.Errorf("random record id: %w", err)
	}
	prefix := pathPrefix(rec.Path)
	name := prefix + hex.EncodeToString(id[:]) + ownerPart(os.Getpid(), proc.BootID()) + recordExt
	tmp := filepath.Join(e.JournalDir, tempPrefix+name)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("write undo record: %w", err)
	}
	_, werr := f.Write(rec.encode())
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp, filepath.Join(e.JournalDir, name))
	}
	if werr == nil {
		werr = durable.SyncDir(e.JournalDir)
	}
	if werr != nil {
		_ = os.Remove(tmp)
		_ = os.Remove(filepath.Join(e.JournalDir, name))
		return "", fmt.Errorf("write undo record %s: %w", tmp, werr)
	}
	// Another record of the same file: an edit of it runs now, or one did
	// not finish and was not recovered (its file may hold a mix of old and
	// new headers, which must not be taken for the original).
	if other, err := e.other(prefix, name); err != nil || other != "" {
		rerr := e.removeRecord(name)
		switch {
		case err != nil:
		case strings.HasSuffix(other, corruptExt):
			err = fmt.Errorf("%w: the corrupt undo record %s of an earlier edit of this file was set aside: check the file, then remove the record", ErrBusy, filepath.Join(e.JournalDir, other))
		default:
			err = fmt.Errorf("%w: undo record %s of the same file exists (an edit of it runs, or one did not finish and vpo has not recovered it yet)", ErrBusy, filepath.Join(e.JournalDir, other))
		}
		return "", errors.Join(err, rerr)
	}
	return name, nil
}

// ownerPart is what a record's name says of the process that wrote it:
// ".PID.BOOT" (BOOT the boot id, maybe ""). Names of older versions have
// none.
func ownerPart(pid int, boot string) string {
	return "." + strconv.Itoa(pid) + "." + boot
}

// ownerOf returns the process that wrote the record (or temporary record)
// name and its boot; pid 0 when the name does not say.
func ownerOf(name string) (pid int, boot string) {
	name = strings.TrimSuffix(strings.TrimPrefix(name, tempPrefix), recordExt)
	parts := strings.Split(name, ".")
	if len(parts) != 3 {
		return 0, ""
	}
	pid, err := strconv.Atoi(parts[1])
	if err != nil {
		return 0, ""
	}
	return pid, parts[2]
}

// liveOwner reports whether the record name was written by another vpo
// process that still runs (its edit may be under way): Recover leaves it.
func (e *Editor) liveOwner(name string) bool {
	pid, boot := ownerOf(name)
	if pid == 0 || pid == os.Getpid() || !proc.OursRunning(pid, boot) {
		return false
	}
	if e.Logger != nil {
		e.Logger.WithField("pid", pid).Infof("in-place undo record %s belongs to vpo process %d, which still runs; left alone",
			filepath.Join(e.JournalDir, name), pid)
	}
	return true
}

// ErrBusy is wrapped by Edit's error when another edit of the same file
// is running or did not finish: nothing was done.
var ErrBusy = errors.New("file busy")

// pathPrefix starts the names of the records of the file path: records of
// one file are found without reading them.
func pathPrefix(path string) string {
	sum := sha256.Sum256([]byte(path))
	return hex.EncodeToString(sum[:8]) + "-"
}

// other returns the name of a record (or set-aside corrupt record) with
// prefix other than name, or "".
func (e *Editor) other(prefix, name string) (string, error) {
	entries, err := os.ReadDir(e.JournalDir)
	if err != nil {
		return "", err
	}
	for _, ent := range entries {
		n := ent.Name()
		if n != name && strings.HasPrefix(n, prefix) && (strings.HasSuffix(n, recordExt) || strings.HasSuffix(n, recordExt+corruptExt)) {
			return n, nil
		}
	}
	return "", nil
}

// removeRecord deletes the record name durably.
func (e *Editor) removeRecord(name string) error {
	p := filepath.Join(e.JournalDir, name)
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove undo record: %w", err)
	}
	if err := durable.SyncDir(e.JournalDir); err != nil {
		return fmt.Errorf("remove undo record %s: %w", p, err)
	}
	return nil
}

// makeDir creates dir and its missing parents, durably: each directory
// created is fsynced into its parent, so that a record written into it
// survives a power loss.
func makeDir(dir string) error {
	var missing []string
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil {
			break
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		missing = append(missing, d)
		if d == filepath.Dir(d) {
			break
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for _, d := range missing {
		if err := durable.SyncDir(filepath.Dir(d)); err != nil {
			return err
		}
	}
	return nil
}

// Recover restores every file whose edit did not finish (vpo was killed
// or the machine went down during an edit) and removes their records; it
// returns the paths restored. Call it at start-up, before any Edit. The
// records of another vpo process that still runs (their names carry its
// pid and boot id; see proc.OursRunning) are left alone, with a note.
//
// A record whose checksum fails is never acted on: it is renamed to
// NAME.corrupt and named in the error, and its file (known by the record's
// name) is not edited again until an operator removes it. A record whose file is gone, or was
// replaced (another device or inode at the path), is dropped with a
// warning. A restore that fails keeps its record (the next Recover tries
// again) and is named in the error; the other records are still handled.
// Recover is idempotent: if it is interrupted, running it again finishes
// the work.
func (e *Editor) Recover(ctx context.Context) ([]string, error) {
	if e.JournalDir == "" {
		return nil, errors.New("recover in-place edits: no journal directory")
	}
	entries, err := os.ReadDir(e.JournalDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("recover in-place edits: %w", err)
	}
	var (
		restored []string
		errs     []error
	)
	for _, ent := range entries {
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		name := ent.Name()
		switch {
		case (strings.HasPrefix(name, tempPrefix) || strings.HasSuffix(name, recordExt)) && e.liveOwner(name):
		case strings.HasPrefix(name, tempPrefix):
			// Never renamed into place: its edit never ran mkvpropedit.
			if err := os.Remove(filepath.Join(e.JournalDir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
		case strings.HasSuffix(name, recordExt):
			path, err := e.recoverOne(name)
			if err != nil {
				errs = append(errs, err)
			}
			if path != "" {
				restored = append(restored, path)
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return restored, fmt.Errorf("recover in-place edits: %w", err)
	}
	return restored, nil
}

// recoverOne applies the record name and removes it; it returns the path
// restored ("" when the record was dropped).
func (e *Editor) recoverOne(name string) (string, error) {
	p := filepath.Join(e.JournalDir, name)
	rec, err := e.readRecord(p)
	if errors.Is(err, errCorrupt) {
		aside := p + corruptExt
		if rerr := os.Rename(p, aside); rerr != nil {
			return "", fmt.Errorf("undo record %s: %w; not applied (setting it aside failed: %w)", p, err, rerr)
		}
		return "", fmt.Errorf("undo record %s: %w; not applied, kept as %s", p, err, aside)
	}
	if err != nil {
		return "", fmt.Errorf("undo record %s: %w", p, err)
	}
	f, err := os.OpenFile(rec.Path, os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		e.warn(rec.Path, "an in-place edit of %s did not finish and the file is gone; undo record %s dropped", rec.Path, p)
		return "", e.removeRecord(name)
	}
	if err != nil {
		return "", fmt.Errorf("undo record %s: %w", p, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("undo record %s: %w", p, err)
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok || uint64(sys.Dev) != rec.Dev || sys.Ino != rec.Ino || !st.Mode().IsRegular() {
		e.warn(rec.Path, "an in-place edit of %s did not finish, but another file is at that path now; undo record %s dropped, the file left as it is", rec.Path, p)
		return "", e.removeRecord(name)
	}
	if err := restore(f, rec); err != nil {
		return "", fmt.Errorf("restore %s from undo record %s: %w", rec.Path, p, err)
	}
	if err := e.removeRecord(name); err != nil {
		return rec.Path, err
	}
	return rec.Path, nil
}

// readRecord reads and decodes the record file p, refusing anything that
// is not a regular file or is larger than a record can be.
func (e *Editor) readRecord(p string) (record, error) {
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return record{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return record{}, err
	}
	max := e.MaxSaved
	if max <= 0 {
		max = DefaultMaxSaved
	}
	if !st.Mode().IsRegular() {
		return record{}, errors.New("not a regular file")
	}
	if st.Size() > max+recordSlack {
		return record{}, fmt.Errorf("%d bytes, more than a record can hold with max_saved %d", st.Size(), max)
	}
	data, err := io.ReadAll(io.LimitReader(f, max+recordSlack+1))
	if err != nil {
		return record{}, err
	}
	return decode(data)
}

// warn logs a warning about path, if there is a logger.
func (e *Editor) warn(path, format string, args ...any) {
	if e.Logger != nil {
		e.Logger.WithField("path", path).Warnf(format, args...)
	}
}
