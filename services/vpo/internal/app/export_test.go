package app

import (
	"errors"
	"time"
)

// Exported for the app_test package.
var (
	DatabaseCheck = databaseCheck
	NewRetention  = newRetention
	// SuggestedWatches is the fs.inotify.max_user_watches doctor
	// suggests for a number of directories.
	SuggestedWatches = suggestedWatches
)

// Retention exposes the retention actor's type to tests.
type Retention = retention

// SetRetentionClock replaces the actor's clock and pacing for a test.
func SetRetentionClock(r *retention, now func() time.Time, batch int) {
	r.now, r.batch, r.pause = now, batch, 0
}

// UnitSandboxBlocks is unitSandbox.blocks for a sandbox of these settings.
func UnitSandboxBlocks(protectSystem, protectHome string, readWrite []string, path string) string {
	return unitSandbox{protectSystem: protectSystem, protectHome: protectHome, readWrite: readWrite}.blocks(path)
}

// AccessAs checks path for uid and gids as doctor checks another user's
// access; want is a sum of 4 (read), 2 (write) and 1 (search).
func AccessAs(path string, uid uint32, gids []uint32, want uint32) error {
	return accessUser{name: "test", ids: &userIDs{uid: uid, gids: gids}}.access(path, want)
}

// IsACLDenial reports whether err is a denial an access control list may
// lift (doctor's warn).
func IsACLDenial(err error) bool { return errors.Is(err, errACL) }
