package applyjob_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vpo-project/vpo/libs/store"
	"github.com/vpo-project/vpo/services/vpo/internal/applyjob"
)

// BenchmarkDryRunScannedDirectory measures a directory dry run of files
// whose stored probes all match (planned in the job, no child jobs), per
// file.
func BenchmarkDryRunScannedDirectory(b *testing.B) {
	const n = 2000
	ctx := context.Background()
	f := newFixture(b, applyjob.Settings{})
	lib := filepath.Join(b.TempDir(), "lib")
	reduced, err := store.ReduceProbe([]byte(probeJSON))
	if err != nil {
		b.Fatal(err)
	}
	var rows []store.File
	for i := 0; i < n; i++ {
		dir := filepath.Join(lib, fmt.Sprintf("d%02d", i/100))
		if i%100 == 0 {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				b.Fatal(err)
			}
		}
		path := filepath.Join(dir, fmt.Sprintf("f%05d.mkv", i))
		if err := os.WriteFile(path, []byte("v"), 0o644); err != nil {
			b.Fatal(err)
		}
		fi, _ := os.Stat(path)
		rows = append(rows, store.File{Path: path, Size: fi.Size(), ModTime: fi.ModTime(), LastScannedAt: time.Now(),
			Probe: reduced, ProbedAt: time.Now()})
	}
	if err := f.st.UpsertFiles(ctx, rows); err != nil {
		b.Fatal(err)
	}
	payload := json.RawMessage(fmt.Sprintf(`{"policy":"eng","path":%q,"dry_run":true}`, lib))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := f.st.CreateJob(ctx, store.NewJob{Kind: applyjob.Kind, Payload: payload, MaxAttempts: 1}); err != nil {
			b.Fatal(err)
		}
		j, _, err := f.st.ClaimJob(ctx, "w", []string{applyjob.Kind}, time.Minute, time.Now())
		if err != nil {
			b.Fatal(err)
		}
		if _, err := f.h.Run(ctx, j, noProgress{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "µs/file")
}
