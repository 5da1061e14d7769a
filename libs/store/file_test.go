package store_test

import (
	"context"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"modernc.org/sqlite"

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
	if got.ID <= 0 {
		t.Errorf("GetFile: id %d, want a positive id", got.ID)
	}
	f.ID = got.ID
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

// seedFiles records files (path → last_scanned_at; a zero time is NULL) with
// missing set for the paths in missing.
func seedFiles(t *testing.T, s *store.Store, files map[string]time.Time, missing ...string) {
	t.Helper()
	isMissing := map[string]bool{}
	for _, p := range missing {
		isMissing[p] = true
	}
	for p, scanned := range files {
		f := store.File{Path: p, Size: int64(len(p)), ModTime: t0.Add(-time.Duration(len(p)) * time.Second),
			LastScannedAt: scanned, Missing: isMissing[p], Codec: "hevc", Probe: json.RawMessage(`{"x":1}`)}
		if err := s.UpsertFile(context.Background(), f); err != nil {
			t.Fatal(err)
		}
	}
}

func getFile(t *testing.T, s *store.Store, p string) store.File {
	t.Helper()
	f, err := s.GetFile(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestFileStates(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	seedFiles(t, s, map[string]time.Time{
		"/media/a.mkv": t0, "/media/sub/b.mkv": t0, "/media/gone.mkv": t0,
		"/media2/c.mkv": t0, "/mediafoo.mkv": t0, "/media": t0, "/other/d.mkv": t0,
	}, "/media/gone.mkv")
	for _, tc := range []struct {
		root string
		want []string
	}{
		{"/media", []string{"/media/a.mkv", "/media/gone.mkv", "/media/sub/b.mkv"}},
		{"/media/", []string{"/media/a.mkv", "/media/gone.mkv", "/media/sub/b.mkv"}},
		{"/media/sub", []string{"/media/sub/b.mkv"}},
		{"/nothing", nil},
		{"/", []string{"/media", "/media/a.mkv", "/media/gone.mkv", "/media/sub/b.mkv", "/media2/c.mkv", "/mediafoo.mkv", "/other/d.mkv"}},
	} {
		t.Run(tc.root, func(t *testing.T) {
			states, err := s.FileStates(ctx, tc.root)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for p, st := range states {
				got = append(got, p)
				f := getFile(t, s, p)
				if st.Size != f.Size || !st.ModTime.Equal(f.ModTime) || st.Missing != f.Missing {
					t.Errorf("state of %s = %+v, row %+v", p, st, f)
				}
			}
			sort.Strings(got)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("FileStates(%q) paths = %v, want %v", tc.root, got, tc.want)
			}
		})
	}
	if _, err := s.FileStates(ctx, ""); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("FileStates(\"\") = %v, want ErrInvalid", err)
	}
}

func TestUpsertFiles(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		files   []store.File
		wantErr error
		want    map[string]int64 // path → size stored afterwards
	}{
		{"empty batch", nil, nil, map[string]int64{"/m/old.mkv": 1}},
		{"insert and update", []store.File{
			{Path: "/m/new.mkv", Size: 5, LastScannedAt: t0},
			{Path: "/m/old.mkv", Size: 7, LastScannedAt: t0, Missing: true}, // stored as not missing
		}, nil, map[string]int64{"/m/new.mkv": 5, "/m/old.mkv": 7}},
		{"empty path writes nothing", []store.File{{Path: "/m/new.mkv", Size: 5}, {}},
			store.ErrInvalid, map[string]int64{"/m/old.mkv": 1}},
		{"bad probe writes nothing", []store.File{{Path: "/m/old.mkv", Size: 9}, {Path: "/m/x.mkv", Probe: json.RawMessage("{")}},
			store.ErrInvalid, map[string]int64{"/m/old.mkv": 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openTestStore(t)
			if err := s.UpsertFile(ctx, store.File{Path: "/m/old.mkv", Size: 1, Missing: true, Codec: "h264"}); err != nil {
				t.Fatal(err)
			}
			if err := s.UpsertFiles(ctx, tc.files); !errors.Is(err, tc.wantErr) {
				t.Fatalf("UpsertFiles = %v, want %v", err, tc.wantErr)
			}
			files, _, err := s.ListFiles(ctx, 0, "")
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]int64{}
			for _, f := range files {
				got[f.Path] = f.Size
				if tc.wantErr == nil && len(tc.files) > 0 && f.Missing {
					t.Errorf("%s still missing after UpsertFiles", f.Path)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("after UpsertFiles: %v, want %v", got, tc.want)
			}
		})
	}
	// A written row reads back exactly.
	s := openTestStore(t)
	f := store.File{Path: "/m/a.mkv", Size: 3, ModTime: t0.Add(-time.Hour), Container: "matroska", LastScannedAt: t0,
		Probe: json.RawMessage(`{"streams":[]}`), Codec: "av1", DurationSeconds: 1.5, Tracks: 2}
	if err := s.UpsertFiles(ctx, []store.File{f}); err != nil {
		t.Fatal(err)
	}
	got := getFile(t, s, f.Path)
	f.ID = got.ID
	if fmt.Sprint(got) != fmt.Sprint(f) || got.ID <= 0 {
		t.Errorf("GetFile = %+v\nwant %+v", got, f)
	}
}

