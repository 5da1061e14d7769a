package apply

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/vpo-project/vpo/libs/durable"
	"github.com/vpo-project/vpo/libs/media"
	"github.com/vpo-project/vpo/services/vpo/internal/proc"
)

// tempMark is in the name of every temporary file:
// ".NAME.vpo-tmp-RANDOM.EXT".
const tempMark = ".vpo-tmp-"

// maxNameBytes is the longest file name Linux file systems take.
const maxNameBytes = 255

// rewrite makes req's plan into a new file with the tool executor and puts
// it in place of path (at newPath when the container changes): see the
// package doc for the steps.
func (e *Executor) rewrite(ctx context.Context, path, newPath, executor string, req Request) (Result, error) {
	st, err := e.precheck(path, req, executor != ExecutorTranscode)
	if err != nil {
		return Result{}, err
	}
	if executor == ExecutorTranscode {
		need, how := transcodeSpace(st.Size(), req)
		if err := e.checkSpace(filepath.Dir(path), need, how); err != nil {
			return Result{}, err
		}
	}
	if newPath != path {
		if _, err := os.Lstat(newPath); err == nil {
			return Result{}, permanent(fmt.Errorf("the result's name %s is taken; vpo does not overwrite it", newPath))
		} else if !errors.Is(err, fs.ErrNotExist) {
			return Result{}, err
		}
	}
	var tracks map[int]mkvTrack
	if executor == ExecutorMkvMerge {
		if tracks, err = e.matroskaTracks(ctx, path, req.Source); err != nil {
			return Result{}, err
		}
	}
	id, err := randomID()
	if err != nil {
		return Result{}, err
	}
	in := intent{ID: id, Path: path, Temp: tempName(newPath, id), PID: os.Getpid(), Boot: proc.BootID(), Started: time.Now().UTC()}
	if newPath != path {
		in.NewPath = newPath
	}
	if req.KeepOriginal {
		if in.Kept, err = keptName(path); err != nil {
			return Result{}, err
		}
	}
	if err := e.journal.begin(in); err != nil {
		return Result{}, err
	}
	r := &replacement{e: e, in: in, st: st}
	defer r.abandon()
	if err := r.createTemp(); err != nil {
		return Result{}, err
	}
	var (
		args []string
		enc  encodeRun
	)
	tool, toolPath := executor, e.tools.FFmpeg
	switch executor {
	case ExecutorMkvMerge:
		args, toolPath = mkvMergeArgs(path, in.Temp, req.Source, req.Plan.Target, tracks), e.tools.MkvMerge
	case ExecutorTranscode:
		if enc, err = e.prepareTranscode(ctx, path, in.Temp, req); err != nil {
			return Result{}, err
		}
		tool, args = "ffmpeg", enc.args
	default:
		args = ffmpegArgs(path, in.Temp, req.Source, req.Plan.Target)
	}
	e.log.WithFields(logrus.Fields{"path": path, "executor": executor}).Debugf("running %s %s", tool, quoteArgs(args))
	// A cancellation (shutdown, stall, a user) removes the temporary file
	// at once, before the tool is killed and reaped (slow for a busy,
	// niced encoder): if vpo exits before this apply returns, no partial
	// output stays. The tool, if it still writes, writes to an unlinked
	// file; one that recreates the name is dealt with by abandon, or by
	// Recover, since the record stays until then.
	dropped := make(chan struct{})
	stopDrop := context.AfterFunc(ctx, func() {
		defer close(dropped)
		r.dropTemp()
	})
	switch executor {
	case ExecutorTranscode:
		err = e.runFFmpeg(ctx, enc, true, req.Source.Duration, req.Progress)
	case ExecutorMkvMerge:
		err = e.runMkvMerge(ctx, toolPath, args, req.Progress)
	default:
		var ff string
		if ff, err = lookTool("ffmpeg", toolPath); err == nil {
			err = e.runFFmpeg(ctx, encodeRun{ffmpeg: ff, args: args}, false, req.Source.Duration, req.Progress)
		}
	}
	if !stopDrop() {
		<-dropped
	}
	if e.toolDone != nil {
		e.toolDone(in.Temp)
	}
	if err != nil {
		var te *toolError
		if errors.As(err, &te) && te.diskFull() {
			return Result{}, fmt.Errorf("write %s: disk full: %v: %w", in.Temp, err, ErrNoSpace)
		}
		return Result{}, fmt.Errorf("write %s: %w", in.Temp, err)
	}
	got, gotRaw, err := e.Probe(ctx, in.Temp, media.Options{})
	if err != nil {
		return Result{}, fmt.Errorf("verify %s: %w", in.Temp, err)
	}
	if err := verify(got, req.Plan.Target, req.Source); err != nil {
		return Result{}, fmt.Errorf("verify %s: %w", in.Temp, err)
	}
	if err := r.finishTemp(); err != nil {
		return Result{}, err
	}
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	if err := r.commit(); err != nil {
		return Result{}, err
	}
	res := e.result(executor, newPath, r.kept, got, gotRaw)
	if executor == ExecutorTranscode {
		res.Encoder, res.HW = enc.encoder, string(enc.hw.Method)
	}
	return res, nil
}

