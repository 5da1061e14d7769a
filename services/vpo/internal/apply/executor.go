package apply

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync/atomic"

	"github.com/sirupsen/logrus"

	"github.com/vpo-project/vpo/libs/media"
	"github.com/vpo-project/vpo/libs/policy"
	"github.com/vpo-project/vpo/services/vpo/internal/inplace"
	"github.com/vpo-project/vpo/services/vpo/internal/transcode"
)

// The errors Apply wraps; test them with errors.Is.
var (
	// ErrStillChanging: the file was modified less than MinFileAge ago.
	ErrStillChanging = errors.New("file still changing")
	// ErrChanged: the file's size or modification time differ from those
	// the plan was made from, or the file was written to or replaced
	// (device, inode, size, mtime or ctime) while vpo worked on it.
	ErrChanged = errors.New("file changed since the plan was made")
	// ErrNoSpace: not enough free space for the rewrite, or the disk
	// filled up during it.
	ErrNoSpace = errors.New("not enough free space")
	// ErrBusy: another Apply on the same path runs in this process.
	ErrBusy = errors.New("another apply of the same file is running")
	// ErrVerify: the tool's result does not match the plan's target.
	ErrVerify = errors.New("result does not match the plan")
)

// The names of the executors in Result.Executor.
const (
	ExecutorNone        = "none"
	ExecutorMkvPropEdit = "mkvpropedit"
	ExecutorMkvMerge    = "mkvmerge"
	ExecutorFFmpeg      = "ffmpeg"
	// ExecutorTranscode re-encodes tracks with ffmpeg (the plan's target
	// has tracks with an Encode).
	ExecutorTranscode = "transcode"
)

// Tools are the paths of the external tools; an empty path is looked up
// on PATH at each use, so a tool installed while vpo runs is found.
type Tools struct {
	FFProbe     string
	FFmpeg      string
	MkvMerge    string
	MkvPropEdit string
}

// inPlaceEditor edits an MKV file in place with mkvpropedit, restoring it
// byte for byte when mkvpropedit or verify fails (package inplace's Editor).
type inPlaceEditor interface {
	Edit(ctx context.Context, path string, args []string, verify func(ctx context.Context) error) error
	Recover(ctx context.Context) ([]string, error)
}

// Options configure an Executor.
type Options struct {
	Tools Tools
	// JournalDir is the directory (in the daemon's state directory) where
	// the intents of rewrites are recorded; created when missing.
	JournalDir string
	// InPlace makes flag, title and language changes of MKV files in
	// place; nil makes them by an mkvmerge rewrite.
	InPlace inPlaceEditor
	Logger  *logrus.Entry
	// Nice is the niceness (0..19) of the ffmpeg of a transcode, or vpo's
	// own when that is higher (proc.Cmd.Nice); 0 leaves it at vpo's. SetNice changes it for the transcodes started after.
	// A transcode also runs in the idle I/O class.
	Nice int
	// DevRoot is where device nodes are looked for to encode with
	// hardware; "" is /dev (a test hook).
	DevRoot string
}

// Executor applies plans to files. It is safe for concurrent use; two
// Applies on the same file are not run at once (ErrBusy), whatever the
// paths they reach it by (the lock is on the path, the file's device and
// inode, and the name in its directory).
type Executor struct {
	tools   Tools
	journal *journal
	inPlace inPlaceEditor
	log     *logrus.Entry
	locks   *lockSet
	nice    atomic.Int32
	// hw picks the hardware method of transcodes, probing once per
	// process and ffmpeg.
	hw *transcode.Prober
	// freeSpace returns the bytes available to vpo in dir (a test hook).
	freeSpace func(dir string) (uint64, error)
	// beforeReplace, when set, is called with the path just before the
	// result takes it (a test hook: a file replaced at the last moment).
	beforeReplace func(path string)
	// toolDone, when set, is called with the temporary file's path once
	// a rewrite's tool returned (a test hook).
	toolDone func(temp string)
}

