package scan_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vpo-project/vpo/libs/store"
	"github.com/vpo-project/vpo/services/vpo/internal/scan"
)

// applyingProber answers the probe of the file's old content, but before
// it does, an apply changes the file and records its new probe (as
// applyjob does once the change is made).
type applyingProber struct {
	st   *store.Store
	path string
}

func (a applyingProber) Probe(ctx context.Context, _ string) (scan.StreamInfo, error) {
	fi, err := os.Stat(a.path)
	if err != nil {
		return scan.StreamInfo{}, err
	}
	if err := a.st.UpsertFile(ctx, store.File{Path: a.path, Size: fi.Size(), ModTime: fi.ModTime(), LastScannedAt: time.Now(),
		Probe: json.RawMessage(`{"after":"apply"}`), Tracks: 2, ProbedAt: time.Now()}); err != nil {
		return scan.StreamInfo{}, err
	}
	return scan.StreamInfo{Codec: "hevc", Tracks: 3, Raw: json.RawMessage(`{"before":"apply"}`)}, nil
}

// TestScanRacingApplyKeepsAppliedProbe: a scan whose probe of a file
// started before an apply recorded the file's new probe does not replace
// it with what it read (the probe is dated by its start).
func TestScanRacingApplyKeepsAppliedProbe(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	write(t, root, "a.mkv")
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "vpo.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	path := filepath.Join(root, "a.mkv")
	s := scan.New(st, applyingProber{st: st, path: path}, quietLog())
	if _, err := s.Run(ctx, job(`{"path":"`+root+`"}`), noProgress{}); err != nil {
		t.Fatal(err)
	}
	row, err := st.GetFile(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if string(row.Probe) != `{"after":"apply"}` || row.Tracks != 2 {
		t.Errorf("after a scan that raced an apply: probe %s, %d tracks; want the apply's probe, 2 tracks", row.Probe, row.Tracks)
	}
}