// result describes the file at path after a change: after and raw are
// the probe that verified it (made under another name, or before its
// times were restored), raw's format.filename is set to path. The change
// is made: what cannot be read here is logged, not an error.
func (e *Executor) result(executor, path, kept string, after media.File, raw []byte) Result {
	res := Result{Executor: executor, Path: path, OriginalKept: kept, After: after, AfterProbe: raw}
	if renamed, err := renameProbe(raw, path); err != nil {
		e.log.WithError(err).Warnf("%s: the probe of the result names its temporary file", path)
	} else {
		res.AfterProbe = renamed
	}
	if st, err := os.Stat(path); err != nil {
		e.log.WithError(err).Warnf("%s: applied, but its size and time are unknown", path)
	} else {
		res.Size, res.MTime = st.Size(), st.ModTime()
	}
	return res
}

// renameProbe returns ffprobe's JSON raw with format.filename set to path.
func renameProbe(raw []byte, path string) ([]byte, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		return nil, fmt.Errorf("ffprobe output: %w", err)
	}
	var format map[string]json.RawMessage
	if err := json.Unmarshal(top["format"], &format); err != nil {
		return nil, fmt.Errorf("ffprobe output: format: %w", err)
	}
	name, err := json.Marshal(path)
	if err != nil {
		return nil, err
	}
	format["filename"] = name
	if top["format"], err = json.Marshal(format); err != nil {
		return nil, err
	}
	return json.Marshal(top)
}

// replacement is one rewrite in progress: its intent, the original's
// lstat, and what was done so far.
type replacement struct {
	e  *Executor
	in intent
	st fs.FileInfo
	// created: the temporary file was created by this replacement;
	// linked: in.Kept is a hard link to the original made by it; kept: the
	// original is kept there, after the commit.
	created   bool
	linked    bool
	kept      string
	committed bool
}

// createTemp creates the temporary file, empty and private, so that its
// name is ours before a tool writes to it.
func (r *replacement) createTemp() error {
	f, err := os.OpenFile(r.in.Temp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create temporary file: %w", err)
	}
	r.created = true
	return f.Close()
}

// finishTemp gives the temporary file the original's owner, group, mode
// and times, and fsyncs it.
func (r *replacement) finishTemp() error {
	f, err := os.OpenFile(r.in.Temp, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	sys, ok := r.st.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("%s: no owner information", r.in.Path)
	}
	euid := os.Geteuid()
	switch {
	case euid == 0:
		if err := f.Chown(int(sys.Uid), int(sys.Gid)); err != nil {
			return fmt.Errorf("give %s the owner of %s: %w", r.in.Temp, r.in.Path, err)
		}
	case int(sys.Uid) == euid:
		if err := f.Chown(-1, int(sys.Gid)); err != nil {
			r.e.log.WithError(err).Warnf("%s: the result's group is vpo's, not the original's (%d)", r.in.Path, sys.Gid)
		}
	default:
		r.e.log.Warnf("%s: the result is owned by vpo's user, not the original's (%d)", r.in.Path, sys.Uid)
	}
	// After the chown, which clears set-user-ID and set-group-ID bits.
	if err := unix.Fchmod(int(f.Fd()), sys.Mode&0o7777); err != nil {
		return fmt.Errorf("give %s the mode of %s: %w", r.in.Temp, r.in.Path, err)
	}
	times := []unix.Timespec{unix.NsecToTimespec(sys.Atim.Nano()), unix.NsecToTimespec(sys.Mtim.Nano())}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, r.in.Temp, times, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("give %s the times of %s: %w", r.in.Temp, r.in.Path, err)
	}
	if err := f.Sync(); err != nil {
		return diskErr(fmt.Sprintf("fsync %s", r.in.Temp), err)
	}
	return nil
}