func TestTouchFiles(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	seedFiles(t, s, map[string]time.Time{"/m/a.mkv": t0, "/m/gone.mkv": t0, "/m/b.mkv": t0}, "/m/gone.mkv")
	at := t0.Add(time.Hour)
	n, err := s.TouchFiles(ctx, []string{"/m/a.mkv", "/m/gone.mkv", "/m/unknown.mkv"}, at)
	if err != nil || n != 2 {
		t.Fatalf("TouchFiles = %d, %v; want 2", n, err)
	}
	for _, tc := range []struct {
		path    string
		scanned time.Time
	}{
		{"/m/a.mkv", at},
		{"/m/gone.mkv", at}, // seen again: no longer missing
		{"/m/b.mkv", t0},    // not in the list
	} {
		f := getFile(t, s, tc.path)
		if !f.LastScannedAt.Equal(tc.scanned) || f.Missing || f.Codec != "hevc" || string(f.Probe) != `{"x":1}` {
			t.Errorf("%s after TouchFiles: %+v, want last scan %s, not missing, details kept", tc.path, f, tc.scanned)
		}
	}
	if n, err := s.TouchFiles(ctx, nil, at); n != 0 || err != nil {
		t.Errorf("TouchFiles(nil) = %d, %v", n, err)
	}
	if _, err := s.TouchFiles(ctx, []string{"/m/a.mkv"}, time.Time{}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("TouchFiles(zero time) = %v, want ErrInvalid", err)
	}
}

func TestMarkMissingPaths(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	scanStart := t0
	seedFiles(t, s, map[string]time.Time{
		"/m/old.mkv":   scanStart.Add(-time.Hour),
		"/m/never.mkv": {},
		"/m/later.mkv": scanStart.Add(time.Second), // seen by a later scan: kept
		"/m/gone.mkv":  scanStart.Add(-time.Hour),  // already missing
		"/m/other.mkv": scanStart.Add(-time.Hour),  // not listed
	}, "/m/gone.mkv")
	n, err := s.MarkMissingPaths(ctx, []string{"/m/old.mkv", "/m/never.mkv", "/m/later.mkv", "/m/gone.mkv", "/m/unknown.mkv"}, scanStart)
	if err != nil || n != 2 {
		t.Fatalf("MarkMissingPaths = %d, %v; want 2", n, err)
	}
	for p, want := range map[string]bool{
		"/m/old.mkv": true, "/m/never.mkv": true, "/m/later.mkv": false, "/m/gone.mkv": true, "/m/other.mkv": false,
	} {
		if got := getFile(t, s, p).Missing; got != want {
			t.Errorf("%s missing = %v, want %v", p, got, want)
		}
	}
	if n, err := s.MarkMissingPaths(ctx, nil, scanStart); n != 0 || err != nil {
		t.Errorf("MarkMissingPaths(nil) = %d, %v", n, err)
	}
}

