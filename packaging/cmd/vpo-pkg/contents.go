package main

import (
	"fmt"
	"path"
	"path/filepath"
	"strings"

	"github.com/goreleaser/nfpm/v2"
	"github.com/goreleaser/nfpm/v2/files"
)

// expandGlobs replaces each content whose source is a glob pattern
// (packaging/examples/policies/*.yaml) by one content per matching file, in
// name order, at DESTINATION/NAME: the destination of a pattern is a
// directory. nfpm itself globs only plain files and configs (not rpm %doc
// files) and packages a matched symlink, which is how Bazel stages inputs, as
// a symlink; expanded here, every match is a file that resolveSources
// resolves. A pattern that matches nothing is an error, so a package never
// silently lacks the files it promises.
func expandGlobs(info *nfpm.Info) error {
	out := make(files.Contents, 0, len(info.Contents))
	for _, c := range info.Contents {
		if c.Type == files.TypeDir || c.Type == files.TypeSymlink || c.Type == files.TypeTree ||
			!strings.ContainsAny(c.Source, `*?[`) {
			out = append(out, c)
			continue
		}
		matches, err := filepath.Glob(c.Source)
		if err != nil {
			return fmt.Errorf("contents: source pattern %q of %s: %w", c.Source, c.Destination, err)
		}
		if len(matches) == 0 {
			return fmt.Errorf("contents: source pattern %q of %s matches no file", c.Source, c.Destination)
		}
		for _, m := range matches {
			cc := *c
			if c.FileInfo != nil {
				fi := *c.FileInfo
				cc.FileInfo = &fi
			}
			cc.Source = m
			cc.Destination = path.Join(c.Destination, filepath.Base(m))
			out = append(out, &cc)
		}
	}
	info.Contents = out
	return nil
}
