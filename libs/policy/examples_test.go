package policy_test

import (
	"path/filepath"
	"testing"

	"github.com/vpo-project/vpo/libs/policy"
)

// TestExamples reads the example policies vpo ships: each must parse,
// pass Check, describe itself and plan a typical file.
func TestExamples(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("..", "..", "packaging", "examples", "policies", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) < 3 {
		t.Fatalf("found %d example policies, want at least 3", len(paths))
	}
	transcodes := false
	for _, path := range paths {
		t.Run(filepath.Base(path), func(t *testing.T) {
			p, err := policy.ReadFile(path)
			if err != nil {
				t.Fatalf("ReadFile: %v", err)
			}
			transcodes = transcodes || p.HasTranscode()
			if err := p.Check(); err != nil {
				t.Errorf("Check: %v", err)
			}
			if p.Description == "" {
				t.Errorf("no description")
			}
			f := readProbe(t, "movie.mkv.json", p.MediaOptions())
			if _, err := p.Plan(f); err != nil {
				t.Errorf("Plan of a typical file: %v", err)
			}
			if !p.HasTranscode() {
				return
			}
			// A transcoding example re-encodes an H.264 file and
			// plans without error for an HEVC one.
			plan, err := p.Plan(readProbe(t, "h264-1080.mkv.json", p.MediaOptions()))
			if err != nil || !plan.Encodes() {
				t.Errorf("Plan of an H.264 file: %v, encodes %v", err, plan.Encodes())
			}
			if _, err := p.Plan(readProbe(t, "hevc-720.mkv.json", p.MediaOptions())); err != nil {
				t.Errorf("Plan of an HEVC file: %v", err)
			}
		})
	}
	if !transcodes {
		t.Errorf("no example policy transcodes")
	}
}
