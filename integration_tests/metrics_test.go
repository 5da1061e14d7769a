package integration_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape fetches /metrics (with token when not empty) and parses it with
// Prometheus' own text parser.
func (d *daemon) scrape(token string) map[string]*dto.MetricFamily {
	d.t.Helper()
	req, err := http.NewRequest(http.MethodGet, d.url("/metrics"), nil)
	if err != nil {
		d.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		d.t.Fatalf("/metrics: %d", resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		d.t.Fatalf("/metrics does not parse: %v", err)
	}
	return fams
}

// value returns the value of the series of family name whose labels
// include labels (0 when there is none).
func value(fams map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	f := fams[name]
	if f == nil {
		return 0
	}
	total := 0.0
	for _, m := range f.GetMetric() {
		match := 0
		for _, l := range m.GetLabel() {
			if v, ok := labels[l.GetName()]; ok && v == l.GetValue() {
				match++
			}
		}
		if match != len(labels) {
			continue
		}
		switch {
		case m.Counter != nil:
			total += m.Counter.GetValue()
		case m.Gauge != nil:
			total += m.Gauge.GetValue()
		case m.Histogram != nil:
			total += float64(m.Histogram.GetSampleCount())
		}
	}
	return total
}

// TestMetricsMoveWithWork: a scrape during a workload of scans shows the
// counters moving as they should, HTTP requests by route pattern (never
// by raw path), and it parses with Prometheus' text parser; with a token
// set, /metrics wants it.
func TestMetricsMoveWithWork(t *testing.T) {
	const token = "metrics-token-0123456789"
	d := start(t, startOpts{wait: true, env: []string{"VPO_AUTH_TOKEN=" + token}})
	media := filepath.Join(d.dir, "media")
	if err := os.MkdirAll(media, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := os.WriteFile(filepath.Join(media, fmt.Sprintf("f%d.mkv", i)), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	before := d.scrape(token)
	if code, _, _ := d.call(http.MethodGet, "/metrics", "", ""); code != http.StatusUnauthorized {
		t.Errorf("/metrics without the token: %d, want 401", code)
	}
	const scans = 4
	var ids []string
	for range scans {
		body, _ := json.Marshal(map[string]any{"kind": "scan", "payload": map[string]string{"path": media}})
		code, _, b := d.call(http.MethodPost, "/api/jobs", string(body), token)
		var j struct{ ID string }
		if code != http.StatusCreated || json.Unmarshal(b, &j) != nil {
			t.Fatalf("submit: %d %s", code, b)
		}
		ids = append(ids, j.ID)
	}
	for _, id := range ids {
		deadline := time.Now().Add(30 * time.Second)
		for {
			code, _, b := d.call(http.MethodGet, "/api/jobs/"+id, "", token)
			var j struct{ Status string }
			if code == http.StatusOK && json.Unmarshal(b, &j) == nil && j.Status == "completed" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("job %s not completed: %s", id, b)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	d.call(http.MethodGet, "/no/such/path/12345", "", token)
	after := d.scrape(token)
	moved := func(name string, labels map[string]string) float64 {
		return value(after, name, labels) - value(before, name, labels)
	}
	scan := map[string]string{"kind": "scan"}
	checks := []struct {
		what string
		got  float64
		want float64
	}{
		{"claims of scans", moved("vpo_job_claims_total", scan), scans},
		{"completed scan runs", moved("vpo_job_duration_seconds", map[string]string{"kind": "scan", "outcome": "completed"}), scans},
		{"completed scan jobs stored", value(after, "vpo_jobs", map[string]string{"kind": "scan", "status": "completed"}), scans},
		{"scans finished", moved("vpo_scans_total", nil), scans},
		{"new files seen by the first scan", moved("vpo_scan_files_total", map[string]string{"result": "new"}), 3},
		{"bytes of those new files (1 each)", moved("vpo_scan_bytes_total", nil), 3},
		{"submissions by route", moved("vpo_http_requests_total", map[string]string{"route": "/api/jobs", "method": "POST", "code": "201"}), scans},
		{"polls by route pattern", moved("vpo_http_requests_total", map[string]string{"route": "/api/jobs/{id}", "method": "GET"}), -1},
		{"unmatched paths", moved("vpo_http_requests_total", map[string]string{"route": "unmatched", "code": "404"}), 1},
		{"database checks", value(after, "vpo_database_check_duration_seconds", nil), -1},
		{"build info", value(after, "vpo_build_info", nil), 1},
	}
	for _, c := range checks {
		if (c.want < 0 && c.got < 1) || (c.want >= 0 && c.got != c.want) {
			t.Errorf("%s: %v, want %v", c.what, c.got, c.want)
		}
	}
	for _, f := range after["vpo_http_requests_total"].GetMetric() {
		for _, l := range f.GetLabel() {
			if l.GetName() == "route" && (l.GetValue() == "/no/such/path/12345" || len(l.GetValue()) > 40) {
				t.Errorf("a raw path as route label: %q", l.GetValue())
			}
		}
	}
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes"} {
		if after[name] == nil {
			t.Errorf("no %s: Go and process collectors missing", name)
		}
	}
}
