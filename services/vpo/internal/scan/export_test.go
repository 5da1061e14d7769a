package scan

import "io/fs"

// SetReadDir replaces how s lists directories, to inject file-system
// errors in tests.
func SetReadDir(s *Scanner, readDir func(name string) ([]fs.DirEntry, error)) {
	s.readDir, s.statAt = readDir, false
}
