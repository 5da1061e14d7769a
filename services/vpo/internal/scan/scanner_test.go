package scan_test

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/vpo-project/vpo/libs/store"
	"github.com/vpo-project/vpo/services/vpo/internal/scan"
)

var rescanFiles = flag.Int("rescan-files", 10000, "video files in BenchmarkRescan's tree")

// memLibrary is an in-memory scan.Library.
type memLibrary struct {
	mu    sync.Mutex
	files map[string]store.File
}

func newMem() *memLibrary { return &memLibrary{files: map[string]store.File{}} }

func under(p, root string) bool { return strings.HasPrefix(p, strings.TrimRight(root, "/")+"/") }

// EachFileStatePage hands the states on in pages of two files, as the
// store does in larger ones.
func (m *memLibrary) EachFileStatePage(_ context.Context, root string, fn func(store.FileStatePage) error) error {
	m.mu.Lock()
	var paths []string
	for p := range m.files {
		if under(p, root) {
			paths = append(paths, p)
		}
	}
	sort.Strings(paths)
	var pages []store.FileStatePage
	for i, p := range paths {
		if i%2 == 0 {
			pages = append(pages, store.FileStatePage{States: map[string]store.FileState{}})
		}
		f := m.files[p]
		pages[len(pages)-1].States[p] = store.FileState{Size: f.Size, ModTime: f.ModTime, Missing: f.Missing, Probed: f.Probed()}
		pages[len(pages)-1].Last = p
	}
	m.mu.Unlock()
	for _, pg := range pages {
		if err := fn(pg); err != nil {
			return err
		}
	}
	return nil
}

func (m *memLibrary) UpsertFiles(_ context.Context, files []store.File) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, f := range files {
		f.Missing = false
		m.files[f.Path] = f
	}
	return nil
}

func (m *memLibrary) TouchFiles(_ context.Context, paths []string, at time.Time) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, p := range paths {
		if f, ok := m.files[p]; ok {
			f.LastScannedAt, f.Missing = at, false
			m.files[p] = f
			n++
		}
	}
	return n, nil
}

func (m *memLibrary) MarkMissingPaths(_ context.Context, paths []string, before time.Time) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, p := range paths {
		if f, ok := m.files[p]; ok && !f.Missing && f.LastScannedAt.Before(before) {
			f.Missing = true
			m.files[p] = f
			n++
		}
	}
	return n, nil
}

func (m *memLibrary) FilesByPath(_ context.Context, paths []string) (map[string]store.File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]store.File{}
	for _, p := range paths {
		if f, ok := m.files[p]; ok {
			out[p] = f
		}
	}
	return out, nil
}

