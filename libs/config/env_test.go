package config_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/vpo-project/vpo/libs/config"
)

func TestEnvErrors(t *testing.T) {
	tests := []struct {
		env  string
		name string
		key  string
		msg  string
	}{
		{"VPO_SERVER_PORT=abc", "VPO_SERVER_PORT", "server.port", "not an integer"},
		{"VPO_SERVER_PORT=70000", "VPO_SERVER_PORT", "server.port", "between 1 and 65535"},
		{"VPO_SERVER_BIND=example.com", "VPO_SERVER_BIND", "server.bind", "IP address"},
		{"VPO_SERVER_SHUTDOWN_TIMEOUT=-3", "VPO_SERVER_SHUTDOWN_TIMEOUT", "server.shutdown_timeout", "greater than zero"},
		{"VPO_SERVER_SHUTDOWN_TIMEOUT=0s", "VPO_SERVER_SHUTDOWN_TIMEOUT", "server.shutdown_timeout", "greater than zero"},
		{"VPO_SERVER_SHUTDOWN_TIMEOUT=soon", "VPO_SERVER_SHUTDOWN_TIMEOUT", "server.shutdown_timeout", "not a duration"},
		{"VPO_LOG_LEVEL=loud", "VPO_LOG_LEVEL", "logging.level", "must be one of debug, info, warning, error"},
		{"VPO_LOG_FORMAT=xml", "VPO_LOG_FORMAT", "logging.format", "text, json"},
		{"VPO_JOBS_WORKERS=0", "VPO_JOBS_WORKERS", "jobs.workers", "between 1 and 256"},
		{"VPO_JOBS_WORKERS=257", "VPO_JOBS_WORKERS", "jobs.workers", "between 1 and 256"},
		{"VPO_JOBS_LEASE_DURATION=500ms", "VPO_JOBS_LEASE_DURATION", "jobs.lease_duration", "between 1s and 1h"},
		{"VPO_JOBS_LEASE_DURATION=2h", "VPO_JOBS_LEASE_DURATION", "jobs.lease_duration", "between 1s and 1h"},
		{"VPO_JOBS_RETENTION_DAYS=-1", "VPO_JOBS_RETENTION_DAYS", "jobs.retention_days", "between 0 and 36500"},
		{"VPO_JOBS_RETENTION_DAYS=36501", "VPO_JOBS_RETENTION_DAYS", "jobs.retention_days", "between 0 and 36500"},
		{"VPO_JOBS_RETENTION_DAYS=month", "VPO_JOBS_RETENTION_DAYS", "jobs.retention_days", "not an integer"},
		{"VPO_JOBS_TEST_KINDS=maybe", "VPO_JOBS_TEST_KINDS", "jobs.test_kinds", "not a boolean"},
		{"VPO_JOBS_STALL_TIMEOUT=-1s", "VPO_JOBS_STALL_TIMEOUT", "jobs.stall_timeout", "must not be negative: 0s (off) or between 1s and 24h"},
		{"VPO_JOBS_STALL_TIMEOUT=25h", "VPO_JOBS_STALL_TIMEOUT", "jobs.stall_timeout", "must be 0s (off) or between 1s and 24h"},
		{"VPO_JOBS_STALL_TIMEOUT=1ns", "VPO_JOBS_STALL_TIMEOUT", "jobs.stall_timeout", "must be 0s (off) or between 1s and 24h"},
		{"VPO_JOBS_STALL_TIMEOUTS=scan=999ms", "VPO_JOBS_STALL_TIMEOUTS", "jobs.stall_timeouts", `"scan": must be 0s (off) or between 1s and 24h`},
		{"VPO_JOBS_STALL_TIMEOUTS=transcode", "VPO_JOBS_STALL_TIMEOUTS", "jobs.stall_timeouts", `entry "transcode" is not kind=value`},
		{"VPO_JOBS_STALL_TIMEOUTS=transcode=soon", "VPO_JOBS_STALL_TIMEOUTS", "jobs.stall_timeouts", `"transcode": not a duration`},
		{"VPO_JOBS_STALL_TIMEOUTS=scan=1m,scan=2m", "VPO_JOBS_STALL_TIMEOUTS", "jobs.stall_timeouts", `"scan": set twice`},
		{"VPO_JOBS_LIMITS=transcode=0", "VPO_JOBS_LIMITS", "jobs.limits", `"transcode": must be between 1 and 256`},
		{"VPO_JOBS_LIMITS=trans-code=1", "VPO_JOBS_LIMITS", "jobs.limits", `"trans-code": job kind names`},
		{"VPO_JOBS_LIMITS==1", "VPO_JOBS_LIMITS", "jobs.limits", `"": job kind names`},
		{"VPO_JOBS_NICE=-1", "VPO_JOBS_NICE", "jobs.nice", "between 0 and 19"},
		{"VPO_AUTH_TOKEN=short", "VPO_AUTH_TOKEN", "server.auth_token", "at least 16 characters"},
		{"VPO_AUTH_TOKEN=abcdefghijklmnopq ", "VPO_AUTH_TOKEN", "server.auth_token", "visible ASCII"},
		{"VPO_AUTH_TOKEN=abcdefgh\tijklmnopq", "VPO_AUTH_TOKEN", "server.auth_token", "visible ASCII"},
		{"VPO_AUTH_TOKEN=abcdefghijklmnopqé", "VPO_AUTH_TOKEN", "server.auth_token", "visible ASCII"},
	}
	for _, tt := range tests {
		t.Run(tt.env, func(t *testing.T) {
			_, err := config.Load(hermetic(t, config.Options{Env: []string{tt.env}}))
			var ce *config.Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %v is not a *config.Error", err)
			}
			if ce.Source != config.SourceEnv || ce.Name != tt.name || ce.Key != tt.key || !strings.Contains(ce.Msg, tt.msg) {
				t.Errorf("got %#v, want env %s key %s msg containing %q", ce, tt.name, tt.key, tt.msg)
			}
			if !strings.HasPrefix(err.Error(), "environment "+tt.name+"=") || !strings.Contains(err.Error(), tt.key) {
				t.Errorf("message %q does not name %s and %s", err, tt.name, tt.key)
			}
		})
	}
}

