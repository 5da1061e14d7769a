package applyjob

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/vpo-project/vpo/libs/jobs"
	"github.com/vpo-project/vpo/libs/media"
	"github.com/vpo-project/vpo/libs/policy"
	"github.com/vpo-project/vpo/libs/store"
	"github.com/vpo-project/vpo/services/vpo/internal/apply"
	"github.com/vpo-project/vpo/services/vpo/internal/scan"
)

// source returns the probe of the file at path for planning without
// changing it (a dry run, a plan stored for approval): the one a scan
// stored when it still stands for the file (see storedSource; no ffprobe
// run), else a new probe, which is stored as a scan would store it.
func (h *Handler) source(ctx context.Context, pol *policy.Policy, path string, fi os.FileInfo) (media.File, error) {
	row, err := h.st.GetFile(ctx, path)
	switch {
	case err == nil:
		if r, rerr := media.NewReader(pol.MediaOptions()); rerr == nil {
			if f, ok := storedSource(row, fi, r); ok {
				return f, nil
			}
		}
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return media.File{}, err
	}
	return h.probe(ctx, pol, path, fi)
}

// probe runs ffprobe on the file at path (fi is its state before the run)
// and stores the result in its files row. An apply that changes a file
// plans from this, never from a stored probe: one ffprobe run per changed
// file, so that a change is never planned from a stale or shortened record.
func (h *Handler) probe(ctx context.Context, pol *policy.Policy, path string, fi os.FileInfo) (media.File, error) {
	f, raw, err := h.exec.Probe(ctx, path, pol.MediaOptions())
	if err != nil {
		err = fmt.Errorf("probe %s: %w", path, err)
		if errors.Is(err, apply.ErrPermanent) {
			// Not a media file: another attempt reads the same.
			err = jobs.Final(err)
		}
		return media.File{}, err
	}
	if err := h.st.UpsertFile(ctx, fileRow(path, fi.Size(), fi.ModTime(), f, raw, h.now())); err != nil {
		return media.File{}, err
	}
	return f, nil
}

// storedSource returns the media model of the probe stored in row when it
// can stand for the file fi: probed without error, same size and
// modification time, nothing shortened (no string cut by
// store.ReduceProbe, no stream left out) and every stream understood.
func storedSource(row store.File, fi os.FileInfo, r *media.Reader) (media.File, bool) {
	if !row.Probed() || len(row.Probe) == 0 || row.Size != fi.Size() || !row.ModTime.Equal(fi.ModTime()) {
		return media.File{}, false
	}
	if shortened(row.Probe) {
		return media.File{}, false
	}
	f, err := r.Read(row.Probe)
	if err != nil || f.StreamsDropped > 0 {
		return media.File{}, false
	}
	return f, true
}

// shortened tells whether a reduced probe holds a string cut by
// store.ReduceProbe (written as is or as a JSON escape).
func shortened(probe []byte) bool {
	return bytes.Contains(probe, []byte(store.ProbeTruncated)) || bytes.Contains(probe, []byte(truncatedEscaped))
}

// truncatedEscaped is store.ProbeTruncated as a JSON string escape of its
// first character.
const truncatedEscaped = `\u2026[truncated]`

// fileRow is the files row of a probed file.
func fileRow(path string, size int64, mtime time.Time, f media.File, raw []byte, now time.Time) store.File {
	reduced, err := store.ReduceProbe(raw)
	info := scan.NewStreamInfo(f, reduced)
	row := store.File{Path: path, Size: size, ModTime: mtime.UTC(), LastScannedAt: now.UTC(), ProbedAt: now.UTC(),
		DurationSeconds: info.DurationSeconds, Tracks: info.Tracks, Codec: info.Codec, Probe: info.Raw}
	row.Container, _ = scan.Container(path)
	if err != nil {
		row.ProbeError = err.Error()
	}
	return row
}
