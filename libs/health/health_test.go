package health_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vpo-project/vpo/libs/health"
)

// clock is a manual clock for Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// counter is a database checker that counts its calls.
type counter struct {
	calls atomic.Int32
	check func(ctx context.Context) error
}

func (c *counter) Check(ctx context.Context) error {
	c.calls.Add(1)
	if c.check == nil {
		return nil
	}
	return c.check(ctx)
}

var (
	dbOK     = health.CheckerFunc(func(context.Context) error { return nil })
	dbFailed = health.CheckerFunc(func(context.Context) error { return errors.New("database is locked") })
	dbSlow   = health.CheckerFunc(func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
)

// state sets up one state of the daemon.
type state struct {
	name         string
	db           health.Checker
	nilDB        bool
	ready        bool
	extraReady   *bool
	shuttingDown bool
}

func (s state) build(t *testing.T, clk *clock) *health.Health {
	t.Helper()
	opts := health.Options{
		Version:  "1.2.3",
		Database: s.db,
		Timeout:  time.Millisecond,
		Now:      clk.Now,
	}
	if s.db == nil && !s.nilDB {
		opts.Database = dbOK
	}
	if s.extraReady != nil {
		v := *s.extraReady
		opts.Ready = func() bool { return v }
	}
	h := health.New(opts)
	h.SetReady(s.ready)
	if s.shuttingDown {
		h.SetShuttingDown()
	}
	return h
}

func ptr[T any](v T) *T { return &v }

func TestReportStates(t *testing.T) {
	tests := []struct {
		state
		wantStatus   string
		wantDatabase string
		wantReady    bool
		wantCode     int
		liveCode     int
		liveStatus   string
		readyCode    int
		readyReason  string
	}{
		{
			state:      state{name: "starting"},
			wantStatus: "unhealthy", wantDatabase: "connected", wantReady: false, wantCode: 503,
			liveCode: 200, liveStatus: "alive", readyCode: 503, readyReason: "starting",
		},
		{
			state:      state{name: "ready and database ok", ready: true},
			wantStatus: "healthy", wantDatabase: "connected", wantReady: true, wantCode: 200,
			liveCode: 200, liveStatus: "alive", readyCode: 200,
		},
		{
			state:      state{name: "database failing", ready: true, db: dbFailed},
			wantStatus: "degraded", wantDatabase: "disconnected", wantReady: false, wantCode: 503,
			liveCode: 200, liveStatus: "alive", readyCode: 503, readyReason: "database_disconnected",
		},
		{
			state:      state{name: "database slower than timeout", ready: true, db: dbSlow},
			wantStatus: "degraded", wantDatabase: "disconnected", wantReady: false, wantCode: 503,
			liveCode: 200, liveStatus: "alive", readyCode: 503, readyReason: "database_disconnected",
		},
		{
			state:      state{name: "database not configured", ready: true, nilDB: true},
			wantStatus: "degraded", wantDatabase: "disconnected", wantReady: false, wantCode: 503,
			liveCode: 200, liveStatus: "alive", readyCode: 503, readyReason: "database_disconnected",
		},
		{
			state:      state{name: "workers not running", ready: true, extraReady: ptr(false)},
			wantStatus: "unhealthy", wantDatabase: "connected", wantReady: false, wantCode: 503,
			liveCode: 200, liveStatus: "alive", readyCode: 503, readyReason: "not_ready",
		},
		{
			state:      state{name: "workers running", ready: true, extraReady: ptr(true)},
			wantStatus: "healthy", wantDatabase: "connected", wantReady: true, wantCode: 200,
			liveCode: 200, liveStatus: "alive", readyCode: 200,
		},
		{
			state:      state{name: "shutting down", ready: true, shuttingDown: true},
			wantStatus: "unhealthy", wantDatabase: "connected", wantReady: false, wantCode: 503,
			liveCode: 503, liveStatus: "shutting_down", readyCode: 503, readyReason: "shutting_down",
		},
		{
			state:      state{name: "shutting down with database failing", ready: true, shuttingDown: true, db: dbFailed},
			wantStatus: "unhealthy", wantDatabase: "disconnected", wantReady: false, wantCode: 503,
			liveCode: 503, liveStatus: "shutting_down", readyCode: 503, readyReason: "shutting_down",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.build(t, newClock())

			rep := h.Report(t.Context())
			if rep.Status != tt.wantStatus || rep.Database != tt.wantDatabase || rep.Ready != tt.wantReady {
				t.Errorf("Report() = %+v, want status %s database %s ready %v",
					rep, tt.wantStatus, tt.wantDatabase, tt.wantReady)
			}
			if rep.ShuttingDown != tt.shuttingDown || rep.ShuttingDown != h.ShuttingDown() {
				t.Errorf("ShuttingDown = %v, want %v", rep.ShuttingDown, tt.shuttingDown)
			}
			if got := rep.HTTPStatus(); got != tt.wantCode {
				t.Errorf("HTTPStatus() = %d, want %d", got, tt.wantCode)
			}

			code, body := serve(t, h.HealthHandler(), http.MethodGet)
			if code != tt.wantCode || body["status"] != tt.wantStatus {
				t.Errorf("/health = %d %v, want %d status %s", code, body, tt.wantCode, tt.wantStatus)
			}

			code, body = serve(t, h.LiveHandler(), http.MethodGet)
			if code != tt.liveCode || body["status"] != tt.liveStatus || len(body) != 1 {
				t.Errorf("/health/live = %d %v, want %d {status:%s}", code, body, tt.liveCode, tt.liveStatus)
			}

			code, body = serve(t, h.ReadyHandler(), http.MethodGet)
			if code != tt.readyCode {
				t.Errorf("/health/ready code = %d, want %d (%v)", code, tt.readyCode, body)
			}
			if tt.readyCode == http.StatusOK {
				if body["status"] != "ready" || len(body) != 1 {
					t.Errorf("/health/ready body = %v, want {status:ready}", body)
				}
			} else if body["status"] != "not_ready" || body["reason"] != tt.readyReason {
				t.Errorf("/health/ready body = %v, want status not_ready reason %s", body, tt.readyReason)
			}
		})
	}
}

