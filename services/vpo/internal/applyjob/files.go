package applyjob

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/vpo-project/vpo/services/vpo/internal/apply"
	"github.com/vpo-project/vpo/services/vpo/internal/scan"
)

// VideoFiles lists, in lexical order, the video files an apply job of the
// directory root takes: the regular files with a video extension (the
// scan's list) in root, and below it when recursive, leaving out hidden
// files and directories (the executor's temporary files are hidden) and
// originals kept as NAME.original.EXT. A root that is a symbolic link to a
// directory is followed; links below it are not. For each directory below
// root that cannot be read, onError is called: a nil answer skips that
// directory, an error ends the walk with it. A root that cannot be read is
// an error.
func VideoFiles(ctx context.Context, root string, recursive bool, onError func(path string, err error) error) ([]string, error) {
	top := filepath.Clean(root)
	// WalkDir does not follow a root that is a link; with a trailing slash
	// the kernel does.
	if li, err := os.Lstat(top); err == nil && li.Mode()&fs.ModeSymlink != 0 {
		top += string(filepath.Separator)
	}
	var out []string
	err := filepath.WalkDir(top, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if path == top {
				return err
			}
			if err := onError(path, err); err != nil {
				return err
			}
			if d != nil && d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != top && (!recursive || strings.HasPrefix(name, ".")) {
				return fs.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || strings.HasPrefix(name, ".") {
			return nil
		}
		if _, ok := scan.Container(name); !ok {
			return nil
		}
		if apply.IsKeptOriginal(name) {
			return nil
		}
		out = append(out, filepath.Clean(path))
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(out)
	return out, nil
}
