package scan_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vpo-project/vpo/libs/store"
	"github.com/vpo-project/vpo/services/vpo/internal/scan"
)

// readCountingStore is a store that counts the readings of recorded
// states.
type readCountingStore struct {
	*store.Store
	reads atomic.Int32
}

func (s *readCountingStore) EachFileStatePage(ctx context.Context, root string, fn func(store.FileStatePage) error) error {
	s.reads.Add(1)
	return s.Store.EachFileStatePage(ctx, root, fn)
}

// scanReads runs a scan of root and returns its result and whether it
// read the recorded states.
func scanReads(t *testing.T, s *scan.Scanner, lib *readCountingStore, root string) (scan.Result, bool) {
	t.Helper()
	before := lib.reads.Load()
	res := runScan(t, s, root)
	return res, lib.reads.Load() != before
}

// TestRescanWithDirectoryDigests: a rescan reads no recorded state when no
// directory changed, and any change (a changed file, a new one at the
// root, a removed directory, a row rewritten by another writer) is still
// found and recorded exactly.
func TestRescanWithDirectoryDigests(t *testing.T) {
	root := t.TempDir()
	write(t, root, "a/one.mkv", "a/two.mkv", "a/three.mp4", "b/x/one.mkv", "b/x/two.mkv", "top.mkv", "a/notes.txt")
	st, dbPath := openStore(t)
	lib := &readCountingStore{Store: st}
	s := scan.New(lib, nil, quietLog())
	if res, _ := scanReads(t, s, lib, root); res.New != 6 {
		t.Fatalf("first scan: %+v", res)
	}
	commits := watchCommits(t, dbPath)
	res, read := scanReads(t, s, lib, root)
	if res.Seen != 6 || res.Unchanged != 6 || res.New+res.Changed+res.Missing != 0 || read {
		t.Fatalf("rescan of an unchanged tree: %+v, read the records: %v", res, read)
	}
	if commits.changed(t) {
		t.Fatal("a rescan of an unchanged tree committed a change")
	}

	// A changed file: only its directory is compared file by file.
	if err := os.WriteFile(filepath.Join(root, "a/two.mkv"), []byte("longer"), 0o644); err != nil {
		t.Fatal(err)
	}
	if res, read := scanReads(t, s, lib, root); res.Changed != 1 || res.Unchanged != 5 || res.Seen != 6 || !read {
		t.Fatalf("rescan after a change: %+v, read the records: %v", res, read)
	}
	if res, read := scanReads(t, s, lib, root); res.Unchanged != 6 || read {
		t.Fatalf("rescan after the change was recorded: %+v, read the records: %v", res, read)
	}

	// A file with the same size and mtime (the digest cannot tell), but
	// the record written by another writer: its directory is compared.
	f, err := st.GetFile(context.Background(), filepath.Join(root, "a/one.mkv"))
	if err != nil {
		t.Fatal(err)
	}
	f.Size = 12345
	if err := st.UpsertFile(context.Background(), f); err != nil {
		t.Fatal(err)
	}
	if res, read := scanReads(t, s, lib, root); res.Changed != 1 || !read {
		t.Fatalf("rescan after another writer changed a record: %+v, read the records: %v", res, read)
	}

	// A directory removed: its files are marked missing, then the next
	// rescan reads nothing again.
	if err := os.RemoveAll(filepath.Join(root, "b")); err != nil {
		t.Fatal(err)
	}
	if res, read := scanReads(t, s, lib, root); res.Missing != 2 || res.Seen != 4 || !read {
		t.Fatalf("rescan after a directory was removed: %+v, read the records: %v", res, read)
	}
	if got := allFiles(t, st)[filepath.Join(root, "b/x/one.mkv")]; !got.Missing {
		t.Fatalf("file of the removed directory: %+v", got)
	}
	if res, read := scanReads(t, s, lib, root); res.Unchanged != 4 || res.Missing != 0 || read {
		t.Fatalf("rescan after the removal was recorded: %+v, read the records: %v", res, read)
	}

	// The directory back with the same files: they are back too.
	write(t, root, "b/x/one.mkv", "b/x/two.mkv")
	if res, read := scanReads(t, s, lib, root); res.Unchanged+res.Changed != 6 || !read {
		t.Fatalf("rescan after the directory came back: %+v, read the records: %v", res, read)
	}
	if got := allFiles(t, st)[filepath.Join(root, "b/x/one.mkv")]; got.Missing {
		t.Fatalf("file back in its directory: %+v", got)
	}

	// A new file at the root, and one removed at the root.
	write(t, root, "new.webm")
	if err := os.Remove(filepath.Join(root, "top.mkv")); err != nil {
		t.Fatal(err)
	}
	if res, read := scanReads(t, s, lib, root); res.New != 1 || res.Missing != 1 || !read {
		t.Fatalf("rescan after changes at the root: %+v, read the records: %v", res, read)
	}
	// A file with a new mtime only.
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(filepath.Join(root, "a/three.mp4"), later, later); err != nil {
		t.Fatal(err)
	}
	if res, read := scanReads(t, s, lib, root); res.Changed != 1 || !read {
		t.Fatalf("rescan after a new mtime: %+v, read the records: %v", res, read)
	}
	if res, read := scanReads(t, s, lib, root); res.Seen != 6 || res.Unchanged != 6 || read {
		t.Fatalf("last rescan: %+v, read the records: %v", res, read)
	}
}

