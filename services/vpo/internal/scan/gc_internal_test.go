package scan

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/vpo-project/vpo/libs/store"
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

// panickyLibrary panics when the scan writes its files; the job pool
// recovers a handler's panic and goes on, so the scan must not leave the
// collector's target raised.
type panickyLibrary struct{}

func (panickyLibrary) EachFileStatePage(context.Context, string, func(store.FileStatePage) error) error {
	return nil
}
func (panickyLibrary) FilesByPath(context.Context, []string) (map[string]store.File, error) {
	return nil, nil
}
func (panickyLibrary) UpsertFiles(context.Context, []store.File) error { panic("library bug") }
func (panickyLibrary) TouchFiles(context.Context, []string, time.Time) (int, error) {
	return 0, nil
}
func (panickyLibrary) MarkMissingPaths(context.Context, []string, time.Time) (int, error) {
	return 0, nil
}

type ignoredProgress struct{}

func (ignoredProgress) Report(float64, string)                   {}
func (ignoredProgress) ReportETA(float64, string, time.Duration) {}

func TestRelaxGCAfterPanickingScan(t *testing.T) {
	t.Setenv("GOGC", "")
	os.Unsetenv("GOGC")
	prev := debug.SetGCPercent(100)
	defer debug.SetGCPercent(prev)
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "a.mkv"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	log := logrus.New()
	log.SetOutput(io.Discard)
	s := New(panickyLibrary{}, nil, logrus.NewEntry(log))
	payload, _ := json.Marshal(map[string]string{"path": root})
	func() {
		defer func() {
			if recover() == nil {
				t.Error("the scan did not panic")
			}
		}()
		_, _ = s.Run(context.Background(), store.Job{ID: "j", Kind: Kind, Payload: payload}, ignoredProgress{})
	}()
	if p := debug.SetGCPercent(100); p != 100 || gcRelax.scans != 0 {
		t.Fatalf("after a scan that panicked: GOGC %d, %d scans counted; want 100, 0", p, gcRelax.scans)
	}
}
