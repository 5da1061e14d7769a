package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/vpo-project/vpo/libs/store"
)

func TestUpsertAndGetFile(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	f := store.File{
		Path: "/media/movies/a.mkv", Size: 1 << 30, ModTime: time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC),
		Container: "matroska", LastScannedAt: t0, Probe: json.RawMessage(`{"streams":[{"codec":"hevc"}]}`),
		Codec: "hevc", DurationSeconds: 5400.5, Tracks: 3,
	}
	if err := s.UpsertFile(ctx, f); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetFile(ctx, f.Path)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(f) {
		t.Errorf("GetFile = %+v\nwant %+v", got, f)
	}
	f.Size, f.Probe, f.Missing = 42, nil, true
	if err := s.UpsertFile(ctx, f); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetFile(ctx, f.Path); got.Size != 42 || got.Probe != nil || !got.Missing {
		t.Errorf("after update: %+v", got)
	}
	if _, err := s.GetFile(ctx, "/nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetFile(missing) = %v", err)
	}
	for _, bad := range []store.File{{}, {Path: "/x", Probe: json.RawMessage("{")}} {
		if err := s.UpsertFile(ctx, bad); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("UpsertFile(%+v) = %v, want ErrInvalid", bad, err)
		}
	}
}

func TestMarkMissing(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	scanStart := t0
	files := map[string]time.Time{
		"/media/old.mkv":       scanStart.Add(-time.Hour), // under root, not seen: missing
		"/media/sub/old.mkv":   scanStart.Add(-time.Hour), // under root, not seen: missing
		"/media/seen.mkv":      scanStart.Add(time.Second),
		"/media2/old.mkv":      scanStart.Add(-time.Hour), // other root with same prefix
		"/mediafoo.mkv":        scanStart.Add(-time.Hour),
		"/media":               scanStart.Add(-time.Hour), // the root itself is not "under" it
		"/other/media/old.mkv": scanStart.Add(-time.Hour),
	}
	for p, scanned := range files {
		if err := s.UpsertFile(ctx, store.File{Path: p, LastScannedAt: scanned}); err != nil {
			t.Fatal(err)
		}
	}
	for _, root := range []string{"/media", "/media/"} {
		n, err := s.MarkMissing(ctx, root, scanStart)
		if err != nil {
			t.Fatal(err)
		}
		want := 2
		if root == "/media/" {
			want = 0 // already flagged
		}
		if n != want {
			t.Errorf("MarkMissing(%q) = %d, want %d", root, n, want)
		}
	}
	for p := range files {
		f, err := s.GetFile(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		want := p == "/media/old.mkv" || p == "/media/sub/old.mkv"
		if f.Missing != want {
			t.Errorf("%s missing = %v, want %v", p, f.Missing, want)
		}
	}
}

func TestListFilesPaging(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	var want []string
	for i := 0; i < 11; i++ {
		p := fmt.Sprintf("/media/f%02d.mkv", i)
		want = append(want, p)
		if err := s.UpsertFile(ctx, store.File{Path: p, LastScannedAt: t0}); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	cursor := ""
	for pages := 0; ; pages++ {
		files, next, err := s.ListFiles(ctx, 4, cursor)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			got = append(got, f.Path)
		}
		if next == "" {
			if pages != 2 {
				t.Errorf("got %d pages, want 3", pages+1)
			}
			break
		}
		cursor = next
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("ListFiles = %v\nwant %v", got, want)
	}
	if _, _, err := s.ListFiles(ctx, 4, "!!!"); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("bad cursor: %v", err)
	}
}
