package scan_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vpo-project/vpo/services/vpo/internal/scan"
)

// TestValidatePayload: what the API refuses at submission, with the field
// and the reason in the message.
func TestValidatePayload(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "movie.mkv")
	text := filepath.Join(dir, "notes.txt")
	link := filepath.Join(dir, "link.mkv")
	for _, f := range []string{file, text} {
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(file, link); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, payload string
		want          []string // parts of the error; none: accepted
	}{
		{"directory", `{"path": "` + dir + `"}`, nil},
		{"missing root", `{"path": "` + dir + `/nope"}`, []string{"scan payload", "path", dir + "/nope", "does not exist"}},
		{"video file", `{"path": "` + file + `"}`, nil},
		{"other file", `{"path": "` + text + `"}`, []string{"scan payload", "path", text, "not a directory, nor a video file", ".mkv"}},
		{"link to a video file", `{"path": "` + link + `"}`, []string{"scan payload", "path", link, "neither a directory nor a regular file"}},
		{"NUL byte", `{"path": "` + dir + `\u0000x"}`, []string{"scan payload", "path", "NUL byte"}},
		{"relative", `{"path": "media"}`, []string{"scan payload", "path", "must be absolute"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := scan.ValidatePayload(json.RawMessage(tc.payload))
			if tc.want == nil {
				if err != nil {
					t.Fatalf("ValidatePayload(%s) = %v, want accepted", tc.payload, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("ValidatePayload(%s) accepted, want an error with %q", tc.payload, tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("ValidatePayload(%s) = %q, want it to contain %q", tc.payload, err, w)
				}
			}
		})
	}
}
