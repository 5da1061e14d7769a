package integration_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeProbeJSON is what the fake ffprobe of the dry-run test prints for
// every file: one video, three audio (eng, fre, jpn) and two subtitle
// tracks.
const fakeProbeJSON = `{"streams":[` +
	`{"index":0,"codec_type":"video","codec_name":"h264","width":1920,"height":1080,"disposition":{"default":1}},` +
	`{"index":1,"codec_type":"audio","codec_name":"aac","channels":2,"tags":{"language":"eng"},"disposition":{"default":1}},` +
	`{"index":2,"codec_type":"audio","codec_name":"aac","channels":2,"tags":{"language":"fre"}},` +
	`{"index":3,"codec_type":"audio","codec_name":"aac","channels":2,"tags":{"language":"jpn"}},` +
	`{"index":4,"codec_type":"subtitle","codec_name":"subrip","tags":{"language":"eng"}},` +
	`{"index":5,"codec_type":"subtitle","codec_name":"subrip","tags":{"language":"fre"}}],` +
	`"format":{"format_name":"matroska,webm","duration":"1320.5"}}`

// TestDryRunOfScannedLibraryRunsNoProbe: a directory dry run after a scan
// plans every unchanged file in the parent job (no ffprobe run, no child
// job); a file changed since the scan gets a child job that probes it, and
// the counts cover every file.
func TestDryRunOfScannedLibraryRunsNoProbe(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	calls := filepath.Join(dir, "ffprobe-calls")
	script := "#!/bin/sh\necho x >> '" + calls + "'\nprintf '%s\\n' '" + fakeProbeJSON + "'\n"
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "ffprobe"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	pdir := filepath.Join(dir, "policies")
	writePolicy(t, pdir, "drop-jpn.yaml", keepBothPolicy)
	lib := filepath.Join(dir, "lib")
	files := []string{filepath.Join(lib, "a.mkv"), filepath.Join(lib, "b.mkv"), filepath.Join(lib, "sub", "c.mkv")}
	if err := os.MkdirAll(filepath.Join(lib, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if err := os.WriteFile(f, []byte("fake video"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	probes := func() int {
		b, err := os.ReadFile(calls)
		if os.IsNotExist(err) {
			return 0
		}
		if err != nil {
			t.Fatal(err)
		}
		return strings.Count(string(b), "x")
	}
	d := start(t, startOpts{dir: dir, wait: true, env: []string{"PATH=" + bin},
		extra: fmt.Sprintf("\n[policies]\ndir = %q\nmin_file_age = \"0s\"\n", pdir)})
	if res := d.scanNow(lib, true); res.Probed != 3 || probes() != 3 {
		t.Fatalf("scan: %+v, %d ffprobe runs; want 3 probed", res, probes())
	}
	children := func(id string) int {
		var kids struct {
			Jobs []struct{} `json:"jobs"`
		}
		if code := d.getBody("/api/jobs?parent="+id, &kids); code != http.StatusOK {
			t.Fatalf("GET /api/jobs?parent=%s = %d", id, code)
		}
		return len(kids.Jobs)
	}

	parent, c := d.applyDir("drop-jpn", lib, true)
	if c != (applyCounts{Files: 3, Planned: 3}) || probes() != 3 || children(parent.ID) != 0 {
		t.Fatalf("dry run of the scanned library = %+v, %d ffprobe runs in all, %d child jobs; want 3 planned, no new ffprobe run, no child job",
			c, probes(), children(parent.ID))
	}
	var plans struct {
		Plans []planRow `json:"plans"`
	}
	d.getBody("/api/plans?job="+parent.ID, &plans)
	if len(plans.Plans) != 3 {
		t.Fatalf("plans of the dry run = %d, want 3", len(plans.Plans))
	}

	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(files[1], later, later); err != nil {
		t.Fatal(err)
	}
	parent, c = d.applyDir("drop-jpn", lib, true)
	if c != (applyCounts{Files: 3, Planned: 3}) || probes() != 4 || children(parent.ID) != 1 {
		t.Fatalf("dry run after b.mkv changed = %+v, %d ffprobe runs in all, %d child jobs; want 3 planned, one more ffprobe run, one child job",
			c, probes(), children(parent.ID))
	}
}
