package health

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"
)

// Values of Report.Status.
const (
	StatusHealthy   = "healthy"
	StatusDegraded  = "degraded"
	StatusUnhealthy = "unhealthy"
)

// Values of Report.Database.
const (
	DatabaseConnected    = "connected"
	DatabaseDisconnected = "disconnected"
)

// Report is the state of the daemon as served at /health.
type Report struct {
	// Status is healthy, degraded (the database check fails) or unhealthy
	// (starting, not ready or shutting down).
	Status string `json:"status"`
	// Database is connected or disconnected.
	Database      string  `json:"database"`
	UptimeSeconds float64 `json:"uptime_seconds"`
	Version       string  `json:"version"`
	ShuttingDown  bool    `json:"shutting_down"`
	// Ready is true when the readiness probe would answer 200.
	Ready bool `json:"ready"`
	// ConfigReloadCount counts the configuration reloads that changed
	// something (a reload that found nothing to change does not count).
	ConfigReloadCount int `json:"config_reload_count"`
	// LastConfigReload is when the last counted reload happened (UTC), or
	// nil before the first.
	LastConfigReload *time.Time `json:"last_config_reload"`
	// ConfigReloadError is why the last reload failed, or nil when the
	// last reload succeeded (or none failed).
	ConfigReloadError *string `json:"config_reload_error"`
	// Extra holds the fields from Options.Stats. They are merged into the
	// top level of the JSON document; they cannot replace the fields above.
	Extra map[string]any `json:"-"`
}

// HTTPStatus is the status code that goes with the report: 200 when
// healthy, 503 otherwise.
func (r Report) HTTPStatus() int {
	if r.Status == StatusHealthy {
		return http.StatusOK
	}
	return http.StatusServiceUnavailable
}

// MarshalJSON encodes the fixed fields first, then the Extra fields that do
// not collide with them, sorted by key.
func (r Report) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	if err := r.encode(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// encode appends what MarshalJSON returns to buf, through one encoder (the
// health handler calls it directly: json.Marshal of a Report would check
// and compact the whole document again, which cost /health a tenth of its
// time under load).
func (r Report) encode(buf *bytes.Buffer) error {
	enc := json.NewEncoder(buf) // escapes <, > and & as json.Marshal does
	// put encodes v and drops the newline Encode adds.
	put := func(v any) error {
		if err := enc.Encode(v); err != nil {
			return err
		}
		buf.Truncate(buf.Len() - 1)
		return nil
	}
	buf.Write(appendFixed(buf.AvailableBuffer(), r))
	buf.WriteByte('}')
	keys := make([]string, 0, len(r.Extra))
	for k := range r.Extra {
		if !isReportField(k) {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	slices.Sort(keys)
	buf.Truncate(buf.Len() - 1) // drop the closing brace
	for _, k := range keys {
		buf.WriteByte(',')
		if err := put(k); err != nil {
			return fmt.Errorf("encode health report field %q: %w", k, err)
		}
		buf.WriteByte(':')
		if err := put(r.Extra[k]); err != nil {
			return fmt.Errorf("encode health report field %q: %w", k, err)
		}
	}
	buf.WriteByte('}')
	return nil
}

func isReportField(key string) bool {
	switch key {
	case "status", "database", "uptime_seconds", "version", "shutting_down", "ready",
		"config_reload_count", "last_config_reload", "config_reload_error":
		return true
	default:
		return false
	}
}
