package jobs

import (
	"fmt"
	"sort"
	"sync"
)

// Registry maps job kinds to their handlers. It is safe for concurrent use.
type Registry struct {
	mu       sync.RWMutex
	handlers map[string]Handler
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{handlers: make(map[string]Handler)}
}

// Register sets the handler of kind. It fails for an empty kind, a nil
// handler or a kind that is already registered.
func (r *Registry) Register(kind string, h Handler) error {
	if kind == "" {
		return fmt.Errorf("register job handler: empty kind")
	}
	if h == nil {
		return fmt.Errorf("register job handler for kind %q: nil handler", kind)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.handlers[kind]; dup {
		return fmt.Errorf("register job handler for kind %q: already registered", kind)
	}
	r.handlers[kind] = h
	return nil
}

// Kinds returns the registered kinds, sorted.
func (r *Registry) Kinds() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	kinds := make([]string, 0, len(r.handlers))
	for k := range r.handlers {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	return kinds
}

// Lookup returns the handler of kind.
func (r *Registry) Lookup(kind string) (Handler, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	h, ok := r.handlers[kind]
	return h, ok
}