// New returns an Executor, creating Options.JournalDir when missing.
func New(opts Options) (*Executor, error) {
	if opts.JournalDir == "" {
		return nil, errors.New("apply: no journal directory")
	}
	j, err := openJournal(opts.JournalDir)
	if err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		l := logrus.New()
		l.Out = discard{}
		log = logrus.NewEntry(l)
	}
	e := &Executor{
		tools:     opts.Tools,
		journal:   j,
		inPlace:   opts.InPlace,
		log:       log,
		locks:     newLockSet(),
		freeSpace: statfsFree,
		hw:        &transcode.Prober{DevRoot: opts.DevRoot, Log: log},
	}
	e.SetNice(opts.Nice)
	return e, nil
}

// SetNice sets the niceness of the transcodes started from now on
// (clamped to 0..19).
func (e *Executor) SetNice(n int) { e.nice.Store(int32(min(max(n, 0), 19))) }

// Apply carries out req.Plan on req.Path (see the package doc for the
// executor chosen, the checks and the safe replacement). On error the file
// is as it was.
func (e *Executor) Apply(ctx context.Context, req Request) (Result, error) {
	if !filepath.IsAbs(req.Path) {
		return Result{}, permanent(fmt.Errorf("apply %q: not an absolute path", req.Path))
	}
	path := filepath.Clean(req.Path)
	ch, err := choose(req.Source, req.Plan, e.inPlace != nil)
	if err != nil {
		return Result{}, permanent(fmt.Errorf("apply %s to %s: %w", planName(req.Plan), path, err))
	}
	if ch.executor == ExecutorMkvPropEdit && hasOtherLinks(path) {
		// An edit in place would change every name of the file.
		ch.executor = ExecutorMkvMerge
	}
	newPath := path
	if ch.convert {
		newPath = convertedPath(path, req.Plan.Target.Container)
	}
	release, err := e.locks.lock(lockKeys(path, newPath)...)
	if err != nil {
		return Result{}, fmt.Errorf("apply %s to %s: %w", planName(req.Plan), path, err)
	}
	defer release()
	var res Result
	switch ch.executor {
	case ExecutorNone:
		res, err = e.applyNone(ctx, path, req)
	case ExecutorMkvPropEdit:
		res, err = e.applyInPlace(ctx, path, req)
		if errors.Is(err, inplace.ErrLayout) {
			// A file the editor cannot undo safely (nothing was touched):
			// rewrite it instead.
			e.log.WithError(err).Infof("%s: not edited in place; rewriting it with mkvmerge", path)
			res, err = e.rewrite(ctx, path, newPath, ExecutorMkvMerge, req)
		}
	default:
		res, err = e.rewrite(ctx, path, newPath, ch.executor, req)
	}
	if err != nil {
		return Result{}, fmt.Errorf("apply %s to %s: %w", planName(req.Plan), path, err)
	}
	e.log.WithFields(logrus.Fields{"path": res.Path, "executor": res.Executor, "original_kept": res.OriginalKept}).Debug("policy applied")
	return res, nil
}

// applyNone checks an empty plan's file is still the one planned and
// probes it; nothing is changed.
func (e *Executor) applyNone(ctx context.Context, path string, req Request) (Result, error) {
	st, err := checkUnchanged(path, req)
	if err != nil {
		return Result{}, err
	}
	after, raw, err := e.Probe(ctx, path, media.Options{})
	if err != nil {
		return Result{}, err
	}
	return Result{Executor: ExecutorNone, Path: path, After: after, AfterProbe: raw, Size: st.Size(), MTime: st.ModTime()}, nil
}

// planName names a plan's policy in errors.
func planName(p policy.Plan) string {
	if p.Policy == "" {
		return "plan"
	}
	return fmt.Sprintf("policy %q", p.Policy)
}

// discard drops a logger's output.
type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
