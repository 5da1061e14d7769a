package scan

import (
	"os"
	"runtime/debug"
	"testing"
)

// TestRelaxGC: directory scans raise the collector's target while any of
// them runs and put back the one before when the last ends; an operator's
// GOGC, or a higher target, is left alone.
func TestRelaxGC(t *testing.T) {
	t.Setenv("GOGC", "")
	os.Unsetenv("GOGC") // t.Setenv restores it after the test
	prev := debug.SetGCPercent(150)
	defer debug.SetGCPercent(prev)
	percent := func() int { p := debug.SetGCPercent(-1); debug.SetGCPercent(p); return p }

	first, second := relaxGC(), relaxGC()
	if got := percent(); got != scanGCPercent {
		t.Fatalf("during scans: GOGC %d, want %d", got, scanGCPercent)
	}
	first()
	first() // twice: counted once
	if got := percent(); got != scanGCPercent {
		t.Fatalf("with one scan left: GOGC %d, want %d", got, scanGCPercent)
	}
	second()
	if got := percent(); got != 150 {
		t.Fatalf("after the scans: GOGC %d, want 150 back", got)
	}

	debug.SetGCPercent(800)
	relaxGC()()
	if got := percent(); got != 800 {
		t.Fatalf("a higher target: GOGC %d after a scan, want 800", got)
	}
	debug.SetGCPercent(150)
	t.Setenv("GOGC", "150")
	done := relaxGC()
	if got := percent(); got != 150 {
		t.Fatalf("with GOGC set by the operator: %d during a scan, want 150", got)
	}
	done()
}
