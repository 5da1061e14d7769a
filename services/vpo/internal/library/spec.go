package library

import (
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"time"
)

// Spec is one library as the manager runs it (the app maps the
// configuration's [[library]] tables to it).
type Spec struct {
	// ID names the library in the API (/api/libraries/{id}/rescan); New
	// and Set fill it from Path (see ID) when empty.
	ID string
	// Path is the library's root directory: absolute and clean.
	Path string
	// Policy is the policy applied to new and changed files; "" scans
	// them only.
	Policy string
	// Watch turns on inotify watching; false leaves rescans alone.
	Watch bool
	// Hold is how long a file must keep its size and mtime before vpo
	// acts on it.
	Hold time.Duration
	// RescanInterval is the time between full rescans; 0 means never
	// (besides the one at start-up and those asked for).
	RescanInterval time.Duration
}

// ID is the stable short id of the library at path: the first 12 hex
// digits of the SHA-256 of its clean path.
func ID(path string) string {
	sum := sha256.Sum256([]byte(filepath.Clean(path)))
	return hex.EncodeToString(sum[:])[:12]
}

// normalize cleans the path and fills the ID.
func (s Spec) normalize() Spec {
	s.Path = filepath.Clean(s.Path)
	if s.ID == "" {
		s.ID = ID(s.Path)
	}
	return s
}

// Status is what /health and GET /api/libraries show of one library.
type Status struct {
	ID     string `json:"id"`
	Path   string `json:"path"`
	Policy string `json:"policy,omitempty"`
	// Watch is the configured value; Watching whether inotify watches the
	// library right now.
	Watch    bool `json:"watch"`
	Watching bool `json:"watching"`
	// WatchedDirs counts the directories watched.
	WatchedDirs int `json:"watched_dirs"`
	// FallbackReason says why a library configured to be watched is not
	// (it is rescanned instead); "" when it is, or is not meant to be.
	FallbackReason string `json:"fallback_reason,omitempty"`
	// LastScan is when the last completed scan of the library's root
	// finished (nil: none known).
	LastScan *time.Time `json:"last_scan"`
	// NextRescan is when the next periodic rescan is due (nil: none
	// planned, or the first one waits for the daemon to be ready).
	NextRescan *time.Time `json:"next_rescan"`
	// Pending counts the files held until they stop changing.
	Pending int    `json:"pending"`
	Hold    string `json:"hold"`
	// RescanInterval is "0s" when periodic rescans are off.
	RescanInterval string `json:"rescan_interval"`
}
