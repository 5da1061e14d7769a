package config_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/vpo-project/vpo/libs/config"
)

func TestShow(t *testing.T) {
	const token = "super-secret-token-0123"
	opts := hermetic(t, config.Options{
		ExplicitPath: fixture("port_zero.toml"),
		Env:          []string{"VPO_AUTH_TOKEN=" + token, "VPO_LOG_LEVEL=debug"},
		Flags:        map[string]string{"logging.format": "json"},
	})
	opts.ExplicitPath = writeTemp(t, "[server]\nbind = \"0.0.0.0\"\n\n[jobs]\nworkers = 3\n")
	l, err := config.Load(opts)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	var b strings.Builder
	if err := l.Show(&b); err != nil {
		t.Fatalf("Show: %v", err)
	}
	out := b.String()
	if strings.Contains(out, token) {
		t.Errorf("Show leaks the auth token:\n%s", out)
	}
	first, _, _ := strings.Cut(out, "\n")
	if !strings.Contains(first, opts.ExplicitPath) {
		t.Errorf("first line %q does not name the file", first)
	}
	for _, line := range []string{
		`server.bind = "0.0.0.0"  # file ` + opts.ExplicitPath + ":2",
		`server.port = 8321  # default`,
		`server.shutdown_timeout = "30s"  # default`,
		`server.auth_token = "********"  # env VPO_AUTH_TOKEN`,
		`logging.level = "debug"  # env VPO_LOG_LEVEL`,
		`logging.format = "json"  # flag --log-format`,
		`jobs.workers = 3  # file ` + opts.ExplicitPath + ":5",
		`jobs.test_kinds = false  # default`,
	} {
		if !strings.Contains(out, line+"\n") {
			t.Errorf("Show output lacks %q:\n%s", line, out)
		}
	}
	for _, k := range config.Keys() {
		if !strings.Contains(out, "\n"+k.Name+" = ") {
			t.Errorf("Show output lacks %s", k.Name)
		}
	}
}

func TestShowWithoutFile(t *testing.T) {
	l, err := config.Load(hermetic(t, config.Options{}))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	var b strings.Builder
	if err := l.Show(&b); err != nil {
		t.Fatalf("Show: %v", err)
	}
	if first, _, _ := strings.Cut(b.String(), "\n"); !strings.Contains(first, "(no config file)") {
		t.Errorf("first line %q, want (no config file)", first)
	}
	if !strings.Contains(b.String(), `server.auth_token = ""  # default`) {
		t.Errorf("empty token should show as empty:\n%s", b.String())
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestShowWriteError(t *testing.T) {
	l, err := config.Load(hermetic(t, config.Options{}))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if err := l.Show(failingWriter{}); err == nil {
		t.Error("Show ignored a write error")
	}
}

// TestShowKindTablesRoundTrip: the per-kind tables show as inline tables
// (the line of the table's header as their origin) that load back to the
// same values.
func TestShowKindTablesRoundTrip(t *testing.T) {
	path := writeTemp(t, "[jobs]\nstall_timeout = \"0s\"\n\n[jobs.limits]\ntranscode = 1\n\"test.sleep\" = 2\n\n[jobs.stall_timeouts]\ntranscode = \"30m\"\n")
	l, err := config.Load(hermetic(t, config.Options{ExplicitPath: path, Env: []string{"VPO_JOBS_NICE=15"}}))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	var b strings.Builder
	if err := l.Show(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, line := range []string{
		`jobs.stall_timeout = "0s"  # file ` + path + ":2",
		`jobs.limits = { "test.sleep" = 2, transcode = 1 }  # file ` + path + ":4",
		`jobs.stall_timeouts = { transcode = "30m" }  # file ` + path + ":8",
		`jobs.nice = 15  # env VPO_JOBS_NICE`,
	} {
		if !strings.Contains(out, line+"\n") {
			t.Errorf("Show output lacks %q:\n%s", line, out)
		}
	}
	var shown strings.Builder
	for line := range strings.SplitSeq(out, "\n") {
		if strings.HasPrefix(line, "jobs.limits") || strings.HasPrefix(line, "jobs.stall_timeouts") {
			shown.WriteString(line + "\n")
		}
	}
	again, err := config.Load(hermetic(t, config.Options{ExplicitPath: writeTemp(t, shown.String())}))
	if err != nil {
		t.Fatalf("loading the shown tables: %v\n%s", err, shown.String())
	}
	if fmt.Sprint(again.Config.Jobs.Limits) != fmt.Sprint(l.Config.Jobs.Limits) ||
		fmt.Sprint(again.Config.Jobs.StallTimeouts) != fmt.Sprint(l.Config.Jobs.StallTimeouts) {
		t.Errorf("round trip: limits %v, stall timeouts %v; want %v, %v", again.Config.Jobs.Limits,
			again.Config.Jobs.StallTimeouts, l.Config.Jobs.Limits, l.Config.Jobs.StallTimeouts)
	}
}
