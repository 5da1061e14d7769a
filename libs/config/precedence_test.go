package config_test

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/vpo-project/vpo/libs/config"
)

// layered describes one key with a distinct value per layer. The env and
// flag values are raw strings; want* are the expected values as rendered by
// get.
type layered struct {
	key      string
	env      string
	flag     string
	get      func(config.Config) string
	wantEnv  string
	wantFile string // as set by testdata/precedence.toml
	wantFlag string
}

var layeredKeys = []layered{
	{"server.bind", "10.0.0.1", "10.0.0.3", func(c config.Config) string { return c.Server.Bind }, "10.0.0.1", "10.0.0.2", "10.0.0.3"},
	{"server.port", "9001", "9003", func(c config.Config) string { return strconv.Itoa(c.Server.Port) }, "9001", "9002", "9003"},
	{"server.shutdown_timeout", "60", "3m", func(c config.Config) string { return c.Server.ShutdownTimeout.String() }, "1m0s", "2m0s", "3m0s"},
	{"server.auth_token", "env-token-0123456789", "flag-token-0123456789", func(c config.Config) string { return c.Server.AuthToken }, "env-token-0123456789", "file-token-0123456789", "flag-token-0123456789"},
	{"server.allowed_hosts", "env.example, 10.0.0.1", "Flag.Example.", func(c config.Config) string { return strings.Join(c.Server.AllowedHosts, ",") }, "env.example,10.0.0.1", "file.example,::1", "flag.example"},
	{"server.max_event_streams", "11", "13", func(c config.Config) string { return strconv.Itoa(c.Server.MaxEventStreams) }, "11", "12", "13"},
	{"logging.level", "debug", "ERROR", func(c config.Config) string { return c.Logging.Level }, "debug", "warning", "error"},
	{"logging.format", "json", "json", func(c config.Config) string { return c.Logging.Format }, "json", "text", "json"},
	{"database.path", "/env/library.db", "/flag/library.db", func(c config.Config) string { return c.Database.Path }, "/env/library.db", "/file/library.db", "/flag/library.db"},
	{"database.url", "postgres://env@db/vpo", "postgres://flag@db/vpo", func(c config.Config) string { return c.Database.URL }, "postgres://env@db/vpo", "postgres://file@db/vpo", "postgres://flag@db/vpo"},
	{"node.name", "env-node", "flag-node", func(c config.Config) string { return c.Node.Name }, "env-node", "file-node", "flag-node"},
	{"jobs.tags", "gpu,b", "x", func(c config.Config) string { return strings.Join(c.Jobs.Tags, ",") }, "b,gpu", "file", "x"},
	{"jobs.workers", "11", "13", func(c config.Config) string { return strconv.Itoa(c.Jobs.Workers) }, "11", "12", "13"},
	{"jobs.lease_duration", "11s", "13", func(c config.Config) string { return c.Jobs.LeaseDuration.String() }, "11s", "12s", "13s"},
	{"jobs.retention_days", "11", "13", func(c config.Config) string { return strconv.Itoa(c.Jobs.RetentionDays) }, "11", "12", "13"},
	{"jobs.stall_timeout", "11m", "0s", func(c config.Config) string { return c.Jobs.StallTimeout.String() }, "11m0s", "12m0s", "0s"},
	{"jobs.stall_timeouts", "transcode=11m", "scan=13s, transcode=0", func(c config.Config) string { return kindTable(c.Jobs.StallTimeouts) }, "transcode=11m0s", "scan=0s,transcode=12m0s", "scan=13s,transcode=0s"},
	{"jobs.limits", "transcode=1,scan=11", "test.sleep=13", func(c config.Config) string { return kindTable(c.Jobs.Limits) }, "scan=11,transcode=1", "test.sleep=12,transcode=2", "test.sleep=13"},
	{"jobs.nice", "11", "13", func(c config.Config) string { return strconv.Itoa(c.Jobs.Nice) }, "11", "12", "13"},
	{"jobs.schedule", "01:00-02:00", "05:00-06:00,22:00-23:00", func(c config.Config) string { return c.Jobs.Schedule.String() }, "01:00-02:00", "03:00-04:00", "05:00-06:00, 22:00-23:00"},
	{"jobs.scheduled_kinds", "apply", "scan, apply,scan", func(c config.Config) string { return strings.Join(c.Jobs.ScheduledKinds, ",") }, "apply", "transcode", "scan,apply"},
	{"jobs.test_kinds", "true", "1", func(c config.Config) string { return strconv.FormatBool(c.Jobs.TestKinds) }, "true", "false", "true"},
	{"policies.dir", "/env/policies", "/flag/policies", func(c config.Config) string { return c.Policies.Dir }, "/env/policies", "/file/policies", "/flag/policies"},
	{"policies.keep_original", "true", "1", func(c config.Config) string { return strconv.FormatBool(c.Policies.KeepOriginal) }, "true", "false", "true"},
	{"policies.min_file_age", "0s", "3m", func(c config.Config) string { return c.Policies.MinFileAge.String() }, "0s", "2m0s", "3m0s"},
	{"policies.require_approval", "true", "1", func(c config.Config) string { return strconv.FormatBool(c.Policies.RequireApproval) }, "true", "false", "true"},
}

