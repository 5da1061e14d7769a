package scan_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" driver, for a connection of the test's own

	"github.com/vpo-project/vpo/libs/store"
	"github.com/vpo-project/vpo/services/vpo/internal/scan"
)

// openStore opens a library in a new directory and returns it with the
// path of its database file.
func openStore(t *testing.T) (*store.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "vpo.db")
	st, err := store.Open(context.Background(), path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st, path
}

// commitWatch tells whether anything was committed to a database since
// the last call: SQLite's data_version, read on a connection of its own,
// changes whenever another connection commits a change.
type commitWatch struct {
	conn *sql.Conn
	last int64
}

func watchCommits(t *testing.T, dbPath string) *commitWatch {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+dbPath+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	w := &commitWatch{conn: conn}
	w.changed(t)
	return w
}

func (w *commitWatch) changed(t *testing.T) bool {
	t.Helper()
	var v int64
	if err := w.conn.QueryRowContext(context.Background(), "PRAGMA data_version").Scan(&v); err != nil {
		t.Fatal(err)
	}
	changed := v != w.last
	w.last = v
	return changed
}

// allFiles returns every row of the library, by path.
func allFiles(t *testing.T, st *store.Store) map[string]store.File {
	t.Helper()
	out := map[string]store.File{}
	for cursor := ""; ; {
		page, next, err := st.ListFiles(context.Background(), 500, cursor)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range page {
			out[f.Path] = f
		}
		if cursor = next; cursor == "" {
			return out
		}
	}
}

func runScan(t *testing.T, s *scan.Scanner, path string) scan.Result {
	t.Helper()
	out, err := s.Run(context.Background(), job(`{"path":"`+path+`"}`), noProgress{})
	if err != nil {
		t.Fatalf("scan of %s: %v", path, err)
	}
	var res scan.Result
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatal(err)
	}
	return res
}

// TestRescanOfUnchangedTreeWritesNothing: a rescan of a tree in which
// nothing changed commits nothing to the database (recursive and not,
// more files than a write batch), and every row stays as it was.
func TestRescanOfUnchangedTreeWritesNothing(t *testing.T) {
	root := t.TempDir()
	var rels []string
	for i := range 600 {
		rels = append(rels, fmt.Sprintf("show-%d/season-%d/e%03d.mkv", i%3, i%2, i))
	}
	write(t, root, append(rels, "top.mp4", "notes.txt")...)
	st, dbPath := openStore(t)
	s := scan.New(st, &countingProber{}, quietLog())
	if res := runScan(t, s, root); res.New != 601 || res.Probed != 601 {
		t.Fatalf("first scan: %+v", res)
	}
	before := allFiles(t, st)
	commits := watchCommits(t, dbPath)
	time.Sleep(2 * time.Millisecond) // a later scan start

	if res := runScan(t, s, root); res.Unchanged != 601 || res.New+res.Changed+res.Missing+res.Probed != 0 {
		t.Fatalf("rescan: %+v", res)
	}
	if commits.changed(t) {
		t.Error("a rescan of an unchanged tree committed a change to the database")
	}
	if _, err := s.Run(context.Background(), job(`{"path":"`+root+`","recursive":false}`), noProgress{}); err != nil {
		t.Fatal(err)
	}
	if commits.changed(t) {
		t.Error("a non-recursive rescan of an unchanged directory committed a change to the database")
	}
	if after := allFiles(t, st); !reflect.DeepEqual(after, before) {
		t.Error("rows changed by rescans of an unchanged tree")
	}

	// The watch sees a real change: one file changed, one removed.
	write(t, root, rels[0]+".mkv")
	if err := os.Remove(filepath.Join(root, rels[1])); err != nil {
		t.Fatal(err)
	}
	if res := runScan(t, s, root); res.New != 1 || res.Missing != 1 {
		t.Fatalf("scan after a change: %+v", res)
	}
	if !commits.changed(t) {
		t.Fatal("the commit watch missed a scan that recorded changes")
	}
}

// hidingReadDir lists directories like os.ReadDir, leaving out the
// entries whose full path is in hide.
func hidingReadDir(hide map[string]bool) func(string) ([]fs.DirEntry, error) {
	return func(name string) ([]fs.DirEntry, error) {
		es, err := os.ReadDir(name)
		out := es[:0]
		for _, e := range es {
			if !hide[filepath.Join(name, e.Name())] {
				out = append(out, e)
			}
		}
		return out, err
	}
}

