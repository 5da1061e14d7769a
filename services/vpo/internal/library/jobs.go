package library

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/vpo-project/vpo/libs/store"
	"github.com/vpo-project/vpo/services/vpo/internal/apply"
	"github.com/vpo-project/vpo/services/vpo/internal/applyjob"
	"github.com/vpo-project/vpo/services/vpo/internal/scan"
)

// wanted tells whether the manager acts on the file at path: a video file
// of the library (scan.Container, which leaves out the temporary files of
// rewrites in progress) and, for applies (forApply), not a kept original.
func wanted(path string, forApply bool) bool {
	if _, ok := scan.Container(path); !ok {
		return false
	}
	return !forApply || !keptOriginal(path)
}

// keptOriginal tells whether path is the original vpo kept of a file it
// rewrote (policies.keep_original): named NAME.original[.N].EXT with a
// video file NAME.* beside it. A file merely named so, alone, is a video
// like any other.
func keptOriginal(path string) bool {
	base := filepath.Base(path)
	if !apply.IsKeptOriginal(base) {
		return false
	}
	stem := strings.TrimSuffix(base, filepath.Ext(base))
	stem = stem[:strings.LastIndex(stem, ".original")]
	dir := filepath.Dir(path)
	for _, ext := range candidateExts(filepath.Ext(base)) {
		if fi, err := os.Lstat(filepath.Join(dir, stem+ext)); err == nil && fi.Mode().IsRegular() {
			return true
		}
	}
	return false
}

// queueApply queues an apply of policy to the file at path unless one is
// queued already; it returns the job's id and whether it is new.
func (m *Manager) queueApply(ctx context.Context, policy, path string) (string, bool, error) {
	payload, err := json.Marshal(applyjob.Payload{Policy: policy, Path: path})
	if err != nil {
		return "", false, fmt.Errorf("apply payload of %q: %w", path, err)
	}
	return m.queue(ctx, store.NewJob{
		Kind: applyjob.Kind, Payload: payload, Priority: Priority, UniqueKey: store.ApplyKey(policy, path),
	})
}

// queueRescan queues a recursive scan of the library's root unless one is
// queued already, and returns its id.
func (m *Manager) queueRescan(ctx context.Context, s Spec) (string, error) {
	if !utf8.ValidString(s.Path) {
		return "", fmt.Errorf("rescan %q: a scan payload takes only UTF-8 paths", s.Path)
	}
	payload, err := json.Marshal(scan.Payload{Path: s.Path})
	if err != nil {
		return "", fmt.Errorf("scan payload of %q: %w", s.Path, err)
	}
	id, _, err := m.queue(ctx, store.NewJob{
		Kind: scan.Kind, Payload: payload, Priority: Priority, UniqueKey: store.ScanKey(s.Path),
	})
	return id, err
}

// queueFileScan queues a scan that records the file at path: a scan of
// the file's directory alone (not
// recursive), which records the files in it, unique per directory so
// that a burst of new files in one directory is one scan rather than one
// per file (the files in it that did not change cost a stat each and
// write nothing).
func (m *Manager) queueFileScan(ctx context.Context, path string) (string, error) {
	dir := filepath.Dir(path)
	recursive := false
	// A scan payload names its path in UTF-8 (as a library's root is):
	// under a directory named otherwise, the nearest parent that is not
	// is scanned, with its subdirectories.
	for !utf8.ValidString(dir) && dir != filepath.Dir(dir) {
		dir, recursive = filepath.Dir(dir), true
	}
	payload, err := json.Marshal(scan.Payload{Path: dir, Recursive: &recursive})
	if err != nil {
		return "", fmt.Errorf("scan payload of %q: %w", dir, err)
	}
	id, _, err := m.queue(ctx, store.NewJob{
		Kind: scan.Kind, Payload: payload, Priority: Priority, UniqueKey: dirScanKey(dir, recursive),
	})
	return id, err
}

// dirScanKey is the unique key of a scan of dir (with its
// subdirectories when recursive).
func dirScanKey(dir string, recursive bool) string {
	if recursive {
		return store.ScanKey(dir)
	}
	return store.DirScanKey(dir)
}

// queue creates nj unless its unique key is held, and wakes the workers
// for a new job.
func (m *Manager) queue(ctx context.Context, nj store.NewJob) (string, bool, error) {
	j, created, err := m.opts.Store.CreateUniqueJob(ctx, nj)
	if err != nil {
		return "", false, err
	}
	if created {
		m.opts.Submitted()
	}
	return j.ID, created, nil
}

// hasPrefixDir tells whether path is under dir (not dir itself).
func hasPrefixDir(path, dir string) bool {
	return strings.HasPrefix(path, strings.TrimRight(dir, "/")+"/")
}

// candidateExts are the extensions the source of a kept original may
// have: the original's own first, then every video extension in lower
// and upper case.
func candidateExts(own string) []string {
	out := []string{own}
	for _, e := range scan.VideoExtensionList() {
		out = append(out, e, strings.ToUpper(e))
	}
	return out
}
