package policy_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vpo-project/vpo/libs/policy"
)

func TestEntrySummary(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"english.yaml": "schema_version: 13\ndescription: Keep English\nconfig:\n  audio_languages: [eng]\n" +
			"  subtitle_languages: [eng, fre]\nphases:\n  - name: filter\n    keep_audio:\n      languages: [eng]\n",
		"later.yml":   valid + "    transcode: {video: {to: vp9}}\n    transcription: {}\n",
		"broken.yaml": "schema_version: 13\nphases: [\n",
	})
	mtime := time.Date(2026, 3, 4, 5, 6, 7, 0, time.FixedZone("x", 3600))
	for _, name := range []string{"english.yaml", "later.yml", "broken.yaml"} {
		if err := os.Chtimes(filepath.Join(dir, name), mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	l, err := policy.List(dir)
	if err != nil {
		t.Fatal(err)
	}
	entries := append(l.Entries, policy.Entry{Name: "gone", Filename: "gone.yaml", Path: filepath.Join(dir, "gone.yaml")})
	want := []string{
		`{"name":"broken","filename":"broken.yaml","file_path":"DIR/broken.yaml","last_modified":"2026-03-04T04:06:07Z",` +
			`"schema_version":0,"description":"","audio_languages":[],"subtitle_languages":[],"has_transcode":false,"has_transcription":false,` +
			`"parse_error":"DIR/broken.yaml: YAML syntax error at line 2: did not find expected node content","unsupported":[]}`,
		`{"name":"english","filename":"english.yaml","file_path":"DIR/english.yaml","last_modified":"2026-03-04T04:06:07Z",` +
			`"schema_version":13,"description":"Keep English","audio_languages":["eng"],"subtitle_languages":["eng","fre"],` +
			`"has_transcode":false,"has_transcription":false,"parse_error":null,"unsupported":[]}`,
		`{"name":"later","filename":"later.yml","file_path":"DIR/later.yml","last_modified":"2026-03-04T04:06:07Z",` +
			`"schema_version":13,"description":"d","audio_languages":["eng","und"],"subtitle_languages":["eng","und"],"has_transcode":true,"has_transcription":true,` +
			`"parse_error":null,"unsupported":["DIR/later.yml:6: phases[0].transcode.video.to: vp9 is not supported by vpo yet (use h264, hevc or av1)",` +
			`"DIR/later.yml:7: phases[0].transcription: not supported by vpo yet (transcription comes in a later release)"]}`,
		`{"name":"gone","filename":"gone.yaml","file_path":"DIR/gone.yaml","last_modified":null,` +
			`"schema_version":0,"description":"","audio_languages":[],"subtitle_languages":[],"has_transcode":false,"has_transcription":false,` +
			`"parse_error":"DIR/gone.yaml: cannot be read","unsupported":[]}`,
	}
	if len(entries) != len(want) {
		t.Fatalf("%d entries, want %d", len(entries), len(want))
	}
	for i, e := range entries {
		b, err := json.Marshal(e.Summary())
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.ReplaceAll(string(b), dir, "DIR"); got != want[i] {
			t.Errorf("%s:\n got %s\nwant %s", e.Name, got, want[i])
		}
	}
}

// TestEntrySummaryCopiesLanguages checks that a Summary does not share
// the policy's slices: changing one leaves the other as it was.
func TestEntrySummaryCopiesLanguages(t *testing.T) {
	p, err := policy.Parse("p.yaml", []byte("schema_version: 13\nconfig:\n  audio_languages: [eng]\nphases:\n  - name: a\n    keep_audio: {languages: [eng]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	s := policy.Entry{Name: "p", Policy: p}.Summary()
	s.AudioLanguages[0] = "fre"
	if p.Config.AudioLanguages[0] != "eng" {
		t.Errorf("the summary shares the policy's audio languages")
	}
}
