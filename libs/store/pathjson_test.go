package store_test

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/vpo-project/vpo/libs/store"
)

// pathFields reads "path" and "path_b64" of a JSON object.
type pathFields struct {
	Path    string  `json:"path"`
	PathB64 *string `json:"path_b64"`
}

// checkPathJSON fails unless b shows path by the files API's rule: as it
// is without "path_b64" when it is UTF-8 without a backslash, else escaped
// with the exact bytes in "path_b64".
func checkPathJSON(t *testing.T, what string, b []byte, path string) {
	t.Helper()
	var j pathFields
	if err := json.Unmarshal(b, &j); err != nil {
		t.Fatalf("%s: %v in %s", what, err, b)
	}
	want, exact := store.EscapePath(path)
	if j.Path != want {
		t.Errorf("%s: path = %q, want %q (%s)", what, j.Path, want, b)
	}
	switch {
	case exact && j.PathB64 != nil:
		t.Errorf("%s: path_b64 %q given for the exact path %q", what, *j.PathB64, path)
	case !exact && j.PathB64 == nil:
		t.Errorf("%s: no path_b64 for %q (%s)", what, path, b)
	case !exact:
		if got, err := base64.StdEncoding.DecodeString(*j.PathB64); err != nil || string(got) != path {
			t.Errorf("%s: path_b64 decodes to %q, %v; want %q", what, got, err, path)
		}
	}
}

// TestPlanAndHistoryJSONPath: plan rows and history entries show a path
// that is not UTF-8 (or holds a backslash) escaped, with its bytes in
// "path_b64", so that two files never print the same path.
func TestPlanAndHistoryJSONPath(t *testing.T) {
	for _, tc := range []struct{ name, path string }{
		{"utf8", "/media/plain é.mkv"},
		{"not utf8", "/media/bad\xff\xfe.mkv"},
		{"other bytes", "/media/bad\xfe\xff.mkv"},
		{"backslash", `/media/a\xff.mkv`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := json.Marshal(store.Plan{ID: 1, Policy: "p", Path: tc.path, Status: store.PlanPending, Plan: json.RawMessage(`{}`)})
			if err != nil {
				t.Fatal(err)
			}
			checkPathJSON(t, "plan", b, tc.path)
			if !strings.Contains(string(b), `"status":"pending"`) || !strings.Contains(string(b), `"plan":{}`) {
				t.Errorf("plan JSON lost its other fields: %s", b)
			}
			b, err = json.Marshal(store.HistoryEntry{ID: 2, Path: tc.path, Policy: "p", Executor: "mkvpropedit"})
			if err != nil {
				t.Fatal(err)
			}
			checkPathJSON(t, "history", b, tc.path)
			if !strings.Contains(string(b), `"executor":"mkvpropedit"`) {
				t.Errorf("history JSON lost its other fields: %s", b)
			}
		})
	}
}