// TestRescanWithDigestsProbesUnprobedFiles: files recorded without a probe
// (no ffprobe then) are probed by a rescan that has ffprobe, though their
// directory did not change.
func TestRescanWithDigestsProbesUnprobedFiles(t *testing.T) {
	root := t.TempDir()
	write(t, root, "a/one.mkv", "a/two.mkv", "b/three.mkv")
	st, _ := openStore(t)
	lib := &readCountingStore{Store: st}
	if res := runScan(t, scan.New(lib, nil, quietLog()), root); res.New != 3 {
		t.Fatalf("first scan: %+v", res)
	}
	p := &countingProber{}
	s := scan.New(lib, p, quietLog())
	if res, read := scanReads(t, s, lib, root); res.Reprobed != 3 || res.Probed != 3 || !read {
		t.Fatalf("rescan with ffprobe: %+v, read the records: %v", res, read)
	}
	if res, read := scanReads(t, s, lib, root); res.Unchanged != 3 || res.Probed != 0 || read {
		t.Fatalf("rescan after the probes: %+v, read the records: %v", res, read)
	}
}

// TestRescanOfSubtreeWithDigests: a scan of a directory under a scanned
// root uses the digests of that scan, and a scan of the root those of the
// subtree's scan.
func TestRescanOfSubtreeWithDigests(t *testing.T) {
	root := t.TempDir()
	write(t, root, "a/x/one.mkv", "a/two.mkv", "b/three.mkv")
	st, _ := openStore(t)
	lib := &readCountingStore{Store: st}
	s := scan.New(lib, nil, quietLog())
	runScan(t, s, root)
	if res, read := scanReads(t, s, lib, filepath.Join(root, "a")); res.Unchanged != 2 || read {
		t.Fatalf("scan of a subtree: %+v, read the records: %v", res, read)
	}
	write(t, root, "a/x/four.mkv")
	if res, read := scanReads(t, s, lib, filepath.Join(root, "a")); res.New != 1 || !read {
		t.Fatalf("scan of a changed subtree: %+v, read the records: %v", res, read)
	}
	if res, read := scanReads(t, s, lib, root); res.Unchanged != 4 || read {
		t.Fatalf("scan of the root: %+v, read the records: %v", res, read)
	}
}

// TestRescanWithDigestsRowInsertedBehindTheStore: a row inserted into a
// matched directory by other means than the store (which would drop the
// digest) is found by the row count: the file is not on disk, so it is
// marked missing, and the directory is compared again until its digest is
// right.
func TestRescanWithDigestsRowInsertedBehindTheStore(t *testing.T) {
	root := t.TempDir()
	write(t, root, "a/one.mkv", "a/two.mkv", "b/three.mkv")
	st, dbPath := openStore(t)
	lib := &readCountingStore{Store: st}
	s := scan.New(lib, nil, quietLog())
	runScan(t, s, root)
	db, err := sql.Open("sqlite", "file:"+dbPath+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ghost := filepath.Join(root, "a", "ghost.mkv")
	if _, err := db.Exec("INSERT INTO files (path, size, mtime, id) VALUES (?, 1, '2026-01-01T00:00:00.000000000Z', 1000)", ghost); err != nil {
		t.Fatal(err)
	}
	if res, read := scanReads(t, s, lib, root); res.Missing != 1 || res.Unchanged != 3 || !read {
		t.Fatalf("rescan after a row was inserted: %+v, read the records: %v", res, read)
	}
	if got := allFiles(t, st)[ghost]; !got.Missing {
		t.Fatalf("inserted row of no file: %+v", got)
	}
	if res, read := scanReads(t, s, lib, root); res.Unchanged != 3 || res.Missing != 0 || !read {
		t.Fatalf("second rescan (the directory compared again): %+v, read the records: %v", res, read)
	}
	if res, read := scanReads(t, s, lib, root); res.Unchanged != 3 || read {
		t.Fatalf("third rescan: %+v, read the records: %v", res, read)
	}
}

// TestScanOfManyTopLevelDirectories: the top-level directories (walked in
// parallel) are all recorded, and changes in some of them found.
func TestScanOfManyTopLevelDirectories(t *testing.T) {
	root := t.TempDir()
	var rels []string
	for i := range 25 {
		for j := range 3 {
			rels = append(rels, filepath.Join(string(rune('a'+i)), "s", string(rune('0'+j))+".mkv"))
		}
	}
	write(t, root, append(rels, "top.mkv")...)
	st, _ := openStore(t)
	lib := &readCountingStore{Store: st}
	s := scan.New(lib, nil, quietLog())
	if res := runScan(t, s, root); res.New != 76 || res.Seen != 76 {
		t.Fatalf("first scan: %+v", res)
	}
	if n := len(allFiles(t, st)); n != 76 {
		t.Fatalf("%d files recorded, want 76", n)
	}
	write(t, root, "c/s/new.mkv", "x/s/new.mkv")
	if err := os.Remove(filepath.Join(root, "q/s/1.mkv")); err != nil {
		t.Fatal(err)
	}
	if res, read := scanReads(t, s, lib, root); res.New != 2 || res.Missing != 1 || res.Unchanged != 75 || !read {
		t.Fatalf("rescan: %+v, read the records: %v", res, read)
	}
}
