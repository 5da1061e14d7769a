package apply

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
)

// lockSet holds the paths Applies of this process work on, and the
// files and names behind them (see lockKeys).
type lockSet struct {
	mu    sync.Mutex
	paths map[string]bool
}

func newLockSet() *lockSet { return &lockSet{paths: make(map[string]bool)} }

// lock takes every path, or none when one is taken (ErrBusy); release
// gives them back.
func (l *lockSet) lock(paths ...string) (release func(), err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, p := range paths {
		if l.paths[p] {
			return nil, ErrBusy
		}
	}
	for _, p := range paths {
		l.paths[p] = true
	}
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		for _, p := range paths {
			delete(l.paths, p)
		}
	}, nil
}

// held reports whether path is taken.
func (l *lockSet) held(path string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.paths[path]
}

// lockKeys returns the keys an Apply of path (whose result is newPath)
// locks: both paths as given, the file's device and inode (the same file
// reached through a symbolic link to a directory, a bind mount or another
// hard link), and each name as an entry of its directory's device and
// inode (a result's name that does not exist yet, reached another way).
// A path that cannot be read is locked by its string only.
func lockKeys(path, newPath string) []string {
	keys := []string{path, newPath}
	for _, p := range []string{path, newPath} {
		if st, err := os.Stat(filepath.Dir(p)); err == nil {
			if sys, ok := st.Sys().(*syscall.Stat_t); ok {
				keys = append(keys, fmt.Sprintf("\x00name %d:%d/%s", sys.Dev, sys.Ino, filepath.Base(p)))
			}
		}
	}
	if st, err := os.Stat(path); err == nil {
		if sys, ok := st.Sys().(*syscall.Stat_t); ok {
			keys = append(keys, fmt.Sprintf("\x00file %d:%d", sys.Dev, sys.Ino))
		}
	}
	return dedupe(keys)
}

// dedupe returns keys without repeats, in order.
func dedupe(keys []string) []string {
	seen := make(map[string]bool, len(keys))
	out := keys[:0]
	for _, k := range keys {
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}
