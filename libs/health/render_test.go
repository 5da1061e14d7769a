package health_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vpo-project/vpo/libs/health"
)

// TestRenderFor: a written /health document is served again for
// RenderFor, unless something it shows changed: Changed, a state setter,
// a database check with another outcome.
func TestRenderFor(t *testing.T) {
	clk := newClock()
	var n atomic.Int64
	var dbErr atomic.Pointer[error]
	h := health.New(health.Options{
		Database: health.CheckerFunc(func(context.Context) error {
			if e := dbErr.Load(); e != nil {
				return *e
			}
			return nil
		}),
		CacheFor:  -1, // every render checks the database
		Now:       clk.Now,
		RenderFor: time.Second,
		Stats:     func(context.Context) map[string]any { return map[string]any{"n": n.Add(1)} },
	})
	h.SetReady(true)
	get := func() (int, string) {
		rec := httptest.NewRecorder()
		h.HealthHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/health", nil))
		return rec.Code, rec.Body.String()
	}
	_, first := get()
	if _, again := get(); again != first {
		t.Fatalf("within RenderFor the document changed:\n%s\n%s", first, again)
	}
	clk.Advance(999 * time.Millisecond)
	if _, again := get(); again != first {
		t.Fatal("the document changed before RenderFor was over")
	}
	clk.Advance(time.Millisecond)
	_, later := get()
	if later == first || !strings.Contains(later, `"n":2`) {
		t.Fatalf("after RenderFor the document was not written again:\n%s", later)
	}
	h.Changed()
	if _, changed := get(); !strings.Contains(changed, `"n":3`) {
		t.Fatalf("after Changed the document was not written again:\n%s", changed)
	}
	h.ConfigReloadFailed("bad line 3")
	if _, doc := get(); !strings.Contains(doc, "bad line 3") {
		t.Fatalf("a failed reload did not show at once:\n%s", doc)
	}
	// The database failing, seen by the readiness probe: /health shows it
	// at once (the check's outcome changed), not after RenderFor.
	failed := errors.New("database is locked")
	dbErr.Store(&failed)
	rec := httptest.NewRecorder()
	h.ReadyHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/health/ready", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("ready with the database down: %d", rec.Code)
	}
	if code, doc := get(); code != http.StatusServiceUnavailable || !strings.Contains(doc, `"degraded"`) {
		t.Fatalf("database down: %d %s", code, doc)
	}
	h.SetShuttingDown()
	if code, doc := get(); code != http.StatusServiceUnavailable || !strings.Contains(doc, `"shutting_down":true`) {
		t.Fatalf("shutting down did not show at once: %d %s", code, doc)
	}
}

// TestRenderForOff: without RenderFor every request writes the document.
func TestRenderForOff(t *testing.T) {
	var n atomic.Int64
	h := health.New(health.Options{Database: dbOK, Now: newClock().Now,
		Stats: func(context.Context) map[string]any { return map[string]any{"n": n.Add(1)} }})
	for i := range 3 {
		rec := httptest.NewRecorder()
		h.HealthHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/health", nil))
		if !strings.Contains(rec.Body.String(), `"n":`+string(rune('1'+i))) {
			t.Fatalf("request %d: %s", i+1, rec.Body.String())
		}
	}
}