func (m *memLibrary) paths() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for p := range m.files {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// countingProber answers a fixed stream description and counts calls.
type countingProber struct {
	mu    sync.Mutex
	calls int
	fail  bool
	block chan struct{} // when set, Probe waits for ctx or this channel
}

func (c *countingProber) Probe(ctx context.Context, _ string) (scan.StreamInfo, error) {
	c.mu.Lock()
	c.calls++
	c.mu.Unlock()
	if c.block != nil {
		select {
		case <-ctx.Done():
			return scan.StreamInfo{}, ctx.Err()
		case <-c.block:
		}
	}
	if c.fail {
		return scan.StreamInfo{}, errors.New("probe failed")
	}
	return scan.StreamInfo{Codec: "hevc", DurationSeconds: 12.5, Tracks: 3, Raw: json.RawMessage(`{}`)}, nil
}

type noProgress struct{}

func (noProgress) Report(float64, string) {}

func (noProgress) ReportETA(float64, string, time.Duration) {}

func quietLog() *logrus.Entry {
	l := logrus.New()
	l.SetOutput(io.Discard)
	return logrus.NewEntry(l)
}

func write(t *testing.T, root string, rels ...string) {
	t.Helper()
	for _, rel := range rels {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(rel), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func job(payload string) store.Job {
	return store.Job{ID: "j1", Kind: scan.Kind, Payload: json.RawMessage(payload)}
}

func TestScanIsIdempotent(t *testing.T) {
	root := t.TempDir()
	write(t, root, "a.mkv", "b.txt", "sub/c.MP4", "sub/deeper/d.webm", "sub/e.srt")
	lib, prober := newMem(), &countingProber{}
	s := scan.New(lib, prober, quietLog())
	payload := `{"path":"` + root + `"}`

	out, err := s.Run(context.Background(), job(payload), noProgress{})
	if err != nil {
		t.Fatal(err)
	}
	var res scan.Result
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatal(err)
	}
	want := []string{root + "/a.mkv", root + "/sub/c.MP4", root + "/sub/deeper/d.webm"}
	if got := lib.paths(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("recorded %v, want %v", got, want)
	}
	if res.New != 3 || res.Probed != 3 || prober.calls != 3 {
		t.Fatalf("first scan %+v, %d probes", res, prober.calls)
	}
	if f := lib.files[root+"/a.mkv"]; f.Codec != "hevc" || f.Tracks != 3 || f.Container != "matroska" {
		t.Fatalf("a.mkv recorded as %+v", f)
	}

	// Second scan: nothing changed, nothing probed again.
	out, err = s.Run(context.Background(), job(payload), noProgress{})
	if err != nil {
		t.Fatal(err)
	}
	_ = json.Unmarshal(out, &res)
	if res.Unchanged != 3 || res.New != 0 || prober.calls != 3 {
		t.Fatalf("rescan %+v, %d probes (want no new probe)", res, prober.calls)
	}
	if f := lib.files[root+"/a.mkv"]; f.Codec != "hevc" {
		t.Fatalf("rescan lost stream details: %+v", f)
	}

	// A changed file is probed again; a removed one is marked missing.
	time.Sleep(10 * time.Millisecond)
	if err := os.WriteFile(filepath.Join(root, "a.mkv"), []byte("longer content"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(root, "sub/c.MP4")); err != nil {
		t.Fatal(err)
	}
	out, err = s.Run(context.Background(), job(payload), noProgress{})
	if err != nil {
		t.Fatal(err)
	}
	_ = json.Unmarshal(out, &res)
	if res.Changed != 1 || res.Missing != 1 || prober.calls != 4 {
		t.Fatalf("third scan %+v, %d probes", res, prober.calls)
	}
	if !lib.files[root+"/sub/c.MP4"].Missing {
		t.Fatal("removed file not marked missing")
	}
}

func TestScanWithoutFFProbeOrWithProbeErrors(t *testing.T) {
	root := t.TempDir()
	write(t, root, "a.mkv", "b.avi")
	for _, tc := range []struct {
		name   string
		prober scan.Prober
		probed int
		errs   int
	}{
		{"no ffprobe", nil, 0, 0},
		{"probe fails", &countingProber{fail: true}, 0, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lib := newMem()
			out, err := scan.New(lib, tc.prober, quietLog()).Run(context.Background(), job(`{"path":"`+root+`"}`), noProgress{})
			if err != nil {
				t.Fatal(err)
			}
			var res scan.Result
			_ = json.Unmarshal(out, &res)
			if res.Seen != 2 || res.Probed != tc.probed || res.ProbeErrors != tc.errs || len(lib.paths()) != 2 {
				t.Fatalf("result %+v, %d recorded", res, len(lib.paths()))
			}
		})
	}
}

func TestScanNotRecursive(t *testing.T) {
	root := t.TempDir()
	write(t, root, "top.mkv", "sub/inner.mkv")
	lib := newMem()
	if _, err := scan.New(lib, nil, quietLog()).Run(context.Background(), job(`{"path":"`+root+`","recursive":false}`), noProgress{}); err != nil {
		t.Fatal(err)
	}
	if got := lib.paths(); len(got) != 1 || !strings.HasSuffix(got[0], "top.mkv") {
		t.Fatalf("non-recursive scan recorded %v", got)
	}
	// A rescan leaves the unchanged file's row as it is.
	top := filepath.Join(root, "top.mkv")
	first := lib.files[top]
	time.Sleep(time.Millisecond)
	if _, err := scan.New(lib, nil, quietLog()).Run(context.Background(), job(`{"path":"`+root+`","recursive":false}`), noProgress{}); err != nil {
		t.Fatal(err)
	}
	if f := lib.files[top]; !reflect.DeepEqual(f, first) {
		t.Fatalf("after rescan: %+v, want the row of the first scan %+v", f, first)
	}
	if err := os.Remove(top); err != nil {
		t.Fatal(err)
	}
	out, err := scan.New(lib, nil, quietLog()).Run(context.Background(), job(`{"path":"`+root+`","recursive":false}`), noProgress{})
	if err != nil {
		t.Fatal(err)
	}
	var res scan.Result
	_ = json.Unmarshal(out, &res)
	if res.Missing != 1 || !lib.files[top].Missing {
		t.Fatalf("non-recursive scan after %s vanished: %+v, row %+v; want it marked missing", top, res, lib.files[top])
	}
}

// TestScanWithStore runs scans against a real SQLite library: more files
// than a write batch, a removed file marked missing, then the same file back
// (same size and mtime) recorded as present again without a new probe.
func TestScanWithStore(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	var rels []string
	for i := 0; i < 700; i++ {
		rels = append(rels, fmt.Sprintf("d%d/f%03d.mkv", i%7, i))
	}
	write(t, root, rels...)
	lib, err := store.Open(ctx, filepath.Join(t.TempDir(), "vpo.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = lib.Close() })
	prober := &countingProber{}
	s := scan.New(lib, prober, quietLog())
	payload := job(`{"path":"` + root + `"}`)
	victim := filepath.Join(root, rels[42])
	victimInfo, err := os.Stat(victim)
	if err != nil {
		t.Fatal(err)
	}

	var lastScan time.Time
	for _, step := range []struct {
		name   string
		before func()
		want   scan.Result
	}{
		{"first scan", func() {}, scan.Result{Seen: 700, New: 700, Bytes: 700 * 11, Probed: 700}},
		{"rescan", func() {}, scan.Result{Seen: 700, Unchanged: 700}},
		{"file removed", func() {
			if err := os.Remove(victim); err != nil {
				t.Fatal(err)
			}
		}, scan.Result{Seen: 699, Unchanged: 699, Missing: 1}},
		{"file back", func() {
			write(t, root, rels[42])
			if err := os.Chtimes(victim, victimInfo.ModTime(), victimInfo.ModTime()); err != nil {
				t.Fatal(err)
			}
		}, scan.Result{Seen: 700, Unchanged: 700}},
	} {
		step.before()
		out, err := s.Run(ctx, payload, noProgress{})
		if err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		var got scan.Result
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatal(err)
		}
		step.want.Root, step.want.Recursive, step.want.FFProbe = root, true, true
		if got.Seconds <= 0 {
			t.Fatalf("%s: duration %v, want > 0", step.name, got.Seconds)
		}
		got.Seconds = 0
		if !reflect.DeepEqual(got, step.want) {
			t.Fatalf("%s: result %+v\nwant %+v", step.name, got, step.want)
		}
		files, missing := 0, 0
		for cursor := ""; ; {
			page, next, err := lib.ListFiles(ctx, 500, cursor)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range page {
				files++
				if f.Missing {
					missing++
					if f.Path != victim {
						t.Fatalf("%s: %s marked missing", step.name, f.Path)
					}
					continue
				}
				// Every file keeps its details; only the first scan, which
				// recorded the files, dated them (and the victim's return).
				wantScanned := lastScan
				if step.name == "first scan" || (step.name == "file back" && f.Path == victim) {
					wantScanned = time.Time{}
				}
				if (wantScanned.IsZero() && !f.LastScannedAt.After(lastScan)) || (!wantScanned.IsZero() && !f.LastScannedAt.Equal(wantScanned)) ||
					f.Codec != "hevc" || f.Tracks != 3 {
					t.Fatalf("%s: row %+v (previous scan at %s)", step.name, f, lastScan)
				}
			}
			if cursor = next; cursor == "" {
				break
			}
		}
		if files != 700 || missing != step.want.Missing {
			t.Fatalf("%s: %d rows, %d missing", step.name, files, missing)
		}
		lastScan = getLastScan(t, lib, filepath.Join(root, rels[0]))
	}
	if prober.calls != 700 {
		t.Fatalf("%d probes, want 700 (unchanged files are not probed again)", prober.calls)
	}
}

func getLastScan(t *testing.T, lib *store.Store, p string) time.Time {
	t.Helper()
	f, err := lib.GetFile(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	return f.LastScannedAt
}

func TestScanCancelKeepsWhatWasRecorded(t *testing.T) {
	root := t.TempDir()
	write(t, root, "a/1.mkv", "b/2.mkv", "c/3.mkv", "d/4.mkv")
	lib := newMem()
	prober := &countingProber{block: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := scan.New(lib, prober, quietLog()).Run(ctx, job(`{"path":"`+root+`"}`), noProgress{})
		errc <- err
	}()
	prober.block <- struct{}{} // first file probed and recorded
	for len(lib.paths()) < 1 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run after cancel = %v, want context.Canceled", err)
	}
	if n := len(lib.paths()); n != 1 {
		t.Fatalf("%d files recorded, want the 1 scanned before cancel", n)
	}
	for _, f := range lib.files {
		if f.Missing {
			t.Fatal("a cancelled scan must not mark files missing")
		}
	}
}

func TestPayloadErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	write(t, dir, "f")
	for _, tc := range []struct{ payload, want string }{
		{``, "required"},
		{`{}`, "path is required"},
		{`{"path":"rel/dir"}`, "must be absolute"},
		{`{"path":"/x","bogus":1}`, "unknown field"},
		{`{"path":1}`, "scan payload"},
		{`[`, "scan payload"},
	} {
		_, err := scan.ParsePayload(json.RawMessage(tc.payload))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("ParsePayload(%q) = %v, want error containing %q", tc.payload, err, tc.want)
		}
	}
	// A path that is neither a directory nor a video file fails the job
	// with a clear error.
	_, err := scan.New(newMem(), nil, quietLog()).Run(context.Background(), job(`{"path":"`+file+`"}`), noProgress{})
	if err == nil || !strings.Contains(err.Error(), "not a directory, nor a video file") {
		t.Fatalf("scan of a file = %v", err)
	}
}

func TestContainer(t *testing.T) {
	for name, want := range map[string]string{
		"a.MKV": "matroska", "b.mp4": "mp4", "c.m4v": "mp4", "d.ts": "mpegts", "e.webm": "webm",
		"f.mov": "quicktime", "g.avi": "avi", "h.txt": "", "noext": "", "i.mkv.part": "",
		// the temporary file of a rewrite in progress
		".j.vpo-tmp-0123456789abcdef.mkv": "", "/lib/.j.vpo-tmp-0123456789abcdef.mkv": "",
	} {
		got, ok := scan.Container(name)
		if got != want || ok != (want != "") {
			t.Fatalf("Container(%q) = %q, %v; want %q", name, got, ok, want)
		}
	}
}

// BenchmarkFirstScan measures a first scan of a tree of new video files
// (10,000; -rescan-files for another count) into a new SQLite library,
// without ffprobe.
func BenchmarkFirstScan(b *testing.B) {
	root := benchTree(b, *rescanFiles)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		lib, err := store.Open(context.Background(), filepath.Join(b.TempDir(), "vpo.db"), store.Options{})
		if err != nil {
			b.Fatal(err)
		}
		s := scan.New(lib, nil, quietLog())
		b.StartTimer()
		if _, err := s.Run(context.Background(), job(`{"path":"`+root+`"}`), noProgress{}); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		lib.Close()
		b.StartTimer()
	}
}

// benchTree makes a tree of n empty video files, 100 per directory.
func benchTree(b *testing.B, n int) string {
	root := b.TempDir()
	for i := 0; i < n; i++ {
		dir := filepath.Join(root, fmt.Sprintf("show-%03d", i/1000), fmt.Sprintf("season-%02d", i/100%10))
		if i%100 == 0 {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				b.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("episode-%06d.mkv", i)), nil, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	return root
}

// BenchmarkRescan measures a rescan of an unchanged tree of video files
// (10,000; -rescan-files for another count) recorded in a real SQLite
// library, without ffprobe. tools/bench measures the whole daemon.
func BenchmarkRescan(b *testing.B) {
	root := benchTree(b, *rescanFiles)
	lib, err := store.Open(context.Background(), filepath.Join(b.TempDir(), "vpo.db"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer lib.Close()
	s := scan.New(lib, nil, quietLog())
	payload := job(`{"path":"` + root + `"}`)
	if _, err := s.Run(context.Background(), payload, noProgress{}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.Run(context.Background(), payload, noProgress{}); err != nil {
			b.Fatal(err)
		}
	}
}
