package store_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/vpo-project/vpo/libs/store"
)

// TestDirDigestsDroppedByFileWrites: digests are read back under their
// root with the number of rows under it, and every kind of write to a file
// row drops the digest of the row's directory only.
func TestDirDigestsDroppedByFileWrites(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	mt := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	if err := s.UpsertFiles(ctx, []store.File{
		{Path: "/lib/a/1.mkv", ModTime: mt}, {Path: "/lib/b/2.mkv", ModTime: mt}, {Path: "/lib/3.mkv", ModTime: mt},
		{Path: "/other/4.mkv", ModTime: mt},
	}); err != nil {
		t.Fatal(err)
	}
	all := func() map[string]store.DirDigest {
		return map[string]store.DirDigest{
			"/lib/a": {Digest: []byte("a"), Rows: 1, Live: 1}, "/lib/b": {Digest: []byte("b"), Rows: 1, Live: 1, Probed: true},
			"/lib": {Digest: []byte("l"), Rows: 1, Live: 1}, "/other": {Digest: []byte("o"), Rows: 1, Live: 1},
		}
	}
	check := func(what string, want ...string) {
		t.Helper()
		got, rows, err := s.DirDigests(ctx, "/lib")
		if err != nil {
			t.Fatal(err)
		}
		if rows != 3 || len(got) != len(want) {
			t.Fatalf("%s: digests %v, %d rows; want %v, 3 rows", what, got, rows, want)
		}
		for _, dir := range want {
			if string(got[dir].Digest) != string(all()[dir].Digest) || got[dir].Probed != all()[dir].Probed {
				t.Fatalf("%s: digest of %s = %+v", what, dir, got[dir])
			}
		}
	}
	put := func() {
		t.Helper()
		if err := s.PutDirDigests(ctx, all()); err != nil {
			t.Fatal(err)
		}
	}
	put()
	check("written", "/lib", "/lib/a", "/lib/b")
	if err := s.UpsertFile(ctx, store.File{Path: "/lib/a/1.mkv", Size: 9, ModTime: mt}); err != nil {
		t.Fatal(err)
	}
	check("after an upsert in /lib/a", "/lib", "/lib/b")
	put()
	if _, err := s.MarkMissingPaths(ctx, []string{"/lib/b/2.mkv"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	check("after a file in /lib/b was marked missing", "/lib", "/lib/a")
	put()
	if _, err := s.TouchFiles(ctx, []string{"/lib/3.mkv"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	check("after a file in /lib was touched", "/lib/a", "/lib/b")
	put()
	if err := s.UpsertFiles(ctx, []store.File{{Path: "/lib/b/new.mkv", ModTime: mt, LastScannedAt: mt}}); err != nil {
		t.Fatal(err)
	}
	got, rows, err := s.DirDigests(ctx, "/lib")
	if _, ok := got["/lib/b"]; err != nil || ok || rows != 4 || len(got) != 2 {
		t.Fatalf("after a new file in /lib/b: %v, %d rows, %v", got, rows, err)
	}
	if err := s.PutDirDigests(ctx, map[string]store.DirDigest{"/lib/c": {Digest: []byte("c"), Rows: 1, Live: 2}}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("more live files than rows: %v", err)
	}
}

// TestUpsertFilesBareRowsAsOthers: files with no probe details sharing a
// scan time (written with fewer bound values) are stored exactly as the
// same files written one by one, new or over recorded rows.
func TestUpsertFilesBareRowsAsOthers(t *testing.T) {
	ctx := context.Background()
	open := func() *store.Store { return openTestStore(t) }
	batch, single := open(), open()
	mt := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	at := mt.Add(time.Hour)
	old := store.File{Path: "/m/0.mkv", Size: 1, ModTime: mt, Container: "matroska", LastScannedAt: mt, Missing: true,
		Probe: []byte(`{"streams":[]}`), Codec: "h264", Tracks: 2, DurationSeconds: 3, ProbedAt: mt, ProbeError: ""}
	var files []store.File
	for i := range 70 {
		files = append(files, store.File{Path: fmt.Sprintf("/m/%d.mkv", i), Size: int64(i), ModTime: mt.Add(time.Duration(i)),
			Container: "matroska", LastScannedAt: at})
	}
	for _, s := range []*store.Store{batch, single} {
		if err := s.UpsertFile(ctx, old); err != nil {
			t.Fatal(err)
		}
	}
	if err := batch.UpsertFiles(ctx, files); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if err := single.UpsertFile(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	got, _, err := batch.ListFiles(ctx, 100, "")
	if err != nil {
		t.Fatal(err)
	}
	want, _, err := single.ListFiles(ctx, 100, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 70 || len(want) != 70 {
		t.Fatalf("%d and %d rows", len(got), len(want))
	}
	for i := range got {
		// Ids differ: a batch leaves the number of a recorded row unused.
		got[i].ID, want[i].ID = 0, 0
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Fatalf("row written in a batch:\n%+v\nwritten alone:\n%+v", got[i], want[i])
		}
	}
	if err := batch.UpsertFiles(ctx, []store.File{{Path: "", LastScannedAt: at}}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("empty path: %v", err)
	}
}
