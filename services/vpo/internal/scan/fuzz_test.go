package scan_test

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vpo-project/vpo/services/vpo/internal/scan"
)

// FuzzParsePayload: a scan payload is either accepted with a clean
// absolute path without NUL bytes or rejected with an error that says it is about the scan
// payload. It never panics.
func FuzzParsePayload(f *testing.F) {
	for _, seed := range []string{
		`{"path": "/srv/media"}`,
		`{"path": "/srv/media/../media/./tv/", "recursive": false}`,
		`{"path": "relative/dir"}`,
		`{"path": ""}`,
		`{}`,
		``,
		`null`,
		`[]`,
		`{"path": "/a", "extra": 1}`,
		`{"path": 42}`,
		`{"path": "/a", "recursive": "yes"}`,
		`{"path": "/a\u0000b"}`,
		`{"path": "/a"} {"path": "/b"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		p, err := scan.ParsePayload(json.RawMessage(raw))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "scan payload") {
				t.Fatalf("rejection %q does not say it is about the scan payload", err)
			}
			return
		}
		if !filepath.IsAbs(p.Path) || filepath.Clean(p.Path) != p.Path || strings.ContainsRune(p.Path, 0) {
			t.Fatalf("accepted path %q is not clean and absolute, or holds a NUL byte", p.Path)
		}
	})
}