// TestUpsertFilesNumbersNewRows: UpsertFiles gives each new row its own id
// above the highest one (in statements of many rows, a partial last one
// included) and leaves the id of a recorded row as it was.
func TestUpsertFilesNumbersNewRows(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	at := time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC)
	if err := s.UpsertFile(ctx, store.File{Path: "/lib/old.mkv", Size: 1, ModTime: at, LastScannedAt: at}); err != nil {
		t.Fatal(err)
	}
	old, err := s.GetFile(ctx, "/lib/old.mkv")
	if err != nil {
		t.Fatal(err)
	}
	var files []store.File
	for i := range 75 {
		files = append(files, store.File{Path: fmt.Sprintf("/lib/new-%02d.mkv", i), Size: int64(i), ModTime: at, LastScannedAt: at})
	}
	files = append(files, store.File{Path: "/lib/old.mkv", Size: 2, ModTime: at, LastScannedAt: at})
	if err := s.UpsertFiles(ctx, files); err != nil {
		t.Fatal(err)
	}
	ids := map[int64]string{}
	for _, f := range files {
		got, err := s.GetFile(ctx, f.Path)
		if err != nil {
			t.Fatal(err)
		}
		if got.Size != f.Size {
			t.Errorf("%s: size %d, want %d", f.Path, got.Size, f.Size)
		}
		if other, dup := ids[got.ID]; dup || got.ID <= 0 {
			t.Errorf("%s: id %d (also %q)", f.Path, got.ID, other)
		}
		ids[got.ID] = f.Path
		if f.Path == old.Path && got.ID != old.ID {
			t.Errorf("recorded row renumbered: id %d, was %d", got.ID, old.ID)
		}
		if f.Path != old.Path && got.ID <= old.ID {
			t.Errorf("%s: id %d, not above the existing %d", f.Path, got.ID, old.ID)
		}
	}
	// One file at a time: a new row gets the next id, a recorded one
	// keeps its own.
	for _, p := range []string{"/lib/single.mkv", "/lib/single.mkv", "/lib/new-00.mkv"} {
		before, _ := s.GetFile(ctx, p)
		if err := s.UpsertFile(ctx, store.File{Path: p, Size: 9, ModTime: at, LastScannedAt: at}); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetFile(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		want := before.ID
		if want == 0 {
			want = int64(len(files) + 1)
		}
		if got.ID != want {
			t.Errorf("UpsertFile(%s): id %d, want %d", p, got.ID, want)
		}
	}
}

// TestFileStatesPages: FileStates reads more files than a page holds, each
// with its own size, mtime, missing flag and probe state, and none under a
// neighbouring root.
func TestFileStatesPages(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	base := time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC)
	n := 2*store.StatesPage + 7
	var files []store.File
	for i := range n {
		f := store.File{Path: fmt.Sprintf("/lib/d%d/f%05d.mkv", i%3, i), Size: int64(i) * 1000003,
			ModTime: base.Add(time.Duration(i) * 1234567 * time.Nanosecond), LastScannedAt: base}
		if i%5 == 0 {
			f.ProbedAt = base
		}
		if i%7 == 0 {
			f.ProbedAt, f.ProbeError = base, "broken"
		}
		files = append(files, f)
	}
	files = append(files, store.File{Path: "/lib0/x.mkv", LastScannedAt: base}, store.File{Path: "/li/y.mkv", LastScannedAt: base})
	if err := s.UpsertFiles(ctx, files); err != nil {
		t.Fatal(err)
	}
	var missing []string
	for i := 0; i < n; i += 11 {
		missing = append(missing, files[i].Path)
	}
	if _, err := s.MarkMissingPaths(ctx, missing, base.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	states, err := s.FileStates(ctx, "/lib")
	if err != nil {
		t.Fatal(err)
	}
	if len(states) != n {
		t.Fatalf("%d states, want %d", len(states), n)
	}
	for i, f := range files[:n] {
		want := store.FileState{Size: f.Size, ModTime: f.ModTime, Missing: i%11 == 0, Probed: i%5 == 0 && i%7 != 0}
		if got := states[f.Path]; got != want {
			t.Fatalf("%s: state %+v, want %+v", f.Path, got, want)
		}
	}
}

