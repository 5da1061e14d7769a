package health_test

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/vpo-project/vpo/libs/health"
)

// mirror has the fixed fields of health.Report without its MarshalJSON:
// encoding/json writes it by reflection, the reference for the
// hand-written encoder.
type mirror struct {
	Status            string     `json:"status"`
	Database          string     `json:"database"`
	UptimeSeconds     float64    `json:"uptime_seconds"`
	Version           string     `json:"version"`
	ShuttingDown      bool       `json:"shutting_down"`
	Ready             bool       `json:"ready"`
	ConfigReloadCount int        `json:"config_reload_count"`
	LastConfigReload  *time.Time `json:"last_config_reload"`
	ConfigReloadError *string    `json:"config_reload_error"`
}

func checkSame(t *testing.T, r health.Report) {
	t.Helper()
	// The handler writes these bytes as they are (json.Marshal of the
	// report would escape them again: not what is served).
	got := append(health.AppendFixed(nil, r), '}')
	want, err := json.Marshal(mirror{r.Status, r.Database, r.UptimeSeconds, r.Version, r.ShuttingDown, r.Ready,
		r.ConfigReloadCount, r.LastConfigReload, r.ConfigReloadError})
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("hand-written:\n%s\nencoding/json:\n%s", got, want)
	}
}

// TestFixedFieldsAsEncodingJSON: the hand-written fixed fields are byte
// for byte what encoding/json writes: every escape, floats small and
// large, times, nulls.
func TestFixedFieldsAsEncodingJSON(t *testing.T) {
	var all strings.Builder
	for c := range 0x80 {
		all.WriteByte(byte(c))
	}
	strs := []string{"", "healthy", all.String(), "a\u2028b\u2029c", "bad \xff\xfe utf-8 \xe2\x82", "é漢字🎬", "<script>&amp;</script>",
		`quote " backslash \ slash /`, "\x7f\u0080\ufffd"}
	floats := []float64{0, 1.5, 1e-7, 1.234e-9, 5e-324, 1e21, 123456789.123456789, 1e20, 0.000001, math.MaxFloat64, 86400.000123}
	when := time.Date(2026, 12, 2, 13, 45, 6, 789000000, time.UTC)
	zone := time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 5*3600+1800))
	for i, s := range strs {
		msg := s
		r := health.Report{Status: s, Database: strs[(i+1)%len(strs)], Version: strs[(i+2)%len(strs)],
			UptimeSeconds: floats[i%len(floats)], ShuttingDown: i%2 == 0, Ready: i%3 == 0, ConfigReloadCount: i * 1000,
			ConfigReloadError: &msg, LastConfigReload: &when}
		checkSame(t, r)
		r.ConfigReloadError, r.LastConfigReload = nil, &zone
		checkSame(t, r)
	}
	for _, f := range floats {
		checkSame(t, health.Report{UptimeSeconds: f})
		checkSame(t, health.Report{UptimeSeconds: -f})
	}
}