// TestScanMarksMissingOnlyWhatLstatCannotFind: a recorded file the walk
// did not see (created or moved back after the walk passed it, as a
// concurrent scan would see it) is not marked missing while lstat finds a
// regular file at its path; a removed file, and one replaced by a
// directory, are.
func TestScanMarksMissingOnlyWhatLstatCannotFind(t *testing.T) {
	root := t.TempDir()
	write(t, root, "a/seen.mkv", "a/unseen.mkv", "b/removed.mkv", "b/now-a-dir.mkv")
	st, _ := openStore(t)
	s := scan.New(st, nil, quietLog())
	runScan(t, s, root)
	if err := os.Remove(filepath.Join(root, "b/removed.mkv")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(root, "b/now-a-dir.mkv")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(root, "b/now-a-dir.mkv"), 0o755); err != nil {
		t.Fatal(err)
	}
	scan.SetReadDir(s, hidingReadDir(map[string]bool{filepath.Join(root, "a/unseen.mkv"): true}))
	res := runScan(t, s, root)
	got := map[string]bool{}
	for p, f := range allFiles(t, st) {
		got[p[len(root)+1:]] = f.Missing
	}
	want := map[string]bool{"a/seen.mkv": false, "a/unseen.mkv": false, "b/removed.mkv": true, "b/now-a-dir.mkv": true}
	if !reflect.DeepEqual(got, want) || res.Missing != 2 {
		t.Fatalf("missing flags %v (result %+v), want %v", got, res, want)
	}
}

// TestScanOfOneFile: a scan whose path is a video file records, probes and
// compares just that file — new, unchanged (nothing written), changed,
// gone (marked missing), back — and never looks at its siblings.
func TestScanOfOneFile(t *testing.T) {
	root := t.TempDir()
	write(t, root, "show/e1.mkv", "show/e2.mkv")
	file := filepath.Join(root, "show/e1.mkv")
	st, dbPath := openStore(t)
	prober := &countingProber{}
	s := scan.New(st, prober, quietLog())
	commits := watchCommits(t, dbPath)
	for _, step := range []struct {
		name    string
		before  func()
		want    scan.Result
		probes  int
		missing bool
		writes  bool
	}{
		{"new", func() {}, scan.Result{Seen: 1, New: 1, Bytes: int64(len("show/e1.mkv")), Probed: 1}, 1, false, true},
		{"unchanged", func() {}, scan.Result{Seen: 1, Unchanged: 1}, 1, false, false},
		{"changed", func() { write(t, root, "show/e1.mkv.longer"); mustRename(t, file+".longer", file) },
			scan.Result{Seen: 1, Changed: 1, Bytes: int64(len("show/e1.mkv.longer")), Probed: 1}, 2, false, true},
		{"gone", func() { mustRename(t, file, file+".away") }, scan.Result{Missing: 1}, 2, true, true},
		{"gone again", func() {}, scan.Result{}, 2, true, false},
		{"back", func() { mustRename(t, file+".away", file) }, scan.Result{Seen: 1, Unchanged: 1}, 2, false, true},
	} {
		step.before()
		res := runScan(t, s, file)
		step.want.Root, step.want.FFProbe = file, true
		if res.Seconds < 0 {
			t.Fatalf("%s: negative duration %v", step.name, res.Seconds)
		}
		res.Seconds = 0
		if !reflect.DeepEqual(res, step.want) {
			t.Fatalf("%s: result %+v\nwant %+v", step.name, res, step.want)
		}
		if prober.calls != step.probes {
			t.Fatalf("%s: %d probes, want %d", step.name, prober.calls, step.probes)
		}
		if got := commits.changed(t); got != step.writes {
			t.Fatalf("%s: database written %v, want %v", step.name, got, step.writes)
		}
		files := allFiles(t, st)
		if len(files) != 1 || files[file].Missing != step.missing || files[file].Codec != "hevc" {
			t.Fatalf("%s: rows %+v, want only %s (missing %v)", step.name, files, file, step.missing)
		}
	}
}

func mustRename(t *testing.T, from, to string) {
	t.Helper()
	if err := os.Rename(from, to); err != nil {
		t.Fatal(err)
	}
}

// TestOnFinished: the hooks run, in order, after a completed scan (of a
// directory or one file) with its root and result, once its rows are
// written; not after a failed or cancelled one.
func TestOnFinished(t *testing.T) {
	root := t.TempDir()
	write(t, root, "a.mkv", "sub/b.mkv")
	st, _ := openStore(t)
	s := scan.New(st, nil, quietLog())
	type call struct {
		hook  int
		root  string
		seen  int
		saved int
	}
	var calls []call
	for i := range 2 {
		s.OnFinished(func(ctx context.Context, root string, res scan.Result) {
			calls = append(calls, call{i, root, res.Seen, len(allFiles(t, st))})
		})
	}
	runScan(t, s, root)
	runScan(t, s, filepath.Join(root, "a.mkv"))
	want := []call{{0, root, 2, 2}, {1, root, 2, 2}, {0, root + "/a.mkv", 1, 2}, {1, root + "/a.mkv", 1, 2}}
	if !reflect.DeepEqual(calls, want) {
		t.Fatalf("hook calls %+v, want %+v", calls, want)
	}

	calls = nil
	if _, err := s.Run(context.Background(), job(`{"path":"`+root+`/nope"}`), noProgress{}); err == nil {
		t.Fatal("scan of a path that does not exist succeeded")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Run(ctx, job(`{"path":"`+root+`"}`), noProgress{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled scan = %v", err)
	}
	if len(calls) != 0 {
		t.Fatalf("hooks called after a failed or cancelled scan: %+v", calls)
	}
}
