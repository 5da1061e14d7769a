package app

import (
	"strings"
	"testing"
	"time"

	"github.com/vpo-project/vpo/libs/store"
)

func TestJobProgressText(t *testing.T) {
	eta := func(n int64) *int64 { return &n }
	for _, tc := range []struct {
		job  store.Job
		cell string
	}{
		{store.Job{Status: store.StatusQueued}, "-"},
		{store.Job{Status: store.StatusRunning}, "0%"},
		{store.Job{Status: store.StatusRunning, ProgressPercent: 42.4, ETASeconds: eta(70)}, "42% eta 1m10s"},
		{store.Job{Status: store.StatusRunning, ProgressPercent: 5, ETASeconds: eta(7200)}, "5% eta 2h"},
		{store.Job{Status: store.StatusRunning, ProgressPercent: 5, ETASeconds: eta(3900)}, "5% eta 1h5m"},
		{store.Job{Status: store.StatusRunning, ProgressPercent: 99, ETASeconds: eta(0)}, "99% eta 0s"},
		{store.Job{Status: store.StatusCompleted, ProgressPercent: 100}, "100%"},
	} {
		if got := progressCell(tc.job); got != tc.cell {
			t.Errorf("progressCell(%s %v%% eta %v) = %q, want %q", tc.job.Status, tc.job.ProgressPercent, tc.job.ETASeconds, got, tc.cell)
		}
	}
	j := store.Job{ID: "j1", Kind: "transcode", Status: store.StatusRunning, ProgressPercent: 42, ETASeconds: eta(70),
		ProgressMessage: "encoding", CreatedAt: time.Now()}
	if got := progressLine(j); got != "progress: 42% eta 1m10s (encoding)" {
		t.Errorf("progressLine = %q", got)
	}
	var b strings.Builder
	if err := printJobs(&b, false, j); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "PROGRESS") || !strings.Contains(b.String(), "42% eta 1m10s") {
		t.Errorf("jobs table lacks the progress column:\n%s", b.String())
	}
	b.Reset()
	if err := printJobs(&b, true, j); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), `"eta_seconds": 70`) {
		t.Errorf("JSON lacks eta_seconds:\n%s", b.String())
	}
}
