package apply

import "sync"

// lockSet holds the paths Applies of this process work on.
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
