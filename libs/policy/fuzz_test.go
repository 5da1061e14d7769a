package policy_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vpo-project/vpo/libs/media"
	"github.com/vpo-project/vpo/libs/policy"
)

// FuzzParse checks that Parse never panics, that every error names the
// file, and that a policy it accepts can plan a file.
func FuzzParse(f *testing.F) {
	paths, _ := filepath.Glob(filepath.Join("testdata", "policies", "*.yaml"))
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("schema_version: 13\nphases:\n  - &p {name: a}\n  - *p\n"))
	f.Add([]byte("schema_version: 13\nphases: [{name: a, <<: {x: 1}}]\n"))
	probe, err := os.ReadFile(filepath.Join("testdata", "probes", "movie.mkv.json"))
	if err != nil {
		f.Fatal(err)
	}
	const name = "fuzz/policy.yaml"
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := policy.Parse(name, data)
		if err != nil {
			if !strings.Contains(err.Error(), name) {
				t.Fatalf("error does not name the file: %v", err)
			}
			if len(policy.Problems(err)) == 0 {
				t.Fatalf("error is neither *Error nor Errors: %T", err)
			}
			return
		}
		if cerr := p.Check(); cerr != nil {
			if !strings.Contains(cerr.Error(), name) {
				t.Fatalf("Check error does not name the file: %v", cerr)
			}
			return
		}
		file, err := media.FromFFProbe(probe, p.MediaOptions())
		if err != nil {
			t.Fatalf("commentary patterns Parse accepted do not compile: %v", err)
		}
		_, _ = p.Plan(file)
	})
}
