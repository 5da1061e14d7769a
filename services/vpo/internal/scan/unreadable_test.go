package scan_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"syscall"
	"testing"
	"time"

	"github.com/vpo-project/vpo/libs/store"
	"github.com/vpo-project/vpo/services/vpo/internal/scan"
)

// brokenInfo is a directory entry whose lstat fails.
type brokenInfo struct{ fs.DirEntry }

func (brokenInfo) Info() (fs.FileInfo, error) { return nil, syscall.EIO }

// failingReadDir lists directories like os.ReadDir, except that listing a
// directory in fail returns its error (after the entries in partial, like
// a directory read that broke half-way), and entries named in broken fail
// their lstat.
func failingReadDir(fail map[string]error, partial map[string]int, broken map[string]bool) func(string) ([]fs.DirEntry, error) {
	return func(name string) ([]fs.DirEntry, error) {
		es, err := os.ReadDir(name)
		if err != nil {
			return nil, err
		}
		for i, e := range es {
			if broken[filepath.Join(name, e.Name())] {
				es[i] = brokenInfo{e}
			}
		}
		if ferr, ok := fail[name]; ok {
			return es[:partial[name]], ferr
		}
		return es, nil
	}
}

// TestScanKeepsFilesUnderUnreadablePaths: a subdirectory that cannot be
// read (EACCES, EIO, ENOTCONN of a dead mount) or a file whose lstat fails
// keeps the recorded state of every file under it — not missing, same
// last_scanned_at — and the result lists those paths. Files the walk could
// read and that vanished are still marked missing.
func TestScanKeepsFilesUnderUnreadablePaths(t *testing.T) {
	for _, tc := range []struct {
		name string
		lib  func(t *testing.T) libraryReader
	}{
		{"memory", func(*testing.T) libraryReader { return newMem() }},
		{"sqlite", func(t *testing.T) libraryReader {
			st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "vpo.db"), store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = st.Close() })
			return storeReader{st}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			root := t.TempDir()
			write(t, root, "a/1.mkv", "a/gone.mkv", "b/2.mkv", "b/c/3.mkv", "d/4.mkv", "d/5.mkv", "e/6.mkv", "e/7.mkv", "top.mkv")
			lib := tc.lib(t)
			s := scan.New(lib, nil, quietLog())
			payload := job(`{"path":"` + root + `"}`)
			if _, err := s.Run(ctx, payload, noProgress{}); err != nil {
				t.Fatal(err)
			}
			before := map[string]store.File{}
			for _, p := range []string{"b/2.mkv", "b/c/3.mkv", "d/5.mkv", "e/7.mkv"} {
				before[p] = lib.get(t, filepath.Join(root, p))
			}
			if err := os.Remove(filepath.Join(root, "a/gone.mkv")); err != nil {
				t.Fatal(err)
			}
			time.Sleep(2 * time.Millisecond) // the second scan starts at a later time
			// b cannot be read, d breaks after listing 4.mkv, and the lstat
			// of e/7.mkv fails.
			scan.SetReadDir(s, failingReadDir(
				map[string]error{
					filepath.Join(root, "b"): syscall.EACCES,
					filepath.Join(root, "d"): syscall.EIO,
				},
				map[string]int{filepath.Join(root, "d"): 1},
				map[string]bool{filepath.Join(root, "e/7.mkv"): true},
			))
			out, err := s.Run(ctx, payload, noProgress{})
			if err != nil {
				t.Fatal(err)
			}
			var res scan.Result
			if err := json.Unmarshal(out, &res); err != nil {
				t.Fatal(err)
			}
			wantUnreadable := []string{filepath.Join(root, "b"), filepath.Join(root, "d"), filepath.Join(root, "e/7.mkv")}
			if !reflect.DeepEqual(res.Unreadable, wantUnreadable) || res.Skipped != 3 {
				t.Fatalf("unreadable %v (%d), want %v", res.Unreadable, res.Skipped, wantUnreadable)
			}
			if res.Missing != 1 || res.Kept != 4 || res.Seen != 4 {
				t.Fatalf("result %+v, want 1 missing (a/gone.mkv), 4 kept, 4 seen", res)
			}
			if !lib.get(t, filepath.Join(root, "a/gone.mkv")).Missing {
				t.Fatal("a/gone.mkv, in a readable directory, not marked missing")
			}
			for p, was := range before {
				now := lib.get(t, filepath.Join(root, p))
				if now.Missing || !now.LastScannedAt.Equal(was.LastScannedAt) {
					t.Errorf("%s under an unreadable path changed: %+v, was %+v", p, now, was)
				}
			}
			if f := lib.get(t, filepath.Join(root, "d/4.mkv")); f.Missing {
				t.Errorf("d/4.mkv, listed before the error and seen, marked missing: %+v", f)
			}
		})
	}
}

