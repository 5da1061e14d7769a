package integration_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestApplyPermanentFailuresFailAtOnce: an apply job whose file another
// attempt cannot mend (read-only, a symbolic link, not media) fails at its
// first attempt, naming the reason, and the file is not changed.
func TestApplyPermanentFailuresFailAtOnce(t *testing.T) {
	d, pdir := startPolicies(t, "")
	writePolicy(t, pdir, "eng.yaml", keepEngPolicy)
	lib := filepath.Join(d.dir, "lib")
	for _, tc := range []struct {
		name    string
		prepare func(t *testing.T, path string)
		want    string
	}{
		{"read-only file", func(t *testing.T, path string) {
			mkvFixture(t, path)
			if err := os.Chmod(path, 0o444); err != nil {
				t.Fatal(err)
			}
		}, "is read-only"},
		{"symbolic link", func(t *testing.T, path string) {
			target := path + ".target"
			mkvFixture(t, target)
			if err := os.Symlink(target, path); err != nil {
				t.Fatal(err)
			}
		}, "not a regular file but a symbolic link"},
		{"not media", func(t *testing.T, path string) {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte("root:x:0:0:root:/root:/bin/sh\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			old := time.Now().Add(-time.Hour)
			if err := os.Chtimes(path, old, old); err != nil {
				t.Fatal(err)
			}
		}, "is not a media file"},
	} {
		// One daemon for all cases (its helpers report to t): no subtests.
		path := filepath.Join(lib, strings.ReplaceAll(tc.name, " ", "-")+".mkv")
		tc.prepare(t, path)
		before := stamp(t, path)
		j := d.submit("apply", fmt.Sprintf(`{"policy":"eng","path":%q}`, path))
		done := d.waitJob(j.ID, "failed", 30*time.Second)
		if done.Attempts != 1 || !strings.Contains(done.Error, tc.want) {
			t.Errorf("%s: job failed after %d attempts with %q; want 1 attempt and an error saying %q", tc.name, done.Attempts, done.Error, tc.want)
		}
		if stamp(t, path) != before {
			t.Errorf("%s: the file changed", tc.name)
		}
	}
}
