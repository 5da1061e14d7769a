package web

import "time"

// SetClock replaces the clock of s.
func SetClock(s *Sessions, now func() time.Time) { s.now = now }