// commit puts the temporary file in place. It first checks that the file
// at the path is still the one the tool read (device, inode, size, mtime,
// ctime): a file written to or replaced meanwhile is left as it is
// (ErrChanged). Before the first rename, a failure leaves the original as
// it was; after it, the change is made and a failure to move or remove the
// original is only logged (both files are then there).
func (r *replacement) commit() error {
	in, dir := r.in, filepath.Dir(r.in.Path)
	if err := checkSame(in.Path, r.st, false); err != nil {
		return err
	}
	if in.NewPath == "" {
		if in.Kept != "" {
			if err := r.keep(); err != nil {
				return err
			}
			if r.linked {
				// The link must be to the file the tool read.
				if err := checkSame(in.Kept, r.st, true); err != nil {
					return err
				}
			}
		}
		if err := r.replace(); err != nil {
			return err
		}
		r.committed = true
		r.kept = in.Kept
	} else {
		if err := renameNoReplace(in.Temp, in.NewPath); err != nil {
			return fmt.Errorf("rename %s to %s: %w", in.Temp, in.NewPath, err)
		}
		r.committed = true
		switch err := checkSame(in.Path, r.st, true); {
		case err != nil:
			// Another file took the original's name after the check: it
			// is not vpo's to move or remove.
			r.e.log.WithError(err).Warnf("%s converted to %s; the file now at %s is left as it is", in.Path, in.NewPath, in.Path)
		case in.Kept != "":
			if err := renameNoReplace(in.Path, in.Kept); err != nil {
				r.e.log.WithError(err).Warnf("%s converted to %s; the original stays where it is", in.Path, in.NewPath)
				r.kept = in.Path
			} else {
				r.kept = in.Kept
			}
		default:
			if err := os.Remove(in.Path); err != nil {
				r.e.log.WithError(err).Warnf("%s converted to %s; the original could not be removed", in.Path, in.NewPath)
				r.kept = in.Path
			}
		}
	}
	if err := durable.SyncDir(dir); err != nil {
		r.e.log.WithError(err).Warnf("fsync %s", dir)
	}
	if err := r.e.journal.end(in.ID); err != nil {
		r.e.log.WithError(err).Warn("apply journal")
	}
	return nil
}

// replace puts the temporary file at in.Path. It exchanges the two names
// atomically, then checks that what the temporary name now holds is the
// file the tool read; when another file took the path since the last
// check, the names are exchanged back (ErrChanged): vpo never renames its
// result over a file it did not read. On a file system without the
// exchange, the result is renamed over the path right after that check.
func (r *replacement) replace() error {
	in := r.in
	if r.e.beforeReplace != nil {
		r.e.beforeReplace(in.Path)
	}
	err := unix.Renameat2(unix.AT_FDCWD, in.Temp, unix.AT_FDCWD, in.Path, unix.RENAME_EXCHANGE)
	if errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOSYS) || errors.Is(err, syscall.ENOTSUP) {
		if err := os.Rename(in.Temp, in.Path); err != nil {
			return fmt.Errorf("replace %s: %w", in.Path, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("replace %s: %w", in.Path, err)
	}
	if cerr := checkSame(in.Temp, r.st, true); cerr != nil {
		if err := unix.Renameat2(unix.AT_FDCWD, in.Temp, unix.AT_FDCWD, in.Path, unix.RENAME_EXCHANGE); err != nil {
			// Both files stay, under each other's names: the temporary
			// name is not removed.
			r.created = false
			return fmt.Errorf("replace %s: %w; %s now holds vpo's result and %s the other file (exchanging them back failed: %v)", in.Path, cerr, in.Path, in.Temp, err)
		}
		return fmt.Errorf("replace %s: %w", in.Path, cerr)
	}
	// The temporary name holds the original now.
	if err := os.Remove(in.Temp); err != nil {
		r.e.log.WithError(err).Warnf("%s replaced; its original could not be removed from %s", in.Path, in.Temp)
	}
	return nil
}

// keep makes in.Kept a hard link to the original, or where the file
// system has none, a copy of it.
func (r *replacement) keep() error {
	in := r.in
	err := os.Link(in.Path, in.Kept)
	if err == nil {
		r.linked = true
		return nil
	}
	if !errors.Is(err, syscall.EPERM) && !errors.Is(err, syscall.EXDEV) && !errors.Is(err, syscall.ENOTSUP) && !errors.Is(err, syscall.EMLINK) {
		return fmt.Errorf("keep the original as %s: %w", in.Kept, err)
	}
	if err := copyFile(in.Path, in.Kept, r.st); err != nil {
		_ = os.Remove(in.Kept)
		return diskErr("keep the original as "+in.Kept, err)
	}
	return nil
}

// dropTemp removes the temporary file, if this replacement created it,
// without waiting for its tool: a cancellation's first step.
func (r *replacement) dropTemp() {
	if !r.created {
		return
	}
	if err := os.Remove(r.in.Temp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		r.e.log.WithError(err).Warnf("remove temporary file %s", r.in.Temp)
	}
}

// abandon undoes an uncommitted replacement: the temporary file and a link
// made to keep the original are removed, then the journal record.
func (r *replacement) abandon() {
	if r.committed {
		return
	}
	// A temporary name that could not be created (taken, by chance) is
	// not ours to remove.
	if r.created {
		if err := os.Remove(r.in.Temp); err != nil && !errors.Is(err, fs.ErrNotExist) {
			r.e.log.WithError(err).Warnf("remove temporary file %s", r.in.Temp)
			return // the record stays, for Recover
		}
	}
	if r.linked {
		if err := os.Remove(r.in.Kept); err != nil {
			r.e.log.WithError(err).Warnf("remove %s", r.in.Kept)
		}
	}
	if err := r.e.journal.end(r.in.ID); err != nil {
		r.e.log.WithError(err).Warn("apply journal")
	}
}

// copyFile copies src to a new file dst with src's mode and times, and
// fsyncs it.
func copyFile(src, dst string, st fs.FileInfo) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, st.Mode().Perm())
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chtimes(dst, time.Time{}, st.ModTime())
	}
	return err
}

