//go:build !unix

package logging

import "io/fs"

// devIno is not available without the journal (non-unix platforms).
func devIno(fs.FileInfo) (dev, ino uint64, ok bool) {
	return 0, 0, false
}
