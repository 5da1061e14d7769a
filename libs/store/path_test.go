package store_test

import (
	"context"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vpo-project/vpo/libs/store"
)

// TestNonUTF8PathsStayDistinct: two files whose names differ only in bytes
// that are not UTF-8 are stored as two rows, come back byte for byte, and
// have different "path"s in JSON, with the raw bytes in "path_b64".
func TestNonUTF8PathsStayDistinct(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	raw := []string{"/media/a\xff.mkv", "/media/a\xfe.mkv", "/media/a\\xff.mkv", "/media/plain é.mkv"}
	for _, p := range raw {
		if err := s.UpsertFile(ctx, store.File{Path: p, LastScannedAt: t0}); err != nil {
			t.Fatal(err)
		}
	}
	files, _, err := s.ListFiles(ctx, 10, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(raw) {
		t.Fatalf("%d rows, want %d", len(files), len(raw))
	}
	seen := map[string]string{}
	for _, f := range files {
		b, err := json.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		var j struct {
			Path    string `json:"path"`
			PathB64 string `json:"path_b64"`
		}
		if err := json.Unmarshal(b, &j); err != nil {
			t.Fatal(err)
		}
		if other, dup := seen[j.Path]; dup {
			t.Fatalf("%q and %q share the JSON path %q", other, f.Path, j.Path)
		}
		seen[j.Path] = f.Path
		exact := j.PathB64 == ""
		if exact {
			if j.Path != f.Path {
				t.Fatalf("path %q shown as %q without path_b64", f.Path, j.Path)
			}
			continue
		}
		back, err := base64.StdEncoding.DecodeString(j.PathB64)
		if err != nil || string(back) != f.Path {
			t.Fatalf("path_b64 of %q decodes to %q, %v", f.Path, back, err)
		}
	}
	for p, want := range map[string]string{
		"/media/a\xff.mkv":   `/media/a\xff.mkv`,
		"/media/a\\xff.mkv":  `/media/a\\xff.mkv`,
		"/media/plain é.mkv": "/media/plain é.mkv",
	} {
		if got, _ := store.EscapePath(p); got != want {
			t.Errorf("EscapePath(%q) = %q, want %q", p, got, want)
		}
	}
}

func TestProbeState(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	at := t0.Add(time.Minute)
	for _, f := range []store.File{
		{Path: "/m/never.mkv", LastScannedAt: t0},
		{Path: "/m/ok.mkv", LastScannedAt: t0, ProbedAt: at, Probe: json.RawMessage(`{}`)},
		{Path: "/m/failed.mkv", LastScannedAt: t0, ProbedAt: at, ProbeError: "ffprobe: exit status 1"},
	} {
		if err := s.UpsertFile(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	states, err := s.FileStates(ctx, "/m")
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]bool{"/m/never.mkv": false, "/m/ok.mkv": true, "/m/failed.mkv": false} {
		if states[p].Probed != want {
			t.Errorf("FileStates[%s].Probed = %v, want %v", p, states[p].Probed, want)
		}
	}
	f := getFile(t, s, "/m/failed.mkv")
	if !f.ProbedAt.Equal(at) || f.ProbeError != "ffprobe: exit status 1" {
		t.Fatalf("failed probe stored as %+v", f)
	}
	for _, tc := range []struct {
		path string
		want string
	}{
		{"/m/never.mkv", `"probed":false,"probed_at":null,"probe_error":""`},
		{"/m/ok.mkv", `"probed":true,"probed_at":"2025-03-01T12:01:00Z","probe_error":""`},
		{"/m/failed.mkv", `"probed":false,"probed_at":"2025-03-01T12:01:00Z","probe_error":"ffprobe: exit status 1"`},
	} {
		b, err := json.Marshal(getFile(t, s, tc.path))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), tc.want) {
			t.Errorf("JSON of %s = %s, want it to hold %s", tc.path, b, tc.want)
		}
	}
}

// TestUpsertRejectsInsaneNumbers: a duration that is NaN, infinite or
// negative, or a negative size, is refused with ErrInvalid and nothing is
// written.
func TestUpsertRejectsInsaneNumbers(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	for _, f := range []store.File{
		{Path: "/m/nan.mkv", DurationSeconds: math.NaN()},
		{Path: "/m/inf.mkv", DurationSeconds: math.Inf(1)},
		{Path: "/m/neg.mkv", DurationSeconds: -1},
		{Path: "/m/size.mkv", Size: -5},
	} {
		if err := s.UpsertFiles(ctx, []store.File{f}); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("UpsertFiles(%+v) = %v, want ErrInvalid", f, err)
		}
		if _, err := s.GetFile(ctx, f.Path); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s written anyway: %v", f.Path, err)
		}
	}
}

// schemaV1 is the schema of version 1, before the probe columns.
//
//go:embed migrations/0001_init.sql
var schemaV1 string

// TestProbeStateMigrationKeepsRows: a library written before the probe
// columns existed keeps every row; rows with stream details count as
// probed at their last scan, the others as never probed (so a scan probes
// them).
func TestProbeStateMigrationKeepsRows(t *testing.T) {
	sqliteOnly(t)
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	db := rawDB(t, path)
	for _, q := range []string{
		schemaV1,
		`CREATE TABLE schema_migrations (version INTEGER NOT NULL PRIMARY KEY, applied_at TEXT NOT NULL)`,
		`INSERT INTO schema_migrations VALUES (1, '2025-01-01T00:00:00Z')`,
		`INSERT INTO files (path, size, last_scanned_at, probe, codec) VALUES
			('/m/probed.mkv', 1, '2025-03-01T12:00:00Z', '{}', 'hevc'),
			('/m/bare.mkv', 2, '2025-03-01T12:00:00Z', NULL, '')`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	_ = db.Close()
	s, err := store.Open(ctx, path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if f := getFile(t, s, "/m/probed.mkv"); !f.Probed() || !f.ProbedAt.Equal(t0) || f.Codec != "hevc" {
		t.Errorf("probed row after migration: %+v", f)
	}
	if f := getFile(t, s, "/m/bare.mkv"); f.Probed() || !f.ProbedAt.IsZero() || f.Size != 2 {
		t.Errorf("unprobed row after migration: %+v", f)
	}
}
