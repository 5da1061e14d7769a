package app

import (
	"context"
	"errors"
	"fmt"
)

// errNoLibraryManager is what noLibraryManager answers: no library
// contains any path, so the hooks refuse every import with 422.
var errNoLibraryManager = errors.New("no library manager runs in this vpo, so no library contains any path")

// noLibraryManager stands in for the library manager as the target of the
// Sonarr and Radarr hooks until the manager is wired into serve (see the
// marked block there): the hooks answer "Test" and ignore other events
// as usual, and refuse imports.
type noLibraryManager struct{}

// EnqueueImported implements server.HookTarget.
func (noLibraryManager) EnqueueImported(_ context.Context, path, _ string) (string, error) {
	return "", fmt.Errorf("enqueue %q: %w", path, errNoLibraryManager)
}
