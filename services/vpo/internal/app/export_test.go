package app

import "time"

// Exported for the app_test package.
var (
	DatabaseCheck = databaseCheck
	NewRetention  = newRetention
)

// Retention exposes the retention actor's type to tests.
type Retention = retention

// SetRetentionClock replaces the actor's clock and pacing for a test.
func SetRetentionClock(r *retention, now func() time.Time, batch int) {
	r.now, r.batch, r.pause = now, batch, 0
}