// diskErr wraps err of the step what, adding ErrNoSpace for ENOSPC.
func diskErr(what string, err error) error {
	if errors.Is(err, syscall.ENOSPC) {
		return fmt.Errorf("%s: disk full: %v: %w", what, err, ErrNoSpace)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// renameNoReplace renames from to to, failing when to exists.
func renameNoReplace(from, to string) error {
	err := unix.Renameat2(unix.AT_FDCWD, from, unix.AT_FDCWD, to, unix.RENAME_NOREPLACE)
	if !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOSYS) {
		return err
	}
	// A file system without RENAME_NOREPLACE: a link fails when to
	// exists, as the rename should.
	if err := os.Link(from, to); err != nil {
		return err
	}
	return os.Remove(from)
}

// tempName is the temporary file for the result at path:
// DIR/.NAME.vpo-tmp-ID.EXT, NAME shortened to fit a file name.
func tempName(path, id string) string {
	dir, base := filepath.Split(path)
	ext := filepath.Ext(base)
	stem := strings.TrimSuffix(base, ext)
	if !isAlnum(strings.TrimPrefix(ext, ".")) {
		ext = ".tmp"
	}
	room := maxNameBytes - len("."+tempMark+id+ext)
	for len(stem) > room {
		stem = stem[:len(stem)-1]
	}
	stem = strings.ToValidUTF8(stem, "")
	return filepath.Join(dir, "."+stem+tempMark+id+ext)
}

// IsKeptOriginal reports whether a file name is one keptName gives a
// kept original: NAME.original.EXT or NAME.original.N.EXT (N from 2 on).
// Such files are never applied to: they are the user's copies of what was
// there before a change.
func IsKeptOriginal(name string) bool {
	stem := strings.TrimSuffix(name, filepath.Ext(name))
	if strings.HasSuffix(stem, ".original") {
		return true
	}
	i := strings.LastIndexByte(stem, '.')
	if i < 0 || !strings.HasSuffix(stem[:i], ".original") {
		return false
	}
	n, err := strconv.Atoi(stem[i+1:])
	return err == nil && n >= 2 && strconv.Itoa(n) == stem[i+1:]
}

// keptName is the first free name of NAME.original.EXT,
// NAME.original.2.EXT, ... for path.
func keptName(path string) (string, error) {
	ext := filepath.Ext(path)
	stem := strings.TrimSuffix(path, ext)
	for n := 1; n < 1000; n++ {
		name := stem + ".original" + ext
		if n > 1 {
			name = stem + ".original." + strconv.Itoa(n) + ext
		}
		if len(filepath.Base(name)) > maxNameBytes {
			return "", permanent(fmt.Errorf("keep the original of %s: the name %s is too long", path, filepath.Base(name)))
		}
		if _, err := os.Lstat(name); errors.Is(err, fs.ErrNotExist) {
			return name, nil
		} else if err != nil {
			return "", fmt.Errorf("keep the original: %w", err)
		}
	}
	return "", permanent(fmt.Errorf("keep the original of %s: %s.original.EXT up to 999 are all taken", path, stem))
}

// randomID returns 16 random hex digits.
func randomID() (string, error) {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random name: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// IsTempName reports whether base (a file name without directory) is
// the name of a temporary file of a rewrite in progress, which a watcher
// of the library must leave alone.
func IsTempName(base string) bool { return isTempName(base) }

// isTempName reports whether base is the name of a temporary file:
// ".NAME.vpo-tmp-" followed by 16 lower-case hex digits, a dot and an
// extension of letters and digits.
func isTempName(base string) bool {
	i := strings.LastIndex(base, tempMark)
	if !strings.HasPrefix(base, ".") || i < 1 {
		return false
	}
	rest := base[i+len(tempMark):]
	id, ext, ok := strings.Cut(rest, ".")
	if !ok || len(id) != 16 || !isAlnum(ext) {
		return false
	}
	for _, c := range id {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// isAlnum reports whether s is a non-empty run of ASCII letters and
// digits.
func isAlnum(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}