// TestFormatTime: the hand-written formatter writes what time.Format
// writes with the store's layout, in UTC, for any time.
func TestFormatTime(t *testing.T) {
	berlin := time.FixedZone("CET", 3600)
	times := []time.Time{
		{}, time.Unix(0, 0), time.Date(2026, 12, 2, 6, 0, 0, 123456789, time.UTC),
		time.Date(2026, 1, 1, 0, 30, 0, 1, berlin), time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(1, 1, 1, 0, 0, 0, 0, berlin),
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 10000 {
		times = append(times, time.Unix(r.Int64N(1<<38)-1<<37, r.Int64N(1e9)).In(berlin))
	}
	for _, tm := range times {
		if got, want := store.FormatTime(tm), tm.UTC().Format(store.TimeLayout); got != want {
			t.Fatalf("FormatTime(%v) = %q, want %q", tm, got, want)
		}
	}
}

// TestParseStoredTime: the fast parser reads what the store writes as
// parseTime does, and leaves any other form to it.
func TestParseStoredTime(t *testing.T) {
	for _, s := range []string{
		"2026-12-02T06:00:00.123456789Z", "1999-02-28T23:59:59.000000001Z", "2024-02-29T12:00:00.000000000Z",
		"2026-12-02T06:00:00Z", "2026-12-02T07:00:00.5+01:00", "2026-04-31T00:00:00.000000000Z",
		"2026-13-02T06:00:00.000000000Z", "2026-12-02T06:00:00.00000000xZ", "garbage",
	} {
		got, gotErr := store.ParseStoredTime(s)
		want, wantErr := store.ParseTime(s)
		if (gotErr != nil) != (wantErr != nil) || !got.Equal(want) || got.Location() != want.Location() {
			t.Errorf("ParseStoredTime(%q) = %v, %v; parseTime says %v, %v", s, got, gotErr, want, wantErr)
		}
	}
}

// TestUpsertFilesFailureMidway: when a statement fails after others of the
// same call were written (a trigger refuses the 70th of 100 bare rows, in
// the third statement), or the context is cancelled, none of the call's
// rows stay, and the store's connection is fit for the next call.
func TestUpsertFilesFailureMidway(t *testing.T) {
	sqliteOnly(t) // a SQLite trigger; the PostgreSQL writes are one plain transaction
	ctx := context.Background()
	s, path := openTestStorePath(t)
	db := rawDB(t, path)
	if _, err := db.Exec(`CREATE TRIGGER refuse_bad BEFORE INSERT ON files WHEN NEW.path = '/m/069.mkv'
		BEGIN SELECT RAISE(ABORT, 'refused by test'); END`); err != nil {
		t.Fatal(err)
	}
	batch := func(prefix string) []store.File {
		files := make([]store.File, 100)
		for i := range files {
			files[i] = store.File{Path: fmt.Sprintf("%s%03d.mkv", prefix, i), Size: int64(i), LastScannedAt: t0}
		}
		return files
	}
	if err := s.UpsertFiles(ctx, batch("/m/")); err == nil || !strings.Contains(err.Error(), "refused by test") {
		t.Fatalf("UpsertFiles = %v, want the trigger's error", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.UpsertFiles(cancelled, batch("/c/")); !errors.Is(err, context.Canceled) {
		t.Fatalf("UpsertFiles with a cancelled context = %v", err)
	}
	files, _, err := s.ListFiles(ctx, 0, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 0 {
		t.Fatalf("%d rows stayed after failed calls (first %q), want none", len(files), files[0].Path)
	}
	if err := s.UpsertFiles(ctx, batch("/n/")); err != nil {
		t.Fatalf("UpsertFiles after the failures: %v", err)
	}
	if files, _, err = s.ListFiles(ctx, 200, ""); err != nil || len(files) != 100 {
		t.Fatalf("after a good call: %d rows, %v; want 100", len(files), err)
	}
}

// cancelDuringInsert is called by a trigger in
// TestUpsertFilesCancelledMidStatement: it cancels the test's context
// while SQLite runs the statement.
var cancelDuringInsert struct {
	sync.Mutex
	cancel context.CancelFunc
}

func init() {
	sqlite.MustRegisterScalarFunction("vpo_test_cancel", 0, func(*sqlite.FunctionContext, []driver.Value) (driver.Value, error) {
		cancelDuringInsert.Lock()
		defer cancelDuringInsert.Unlock()
		if cancelDuringInsert.cancel != nil {
			cancelDuringInsert.cancel()
			time.Sleep(20 * time.Millisecond) // the driver interrupts SQLite meanwhile
		}
		return int64(0), nil
	})
}

// TestUpsertFilesCancelledMidStatement: a context cancelled while a
// statement runs (SQLite then ends the transaction itself) makes the call
// fail with the context's error, keeps none of its rows and leaves the
// connection as it was (not discarded as broken), for bare and full rows.
func TestUpsertFilesCancelledMidStatement(t *testing.T) {
	sqliteOnly(t) // SQLite's driver connection
	ctx := context.Background()
	s, path := openTestStorePath(t)
	db := rawDB(t, path)
	if _, err := db.Exec(`CREATE TRIGGER cancel_midway AFTER INSERT ON files WHEN NEW.path = '/m/040.mkv'
		BEGIN SELECT vpo_test_cancel(); END`); err != nil {
		t.Fatal(err)
	}
	for _, tracks := range []int{0, 2} { // bare rows, then rows with probe details
		files := make([]store.File, 100)
		for i := range files {
			files[i] = store.File{Path: fmt.Sprintf("/m/%03d.mkv", i), Size: int64(i), LastScannedAt: t0, Tracks: tracks}
		}
		cctx, cancel := context.WithCancel(ctx)
		cancelDuringInsert.Lock()
		cancelDuringInsert.cancel = cancel
		cancelDuringInsert.Unlock()
		err := s.UpsertFiles(cctx, files)
		cancelDuringInsert.Lock()
		cancelDuringInsert.cancel = nil
		cancelDuringInsert.Unlock()
		if !errors.Is(err, context.Canceled) || errors.Is(err, driver.ErrBadConn) {
			t.Fatalf("tracks %d: UpsertFiles = %v, want the context's error alone", tracks, err)
		}
		if got, _, err := s.ListFiles(ctx, 0, ""); err != nil || len(got) != 0 {
			t.Fatalf("tracks %d: %d rows stayed (%v), want none", tracks, len(got), err)
		}
		if err := s.UpsertFiles(ctx, files[:3]); err != nil {
			t.Fatalf("tracks %d: the next call: %v", tracks, err)
		}
		if _, err := db.Exec(`DELETE FROM files`); err != nil {
			t.Fatal(err)
		}
	}
}

// TestUpsertFilesAcrossCalls: the bulk upsert writes every row of calls
// of any size (statements of several row counts), one call after the
// other, and the store closes cleanly.
func TestUpsertFilesAcrossCalls(t *testing.T) {
	ctx := context.Background()
	open, _ := newDatabase(t)
	s, err := open()
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 3, 6, 0, 0, 0, time.UTC)
	total := 0
	for call, n := range []int{40, 7, 64, 1, 40, 33} {
		var files []store.File
		for i := range n {
			files = append(files, store.File{Path: fmt.Sprintf("/lib/c%d/f%03d.mkv", call, i), Size: int64(i), ModTime: at, LastScannedAt: at})
		}
		if err := s.UpsertFiles(ctx, files); err != nil {
			t.Fatalf("call %d (%d rows): %v", call, n, err)
		}
		total += n
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	s, err = open()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	states, err := s.FileStates(ctx, "/lib")
	if err != nil || len(states) != total {
		t.Fatalf("%d rows after reopening, %v; want %d", len(states), err, total)
	}
}

// TestBulkUpsertAfterWriteConnDropped: the bulk upsert holds nothing on the
// write connection between calls, so a connection database/sql drops (a
// cancelled statement, ErrBadConn) leaves nothing behind: the store goes on
// writing, closes cleanly and removes its write-ahead log.
func TestBulkUpsertAfterWriteConnDropped(t *testing.T) {
	sqliteOnly(t)
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "library.db")
	s, err := store.Open(ctx, path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 3, 6, 0, 0, 0, time.UTC)
	for round := range 3 {
		var files []store.File
		for i := range 40 {
			files = append(files, store.File{Path: fmt.Sprintf("/lib/r%d/%02d.mkv", round, i), Size: 1, ModTime: at, LastScannedAt: at})
		}
		if err := s.UpsertFiles(ctx, files); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if err := store.DropWriteConn(s); err == nil {
			t.Fatal("dropping the write connection reported no error")
		}
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		if _, err := os.Stat(path + suffix); err == nil {
			t.Errorf("%s left after Close", path+suffix)
		}
	}
}

// TestFileRowWithoutIDNumberedOnPostgres: on PostgreSQL, where nodes of
// two versions may share the database during an upgrade, a file row an
// older binary inserts without an id still gets the next one.
func TestFileRowWithoutIDNumberedOnPostgres(t *testing.T) {
	if !onPostgres() {
		t.Skip("only PostgreSQL is shared by several binaries; the SQLite store gives every id itself")
	}
	ctx := context.Background()
	s, name := openNamed(t)
	at := time.Date(2026, 12, 3, 6, 0, 0, 0, time.UTC)
	if err := s.UpsertFile(ctx, store.File{Path: "/lib/new.mkv", Size: 1, ModTime: at, LastScannedAt: at}); err != nil {
		t.Fatal(err)
	}
	if _, err := rawOpen(t, name).ExecContext(ctx, "INSERT INTO files (path, size) VALUES ('/lib/old-binary.mkv', 2)"); err != nil {
		t.Fatal(err)
	}
	f, err := s.GetFile(ctx, "/lib/old-binary.mkv")
	if err != nil || f.ID != 2 {
		t.Fatalf("row inserted without an id: id %d, %v; want 2", f.ID, err)
	}
}
