package scan

import (
	"os"
	"runtime/debug"
	"sync"
)

// scanGCPercent is the garbage collector's target (GOGC) while a directory
// scan runs. A scan makes short-lived garbage for every file it records
// (directory entries, paths, the SQL arguments and the driver's copies of
// them), about 0.6 KB a file, while the live heap stays small; with the
// default of 100 the collector ran so often that its work was a fifth of a
// first scan's time. At 400 a first scan of 100,000 files peaked some
// 10 MB higher (docs/benchmarks.md). An operator's own GOGC is left alone.
const scanGCPercent = 400

// gcRelax counts the directory scans running; the first raises the
// target, the last puts back what it was.
var gcRelax struct {
	sync.Mutex
	scans int
	prev  int
}

// relaxGC raises the collector's target to scanGCPercent (never lowers
// it, nor turns a collector that is off on) until the returned function is
// called, unless GOGC is set in the environment.
func relaxGC() (restore func()) {
	if _, set := os.LookupEnv("GOGC"); set {
		return func() {}
	}
	gcRelax.Lock()
	defer gcRelax.Unlock()
	if gcRelax.scans == 0 {
		gcRelax.prev = debug.SetGCPercent(scanGCPercent)
		if gcRelax.prev < 0 || gcRelax.prev > scanGCPercent {
			debug.SetGCPercent(gcRelax.prev)
		}
	}
	gcRelax.scans++
	var once sync.Once
	return func() {
		once.Do(func() {
			gcRelax.Lock()
			defer gcRelax.Unlock()
			if gcRelax.scans--; gcRelax.scans == 0 {
				debug.SetGCPercent(gcRelax.prev)
			}
		})
	}
}
