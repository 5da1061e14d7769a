package health_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/vpo-project/vpo/libs/health"
)

func BenchmarkHealthHandler(b *testing.B) {
	h := health.New(health.Options{
		Version:  "bench",
		Database: dbOK,
		Stats: func(context.Context) map[string]any {
			return map[string]any{"jobs_queued": 10, "jobs_running": 2, "workers": 4}
		},
	})
	h.SetReady(true)
	handler := h.HealthHandler()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		req := httptest.NewRequest(http.MethodGet, "/health", nil)
		for pb.Next() {
			rec := httptest.NewRecorder()
			handler.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Fatalf("code %d", rec.Code)
			}
		}
	})
}
