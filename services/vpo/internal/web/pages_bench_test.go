package web_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/gorilla/mux"

	"github.com/vpo-project/vpo/libs/store"
	"github.com/vpo-project/vpo/services/vpo/internal/web"
)

// largeLibrary is a store with 100,000 jobs (80 % completed, 15 % failed,
// 5 % queued; scan and apply) and 100,000 files in 1,000 directories (1 %
// missing, 1 % with a failed probe).
func largeLibrary(b *testing.B) (http.Handler, string) {
	b.Helper()
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "large.db")
	st, err := store.Open(ctx, path, store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = st.Close() })
	db, err := sql.Open("sqlite", path)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	_, err = db.ExecContext(ctx, `
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000)
INSERT INTO jobs (id, kind, payload, status, attempts, created_at, finished_at, error)
SELECT printf('%08x-0000-7000-8000-%012x', i, i),
       CASE WHEN i % 3 = 0 THEN 'apply' ELSE 'scan' END,
       printf('{"path":"/media/d%03d/file%06d.mkv"}', i % 1000, i),
       CASE WHEN i % 20 = 0 THEN 'queued' WHEN i % 20 < 4 THEN 'failed' ELSE 'completed' END,
       1, strftime('%Y-%m-%dT%H:%M:%S.000000000Z', 'now', printf('-%d seconds', 100000 - i)),
       CASE WHEN i % 20 = 0 THEN NULL ELSE strftime('%Y-%m-%dT%H:%M:%S.000000000Z', 'now', printf('-%d seconds', 100000 - i)) END,
       CASE WHEN i % 20 BETWEEN 1 AND 3 THEN 'ffprobe failed' END
FROM n`)
	if err != nil {
		b.Fatal(err)
	}
	files := make([]store.File, 0, 1000)
	now := time.Now()
	for i := range 100000 {
		f := store.File{Path: fmt.Sprintf("/media/d%03d/file%06d.mkv", i/100, i), Size: int64(i) * 1000, LastScannedAt: now,
			Container: "matroska", Codec: "h264", Tracks: 3}
		if i%100 == 42 {
			f.ProbedAt, f.ProbeError = now, "ffprobe: invalid data"
		}
		files = append(files, f)
		if len(files) == cap(files) {
			if err := st.UpsertFiles(ctx, files); err != nil {
				b.Fatal(err)
			}
			files = files[:0]
		}
	}
	var missing []string
	for i := 7; i < 100000; i += 100 {
		missing = append(missing, fmt.Sprintf("/media/d%03d/file%06d.mkv", i/100, i))
	}
	if _, err := st.MarkMissingPaths(ctx, missing, now.Add(time.Second)); err != nil {
		b.Fatal(err)
	}
	d, err := web.New(web.Options{
		Store: st,
		Health: func(context.Context) any {
			return map[string]any{"status": "healthy", "workers": 2, "queue": map[string]any{"window_open": true}}
		},
		Kinds:     func() []string { return []string{"apply", "scan"} },
		PolicyDir: func() string { return b.TempDir() },
	})
	if err != nil {
		b.Fatal(err)
	}
	r := mux.NewRouter()
	for _, rt := range d.Routes() {
		r.Handle(rt.Path, rt.Handler).Methods(rt.Method)
	}
	// A cursor deep into the jobs: the 1,500th page of 50 jobs.
	jobs, _, err := st.ListJobs(ctx, store.JobFilter{Limit: 1000})
	if err != nil || len(jobs) == 0 {
		b.Fatalf("list jobs: %v", err)
	}
	_, deep, err := st.ListJobs(ctx, store.JobFilter{Limit: 1000, Cursor: ""})
	for range 74 {
		if _, deep, err = st.ListJobs(ctx, store.JobFilter{Limit: 1000, Cursor: deep}); err != nil {
			b.Fatal(err)
		}
	}
	return r, deep
}

// BenchmarkPagesAt100k: server time of each dashboard page (template
// rendering included, no network) over 100,000 jobs and 100,000 files.
// It reports p50 and p99 per page (the goal: p99 < 50 ms).
func BenchmarkPagesAt100k(b *testing.B) {
	h, deepJobs := largeLibrary(b)
	for _, page := range []struct{ name, path string }{
		{"overview", "/"},
		{"jobs", "/jobs"},
		{"jobs_failed", "/jobs?state=failed"},
		{"jobs_apply_queued", "/jobs?state=queued&kind=apply"},
		{"jobs_deep_page", "/jobs?cursor=" + deepJobs},
		{"job", "/jobs/00000fa0-0000-7000-8000-000000000fa0"},
		{"library", "/library"},
		{"library_deep_page", "/library?cursor=" + "L21lZGlhL2Q5MDAvZmlsZTA5MDAwMC5ta3Y"},
		{"library_search_hit", "/library?q=d500%2Ffile05"},
		{"library_search_rare", "/library?q=file099999"},
		{"library_missing", "/library?filter=missing"},
		{"library_missing_deep_page", "/library?filter=missing&cursor=L21lZGlhL2Q5MDAvZmlsZTA5MDAwMC5ta3Y"},
		{"library_probe_failed", "/library?filter=probe_failed"},
		{"file", "/library/50000"},
	} {
		b.Run(page.name, func(b *testing.B) {
			var times []time.Duration
			for b.Loop() {
				rec := httptest.NewRecorder()
				start := time.Now()
				h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, page.path, nil))
				times = append(times, time.Since(start))
				if rec.Code != http.StatusOK {
					b.Fatalf("GET %s: %d\n%s", page.path, rec.Code, rec.Body.String())
				}
			}
			slices.Sort(times)
			b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(times[len(times)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}