// serve runs one request against handler and returns the code and the
// decoded JSON body (nil for HEAD), checking the headers every answer has.
func serve(t *testing.T, handler http.Handler, method string) (int, map[string]any) {
	t.Helper()
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, httptest.NewRequestWithContext(t.Context(), method, "/health", nil))
	res := rec.Result()
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	if cc := res.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", cc)
	}
	if method == http.MethodHead {
		if rec.Body.Len() != 0 {
			t.Errorf("HEAD body = %q, want empty", rec.Body.String())
		}
		return res.StatusCode, nil
	}
	var body map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", rec.Body.String(), err)
	}
	return res.StatusCode, body
}

func TestHealthSchema(t *testing.T) {
	clk := newClock()
	h := health.New(health.Options{
		Version:  "2.0.0",
		Database: dbOK,
		Now:      clk.Now,
		Stats: func(context.Context) map[string]any {
			return map[string]any{"jobs_queued": 3, "jobs_running": 1, "workers": 2, "status": "overridden?"}
		},
	})
	h.SetReady(true)
	clk.Advance(90*time.Second + 500*time.Millisecond)

	_, body := serve(t, h.HealthHandler(), http.MethodGet)
	want := map[string]any{
		"status":         "healthy",
		"database":       "connected",
		"uptime_seconds": 90.5,
		"version":        "2.0.0",
		"shutting_down":  false,
		"ready":          true,
		"jobs_queued":    float64(3),
		"jobs_running":   float64(1),
		"workers":        float64(2),
		// No reload yet.
		"config_reload_count": float64(0),
		"last_config_reload":  nil,
		"config_reload_error": nil,
	}
	for k, v := range want {
		got, ok := body[k]
		if !ok {
			t.Errorf("field %q missing", k)
			continue
		}
		if got != v {
			t.Errorf("%s = %#v (%T), want %#v (%T)", k, got, got, v, v)
		}
	}
	if len(body) != len(want) {
		t.Errorf("body has %d fields, want %d: %v", len(body), len(want), body)
	}
}

