package apply_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/vpo-project/vpo/services/vpo/internal/apply"
)

// TestBusyThroughAnotherPath: while an apply of a file runs, another
// apply of the same file reached by another path (a symbolic link to its
// directory, another hard link) is refused with ErrBusy.
func TestBusyThroughAnotherPath(t *testing.T) {
	for _, tc := range []struct {
		name  string
		other func(t *testing.T, path string) string
	}{
		{"symbolic link to the directory", func(t *testing.T, path string) string {
			link := filepath.Join(t.TempDir(), "library")
			if err := os.Symlink(filepath.Dir(path), link); err != nil {
				t.Fatal(err)
			}
			return filepath.Join(link, filepath.Base(path))
		}},
		{"hard link", func(t *testing.T, path string) string {
			other := filepath.Join(filepath.Dir(path), "other.mkv")
			if err := os.Link(path, other); err != nil {
				t.Fatal(err)
			}
			return other
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := fixture(t, fixtureMKV)
			identify, err := exec.Command("mkvmerge", "-J", path).Output()
			if err != nil {
				t.Fatal(err)
			}
			answer := filepath.Join(t.TempDir(), "identify.json")
			if err := os.WriteFile(answer, identify, 0o644); err != nil {
				t.Fatal(err)
			}
			tool, started := slowTool(t, answer)
			jdir := filepath.Join(t.TempDir(), "journal")
			e, err := apply.New(apply.Options{JournalDir: jdir, Tools: apply.Tools{MkvMerge: tool}})
			if err != nil {
				t.Fatal(err)
			}
			probe, _ := newExecutor(t, nil)
			other := tc.other(t, path)
			req := request(t, probe, path, "mkv", dropJapanese)

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() {
				_, err := e.Apply(ctx, req)
				done <- err
			}()
			waitFile(t, started)

			req2 := req
			req2.Path = other
			if _, err := e.Apply(context.Background(), req2); !errors.Is(err, apply.ErrBusy) {
				t.Errorf("apply of %s during the apply of %s: %v, want ErrBusy", other, path, err)
			}
			cancel()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("apply did not return after its context was cancelled")
			}
		})
	}
}