func TestEnvErrorMessageFormat(t *testing.T) {
	_, err := config.Load(hermetic(t, config.Options{Env: []string{"VPO_SERVER_PORT=abc"}}))
	want := `environment VPO_SERVER_PORT="abc": server.port: not an integer`
	if err == nil || err.Error() != want {
		t.Errorf("error = %v, want %s", err, want)
	}
}

func TestFlagErrorMessageFormat(t *testing.T) {
	_, err := config.Load(hermetic(t, config.Options{Flags: map[string]string{"logging.level": "loud"}}))
	want := `flag --log-level="loud": logging.level: must be one of debug, info, warning, error`
	if err == nil || err.Error() != want {
		t.Errorf("error = %v, want %s", err, want)
	}
	var ce *config.Error
	if !errors.As(err, &ce) || ce.Source != config.SourceFlag || ce.Name != "--log-level" || ce.Value != "loud" {
		t.Errorf("got %#v", ce)
	}
}

func TestUnknownFlagKey(t *testing.T) {
	_, err := config.Load(hermetic(t, config.Options{Flags: map[string]string{"server.prot": "1"}}))
	if err == nil || !strings.Contains(err.Error(), "server.prot") {
		t.Errorf("error = %v, want one naming server.prot", err)
	}
}

func TestEnvValues(t *testing.T) {
	tests := []struct {
		env  []string
		want func(config.Config) bool
	}{
		{[]string{"VPO_LOG_LEVEL=warn"}, func(c config.Config) bool { return c.Logging.Level == "warning" }},
		{[]string{"VPO_SERVER_SHUTDOWN_TIMEOUT=90"}, func(c config.Config) bool { return c.Server.ShutdownTimeout.String() == "1m30s" }},
		{[]string{"VPO_SERVER_SHUTDOWN_TIMEOUT=1m30s"}, func(c config.Config) bool { return c.Server.ShutdownTimeout.String() == "1m30s" }},
		{[]string{"VPO_SERVER_BIND=::1"}, func(c config.Config) bool { return c.Addr() == "[::1]:8321" }},
		{[]string{"VPO_SERVER_BIND=localhost"}, func(c config.Config) bool { return c.Addr() == "localhost:8321" }},
		// The first occurrence wins, as with os.Getenv; empty means unset.
		{[]string{"VPO_SERVER_PORT=1", "VPO_SERVER_PORT=2"}, func(c config.Config) bool { return c.Server.Port == 1 }},
		{[]string{"VPO_SERVER_PORT="}, func(c config.Config) bool { return c.Server.Port == 8321 }},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.env, ","), func(t *testing.T) {
			l, err := config.Load(hermetic(t, config.Options{Env: tt.env}))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if !tt.want(l.Config) {
				t.Errorf("unexpected config %+v", l.Config)
			}
		})
	}
}

func TestUnknownEnvIsAWarning(t *testing.T) {
	l, err := config.Load(hermetic(t, config.Options{Env: []string{
		"VPO_SERVER_PROT=9000", "VPO_CONFIG_PATH=", "VPO_LOG_LEVEL=debug", "HOME=/root", "XVPO_THING=1",
	}}))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if len(l.Warnings) != 1 || !containsAll(l.Warnings, "VPO_SERVER_PROT", "VPO_SERVER_PORT") {
		t.Errorf("Warnings = %q, want exactly one about VPO_SERVER_PROT", l.Warnings)
	}
}

// TestTestKnobsAreNotWarnedAbout: VPO_TEST_* variables are knobs of vpo's
// own tests, read by the daemon; other unknown VPO_* variables are warned
// about.
func TestTestKnobsAreNotWarnedAbout(t *testing.T) {
	l, err := config.Load(hermetic(t, config.Options{Env: []string{"VPO_TEST_WATCH_LIMIT=3", "VPO_WORKERZ=2"}}))
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Warnings) != 1 || !strings.Contains(l.Warnings[0], "VPO_WORKERZ") {
		t.Errorf("warnings %q, want exactly one, about VPO_WORKERZ", l.Warnings)
	}
}