// libraryReader is a scan.Library whose rows a test can read.
type libraryReader interface {
	scan.Library
	get(t *testing.T, path string) store.File
}

type storeReader struct{ *store.Store }

func (s storeReader) get(t *testing.T, path string) store.File {
	t.Helper()
	f, err := s.GetFile(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (m *memLibrary) get(t *testing.T, path string) store.File {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	f, ok := m.files[path]
	if !ok {
		t.Fatalf("%s not recorded", path)
	}
	return f
}

// TestScanNotRecursiveMarksVanishedTopLevelFiles: a non-recursive scan
// marks the vanished files directly in its root missing, and leaves the
// files of subdirectories (recorded by a recursive scan) alone.
func TestScanNotRecursiveMarksVanishedTopLevelFiles(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	write(t, root, "top.mkv", "gone.mkv", "sub/inner.mkv")
	lib := newMem()
	s := scan.New(lib, nil, quietLog())
	if _, err := s.Run(ctx, job(`{"path":"`+root+`"}`), noProgress{}); err != nil {
		t.Fatal(err)
	}
	for _, rel := range []string{"gone.mkv", "sub/inner.mkv"} {
		if err := os.Remove(filepath.Join(root, rel)); err != nil {
			t.Fatal(err)
		}
	}
	out, err := s.Run(ctx, job(`{"path":"`+root+`","recursive":false}`), noProgress{})
	if err != nil {
		t.Fatal(err)
	}
	var res scan.Result
	_ = json.Unmarshal(out, &res)
	got := map[string]bool{}
	for _, p := range lib.paths() {
		got[p[len(root)+1:]] = lib.files[p].Missing
	}
	want := map[string]bool{"top.mkv": false, "gone.mkv": true, "sub/inner.mkv": false}
	if res.Missing != 1 || !reflect.DeepEqual(got, want) {
		t.Fatalf("after a non-recursive rescan: missing %v (result %+v), want %v", got, res, want)
	}
}

// TestScanProbesAgain: a file recorded while ffprobe was absent, or whose
// probe failed, is probed on a later scan; the row says whether, when and
// with what error it was probed; a file probed successfully is not probed
// again.
func TestScanProbesAgain(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	write(t, root, "a.mkv")
	path := filepath.Join(root, "a.mkv")
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "vpo.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	payload := job(`{"path":"` + root + `"}`)
	failing, working := &countingProber{fail: true}, &countingProber{}
	for _, step := range []struct {
		name      string
		prober    scan.Prober
		calls     *countingProber
		probed    bool
		errText   string
		probeTime bool
	}{
		{"no ffprobe", nil, nil, false, "", false},
		{"probe fails", failing, failing, false, "probe failed", true},
		{"probe works", working, working, true, "", true},
		{"already probed", working, working, true, "", true},
	} {
		out, err := scan.New(st, step.prober, quietLog()).Run(ctx, payload, noProgress{})
		if err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		f, err := st.GetFile(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		if f.Probed() != step.probed || f.ProbeError != step.errText || f.ProbedAt.IsZero() == step.probeTime {
			t.Fatalf("%s: row %+v (result %s)", step.name, f, out)
		}
	}
	if failing.calls != 1 || working.calls != 1 {
		t.Fatalf("probes: %d failing, %d working; want 1 each", failing.calls, working.calls)
	}
	if f, _ := st.GetFile(ctx, path); f.Codec != "hevc" || f.Tracks != 3 {
		t.Fatalf("details after the late probe: %+v", f)
	}
}

// TestScanInsaneProbeIsAProbeError: ffprobe output with a NaN duration is a
// probe error recorded with the file, not a failed scan.
func TestScanInsaneProbeIsAProbeError(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	write(t, root, "a.mkv", "b.mkv")
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "vpo.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	ff := fakeFFProbe(t, `echo '{"streams":[],"format":{"duration":"nan"}}'`)
	out, err := scan.New(st, &scan.FFProbe{Path: ff}, quietLog()).Run(ctx, job(`{"path":"`+root+`"}`), noProgress{})
	if err != nil {
		t.Fatalf("scan failed: %v", err)
	}
	var res scan.Result
	_ = json.Unmarshal(out, &res)
	if res.ProbeErrors != 2 || res.Seen != 2 {
		t.Fatalf("result %s, want 2 probe errors", out)
	}
	f, err := st.GetFile(ctx, filepath.Join(root, "a.mkv"))
	if err != nil || f.ProbeError == "" || f.DurationSeconds != 0 {
		t.Fatalf("row %+v, %v", f, err)
	}
}

// fakeFFProbe writes a shell script that runs body, as a stand-in for
// ffprobe.
func fakeFFProbe(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ffprobe")
	if err := os.WriteFile(p, []byte(fmt.Sprintf("#!/bin/sh\n%s\n", body)), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}