func TestReportMarshalJSON(t *testing.T) {
	tests := []struct {
		name    string
		report  health.Report
		want    string
		wantErr bool
	}{
		{
			name:   "no extra",
			report: health.Report{Status: "healthy", Database: "connected", UptimeSeconds: 1.5, Version: "v", Ready: true},
			want:   `{"status":"healthy","database":"connected","uptime_seconds":1.5,"version":"v","shutting_down":false,"ready":true,"config_reload_count":0,"last_config_reload":null,"config_reload_error":null}`,
		},
		{
			name: "extra merged sorted, fixed fields win",
			report: health.Report{Status: "degraded", Database: "disconnected", Version: "v",
				Extra: map[string]any{"workers": 4, "jobs_queued": 0, "ready": "no", "config_reload_count": 9}},
			want: `{"status":"degraded","database":"disconnected","uptime_seconds":0,"version":"v","shutting_down":false,"ready":false,"config_reload_count":0,"last_config_reload":null,"config_reload_error":null,"jobs_queued":0,"workers":4}`,
		},
		{
			name:    "unencodable extra",
			report:  health.Report{Extra: map[string]any{"f": func() {}}},
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := json.Marshal(tt.report)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Marshal error = %v, wantErr %v", err, tt.wantErr)
			}
			if err == nil && string(got) != tt.want {
				t.Errorf("Marshal =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestHealthHandlerUnencodableStats(t *testing.T) {
	h := health.New(health.Options{
		Database: dbOK,
		Stats:    func(context.Context) map[string]any { return map[string]any{"bad": make(chan int)} },
	})
	h.SetReady(true)
	code, body := serve(t, h.HealthHandler(), http.MethodGet)
	if code != http.StatusOK || body["status"] != "healthy" {
		t.Errorf("/health = %d %v, want 200 healthy without the bad field", code, body)
	}
}

func TestHeadHasNoBody(t *testing.T) {
	h := health.New(health.Options{Database: dbOK})
	h.SetReady(true)
	tests := []struct {
		name    string
		handler http.Handler
	}{
		{"health", h.HealthHandler()},
		{"live", h.LiveHandler()},
		{"ready", h.ReadyHandler()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if code, _ := serve(t, tt.handler, http.MethodHead); code != http.StatusOK {
				t.Errorf("HEAD code = %d, want 200", code)
			}
		})
	}
}

func TestLiveDoesNotCheckDatabase(t *testing.T) {
	db := &counter{}
	h := health.New(health.Options{Database: db})
	h.SetReady(true)
	serve(t, h.LiveHandler(), http.MethodGet)
	if n := db.calls.Load(); n != 0 {
		t.Errorf("checker called %d times by the liveness probe, want 0", n)
	}
}

func TestReadySkipsDatabaseWhenNotReady(t *testing.T) {
	db := &counter{}
	h := health.New(health.Options{Database: db})
	serve(t, h.ReadyHandler(), http.MethodGet)
	h.SetReady(true)
	h.SetShuttingDown()
	serve(t, h.ReadyHandler(), http.MethodGet)
	if n := db.calls.Load(); n != 0 {
		t.Errorf("checker called %d times, want 0", n)
	}
}

func TestFlagsAreLive(t *testing.T) {
	clk := newClock()
	h := health.New(health.Options{Database: dbOK, Now: clk.Now})

	steps := []struct {
		do   func()
		want string
	}{
		{func() {}, "unhealthy"},
		{func() { h.SetReady(true) }, "healthy"}, // within CacheFor: DB result reused, flag read live
		{func() { h.SetReady(false) }, "unhealthy"},
		{func() { h.SetReady(true) }, "healthy"},
		{func() { h.SetShuttingDown() }, "unhealthy"},
		{func() { h.SetReady(true) }, "unhealthy"}, // shutdown is irreversible
	}
	for i, s := range steps {
		s.do()
		if got := h.Report(t.Context()).Status; got != s.want {
			t.Errorf("step %d: status %s, want %s", i, got, s.want)
		}
	}
}

func TestConfigReloadFields(t *testing.T) {
	type step struct {
		ok      bool // ConfigReloaded, else ConfigReloadFailed
		changed bool
		msg     string
	}
	reloadAt := time.Date(2025, 3, 1, 12, 0, 5, 0, time.UTC)
	tests := []struct {
		name      string
		steps     []step
		wantCount float64
		wantLast  any
		wantErr   any
	}{
		{name: "none", wantCount: 0, wantLast: nil, wantErr: nil},
		{name: "no change does not count", steps: []step{{ok: true}}, wantCount: 0, wantLast: nil, wantErr: nil},
		{name: "change counts", steps: []step{{ok: true, changed: true}, {ok: true}}, wantCount: 1,
			wantLast: reloadAt.Format(time.RFC3339), wantErr: nil},
		{name: "failure kept", steps: []step{{ok: true, changed: true}, {msg: "/etc/vpo/config.toml:3: bad"}}, wantCount: 1,
			wantLast: reloadAt.Format(time.RFC3339), wantErr: "/etc/vpo/config.toml:3: bad"},
		{name: "success clears failure", steps: []step{{msg: "x"}, {ok: true}}, wantCount: 0, wantLast: nil, wantErr: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			h := health.New(health.Options{Database: dbOK, Now: clk.Now})
			h.SetReady(true)
			clk.Advance(5 * time.Second)
			for _, s := range tt.steps {
				if s.ok {
					h.ConfigReloaded(s.changed)
				} else {
					h.ConfigReloadFailed(s.msg)
				}
			}
			_, body := serve(t, h.HealthHandler(), http.MethodGet)
			if got := body["config_reload_count"]; got != tt.wantCount {
				t.Errorf("config_reload_count = %#v, want %v", got, tt.wantCount)
			}
			if got := body["last_config_reload"]; got != tt.wantLast {
				t.Errorf("last_config_reload = %#v, want %#v", got, tt.wantLast)
			}
			if got := body["config_reload_error"]; got != tt.wantErr {
				t.Errorf("config_reload_error = %#v, want %#v", got, tt.wantErr)
			}
		})
	}
}
