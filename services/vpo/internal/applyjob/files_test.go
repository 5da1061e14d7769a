package applyjob_test

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/vpo-project/vpo/services/vpo/internal/applyjob"
)

func TestVideoFiles(t *testing.T) {
	lib := t.TempDir()
	for _, name := range []string{"a.mkv", "b.mp4", "notes.txt", ".hidden.mkv", ".a.vpo-tmp-0123456789abcdef.mkv",
		"c.original.mkv", "c.original.2.mkv", "c.original.17.mp4", "sub/d.mkv", ".dot/e.mkv", "sub/deeper/f.avi"} {
		p := filepath.Join(lib, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(lib, "a.mkv"), filepath.Join(lib, "link.mkv")); err != nil {
		t.Fatal(err)
	}
	// A root that is a link to the library is followed.
	alias := filepath.Join(t.TempDir(), "alias")
	if err := os.Symlink(lib, alias); err != nil {
		t.Fatal(err)
	}
	never := func(path string, err error) error { t.Errorf("onError(%s, %v)", path, err); return err }
	for _, tc := range []struct {
		name      string
		root      string
		recursive bool
		want      []string
	}{
		{"recursive", lib, true, []string{"a.mkv", "b.mp4", "sub/d.mkv", "sub/deeper/f.avi"}},
		{"flat", lib, false, []string{"a.mkv", "b.mp4"}},
		{"root is a link", alias, true, []string{"a.mkv", "b.mp4", "sub/d.mkv", "sub/deeper/f.avi"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := applyjob.VideoFiles(context.Background(), tc.root, tc.recursive, never)
			if err != nil {
				t.Fatal(err)
			}
			want := make([]string, len(tc.want))
			for i, w := range tc.want {
				want[i] = filepath.Join(tc.root, w)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("VideoFiles(%s) = %q, want %q", tc.root, got, want)
			}
		})
	}
}