// kindTable renders a per-kind table as "kind=value,..." in kind order.
func kindTable[V any](m map[string]V) string {
	parts := make([]string, 0, len(m))
	for k, v := range m {
		parts = append(parts, fmt.Sprintf("%s=%v", k, v))
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

func envName(t *testing.T, key string) string {
	t.Helper()
	for _, k := range config.Keys() {
		if k.Name == key {
			return k.Env
		}
	}
	t.Fatalf("no key %s", key)
	return ""
}

func TestPrecedence(t *testing.T) {
	tests := []struct {
		name             string
		env, file, flags bool
		want             config.Source
	}{
		{"default only", false, false, false, config.SourceDefault},
		{"env only", true, false, false, config.SourceEnv},
		{"file only", false, true, false, config.SourceFile},
		{"flag only", false, false, true, config.SourceFlag},
		{"env and file: file wins", true, true, false, config.SourceFile},
		{"file and flag: flag wins", false, true, true, config.SourceFlag},
		{"env and flag: flag wins", true, false, true, config.SourceFlag},
		{"all three: flag wins", true, true, true, config.SourceFlag},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := hermetic(t, config.Options{})
			opts.Flags = map[string]string{}
			for _, k := range layeredKeys {
				if tt.env {
					opts.Env = append(opts.Env, envName(t, k.key)+"="+k.env)
				}
				if tt.flags {
					opts.Flags[k.key] = k.flag
				}
			}
			if tt.file {
				opts.ExplicitPath = fixture("precedence.toml")
			}
			l, err := config.Load(opts)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			defaults := config.Defaults(opts)
			for _, k := range layeredKeys {
				want := map[config.Source]string{
					config.SourceDefault: k.get(defaults),
					config.SourceEnv:     k.wantEnv,
					config.SourceFile:    k.wantFile,
					config.SourceFlag:    k.wantFlag,
				}[tt.want]
				if got := k.get(l.Config); got != want {
					t.Errorf("%s = %q, want %q", k.key, got, want)
				}
				if got := l.Sources[k.key]; got != tt.want {
					t.Errorf("Sources[%s] = %q, want %q", k.key, got, tt.want)
				}
			}
			if len(l.Sources) != len(config.Keys()) {
				t.Errorf("Sources has %d keys, want %d", len(l.Sources), len(config.Keys()))
			}
		})
	}
}

// TestPrecedenceCoversAllKeys keeps the table above in step with Keys.
func TestPrecedenceCoversAllKeys(t *testing.T) {
	covered := map[string]bool{}
	for _, k := range layeredKeys {
		covered[k.key] = true
	}
	for _, k := range config.Keys() {
		if k.Env == "" {
			continue // the libraries: only in the file
		}
		if !covered[k.Name] {
			t.Errorf("key %s missing from the precedence table", k.Name)
		}
	}
}

func TestFlagNamesAsFlagKeys(t *testing.T) {
	opts := hermetic(t, config.Options{Flags: map[string]string{"--port": "9999", "--log-level": "warn"}})
	l, err := config.Load(opts)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if l.Config.Server.Port != 9999 || l.Config.Logging.Level != "warning" {
		t.Errorf("got port %d level %q", l.Config.Server.Port, l.Config.Logging.Level)
	}
	if l.Sources["server.port"] != config.SourceFlag {
		t.Errorf("Sources[server.port] = %q", l.Sources["server.port"])
	}
}

func TestEnvOverriddenByFileWarns(t *testing.T) {
	opts := hermetic(t, config.Options{
		ExplicitPath: fixture("precedence.toml"),
		Env:          []string{"VPO_SERVER_PORT=9001"},
	})
	l, err := config.Load(opts)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if !containsAll(l.Warnings, "VPO_SERVER_PORT", "server.port", "precedence.toml:4") {
		t.Errorf("Warnings = %q, want one about VPO_SERVER_PORT being overridden at line 4", l.Warnings)
	}
}
