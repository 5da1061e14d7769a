package store_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/vpo-project/vpo/libs/store"
)

// TestUpsertKeepsNewerProbe: a row whose probe started before the stored
// row's probe was taken (a scan that probed a file while an apply changed
// it) does not replace the stored probe, size or mtime, by UpsertFile or
// UpsertFiles; it still records that the file was seen. A row with a
// probe at least as new does replace it.
func TestUpsertKeepsNewerProbe(t *testing.T) {
	ctx := context.Background()
	mtime := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	applied := time.Date(2026, 1, 1, 12, 0, 0, 500, time.UTC)
	fresh := store.File{Path: "/m/a.mkv", Size: 10, ModTime: mtime, LastScannedAt: applied, Tracks: 2,
		Probe: json.RawMessage(`{"streams":["new"]}`), ProbedAt: applied}
	stale := store.File{Path: "/m/a.mkv", Size: 10, ModTime: mtime, LastScannedAt: applied.Add(time.Minute), Tracks: 3,
		Probe: json.RawMessage(`{"streams":["old"]}`), ProbedAt: applied.Add(-time.Second)}
	later := stale
	later.ProbedAt, later.Size = applied.Add(time.Nanosecond), 11
	for _, tc := range []struct {
		name   string
		upsert func(s *store.Store, f store.File) error
	}{
		{"UpsertFile", func(s *store.Store, f store.File) error { return s.UpsertFile(ctx, f) }},
		{"UpsertFiles", func(s *store.Store, f store.File) error { return s.UpsertFiles(ctx, []store.File{f}) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openTestStore(t)
			if err := s.UpsertFile(ctx, fresh); err != nil {
				t.Fatal(err)
			}
			if err := tc.upsert(s, stale); err != nil {
				t.Fatal(err)
			}
			got := getFile(t, s, fresh.Path)
			if string(got.Probe) != string(fresh.Probe) || got.Tracks != 2 || !got.ProbedAt.Equal(applied) {
				t.Errorf("after an older probe: probe %s, tracks %d, probed_at %s; want the newer %s, 2, %s",
					got.Probe, got.Tracks, got.ProbedAt, fresh.Probe, applied)
			}
			if !got.LastScannedAt.Equal(stale.LastScannedAt) {
				t.Errorf("after an older probe: last_scanned_at %s, want %s (the file was seen)", got.LastScannedAt, stale.LastScannedAt)
			}
			if err := tc.upsert(s, later); err != nil {
				t.Fatal(err)
			}
			got = getFile(t, s, fresh.Path)
			if string(got.Probe) != string(later.Probe) || got.Size != 11 || !got.ProbedAt.Equal(later.ProbedAt) {
				t.Errorf("after a newer probe: probe %s, size %d, probed_at %s; want %s, 11, %s",
					got.Probe, got.Size, got.ProbedAt, later.Probe, later.ProbedAt)
			}
		})
	}
}
