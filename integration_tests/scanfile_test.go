package integration_test

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// TestScanOfOneFile: a scan job whose path is one video file records just
// that file (not its siblings), and a second scan finds it unchanged.
// (A file gone by the time its queued scan runs is marked missing: see the
// scan package's TestScanOfOneFile; a path that does not exist is refused
// at submission.)
func TestScanOfOneFile(t *testing.T) {
	d := start(t, startOpts{wait: true})
	root := filepath.Join(d.dir, "media")
	mediaTree(t, root)
	file := filepath.Join(root, "show/s01/e01.mkv")

	scanFile := func(want map[string]int) {
		t.Helper()
		j := d.submit("scan", fmt.Sprintf(`{"path": %q}`, file))
		done := d.waitJob(j.ID, "completed", 30*time.Second)
		var res map[string]any
		if err := json.Unmarshal(done.Result, &res); err != nil {
			t.Fatal(err)
		}
		if res["root"] != file {
			t.Errorf("result root %v, want %s", res["root"], file)
		}
		for k, v := range want {
			if n, _ := res[k].(float64); int(n) != v {
				t.Errorf("result %s: %s = %v, want %d", done.Result, k, res[k], v)
			}
		}
	}
	scanFile(map[string]int{"files_seen": 1, "new": 1, "missing": 0})
	rows := d.files()
	if len(rows) != 1 || rows[0].Path != file || rows[0].Missing || rows[0].Container != "matroska" {
		t.Fatalf("library after a scan of %s: %+v, want only that file", file, rows)
	}
	scanFile(map[string]int{"files_seen": 1, "unchanged": 1})
	if rows := d.files(); len(rows) != 1 {
		t.Fatalf("library after a rescan of %s: %+v", file, rows)
	}
}
