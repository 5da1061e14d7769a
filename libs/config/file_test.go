package config_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/vpo-project/vpo/libs/config"
)

func TestFileErrors(t *testing.T) {
	tests := []struct {
		fixture string
		line    int
		key     string
		value   string
		msg     string // substring of Msg
	}{
		{"syntax_error.toml", 3, "", "", "invalid TOML"},
		{"unknown_key.toml", 5, "server.prot", "", "unknown key in [server] (did you mean server.port?)"},
		{"unknown_section.toml", 4, "serve", "", "unknown section [serve] (did you mean [server]?)"},
		{"top_level_key.toml", 1, "port", "", "belongs in section [server]"},
		{"section_not_table.toml", 1, "server", "8321", "must be a table"},
		{"inline_bad.toml", 3, "server.logging", "", "unknown key"},
		{"wrong_type.toml", 2, "server.port", `"abc"`, "must be an integer, not a string"},
		{"test_kinds_string.toml", 2, "jobs.test_kinds", `"yes"`, "must be true or false"},
		{"port_zero.toml", 2, "server.port", "0", "must be between 1 and 65535"},
		{"port_high.toml", 7, "server.port", "70000", "must be between 1 and 65535"},
		{"multiline.toml", 5, "server.port", "70000", "must be between 1 and 65535"},
		{"negative_timeout.toml", 2, "server.shutdown_timeout", `"-5s"`, "greater than zero"},
		{"long_timeout.toml", 2, "server.shutdown_timeout", "7200", "at most 1h"},
		{"bad_level.toml", 3, "logging.level", `"loud"`, "must be one of debug, info, warning, error"},
		{"bad_format.toml", 2, "logging.format", `"xml"`, "must be one of text, json"},
		{"bad_bind.toml", 2, "server.bind", `"my-host.example"`, "must be an IP address"},
		{"short_token.toml", 2, "server.auth_token", `"********"`, "at least 16 characters"},
		// A bad entry of a per-kind table is reported at its own line.
		{"bad_limit.toml", 6, "jobs.limits.transcode", "0", "must be between 1 and 256"},
		{"quoted_kind_limit.toml", 2, "jobs.limits.test.sleep", "300", "must be between 1 and 256"},
		{"bad_limit_kind.toml", 2, "jobs.limits.Transcode", "1", "job kind names are lower-case identifiers"},
		{"bad_stall_timeouts.toml", 3, "jobs.stall_timeouts.transcode", `"soon"`, "not a duration"},
		{"limits_not_table.toml", 2, "jobs.limits", "3", "must be a table of job kind = value, not an integer"},
		{"long_stall_timeout.toml", 2, "jobs.stall_timeout", `"25h"`, "must be 0s (off) or between 1s and 24h"},
		{"short_stall_timeout.toml", 2, "jobs.stall_timeout", `"1ns"`, "must be 0s (off) or between 1s and 24h"},
		{"short_stall_timeouts.toml", 3, "jobs.stall_timeouts.scan", `"500ms"`, "must be 0s (off) or between 1s and 24h"},
		// An unquoted dotted kind is a nested table in TOML: say how to write it.
		{"unquoted_kind_limit.toml", 5, "jobs.limits.test", "{sleep = 1}",
			`must be an integer, not a table; kind names with a dot must be quoted: "test.sleep" = 1`},
		{"nice_high.toml", 2, "jobs.nice", "20", "must be between 0 and 19"},
		// Files that start with a UTF-8 byte-order mark keep exact lines.
		{"bom_port_line3.toml", 3, "server.port", "70000", "must be between 1 and 65535"},
		{"bom_top_level_key.toml", 1, "port", "", "belongs in section [server]"},
		// Libraries are numbered from 1, each at its own line.
		{"library_inside.toml", 7, "library[2].path", `"/srv/media/movies"`, `inside library[1] (line 3) "/srv/media"`},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			path := fixture(tt.fixture)
			_, err := config.Load(hermetic(t, config.Options{ExplicitPath: path}))
			if err == nil {
				t.Fatal("Load succeeded, want error")
			}
			var ce *config.Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %v (%T) is not a *config.Error", err, err)
			}
			if ce.Source != config.SourceFile || ce.File != path || ce.Line != tt.line ||
				ce.Key != tt.key || ce.Value != tt.value || !strings.Contains(ce.Msg, tt.msg) {
				t.Errorf("got %#v\nwant file %s line %d key %q value %q msg containing %q",
					ce, path, tt.line, tt.key, tt.value, tt.msg)
			}
			text := err.Error()
			wantPrefix := path + ":" + itoa(tt.line) + ":"
			if !strings.HasPrefix(text, wantPrefix) {
				t.Errorf("message %q does not start with %q", text, wantPrefix)
			}
			for _, part := range []string{tt.key, tt.value, tt.msg} {
				if !strings.Contains(text, part) {
					t.Errorf("message %q does not contain %q", text, part)
				}
			}
		})
	}
}

func TestFileErrorMessageFormat(t *testing.T) {
	path := fixture("port_high.toml")
	_, err := config.Load(hermetic(t, config.Options{ExplicitPath: path}))
	want := path + ":7: server.port = 70000: must be between 1 and 65535"
	if err == nil || err.Error() != want {
		t.Errorf("error = %v, want %s", err, want)
	}
}

func TestSyntaxErrorHasColumn(t *testing.T) {
	_, err := config.Load(hermetic(t, config.Options{ExplicitPath: fixture("syntax_error.toml")}))
	var ce *config.Error
	if !errors.As(err, &ce) || ce.Column == 0 {
		t.Fatalf("error %#v, want a column", err)
	}
}

func TestSecretNeverInErrors(t *testing.T) {
	_, err := config.Load(hermetic(t, config.Options{ExplicitPath: fixture("short_token.toml")}))
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error %v leaks the token or is missing", err)
	}
	_, err = config.Load(hermetic(t, config.Options{Env: []string{"VPO_AUTH_TOKEN=s3cret"}}))
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error %v leaks the token or is missing", err)
	}
}

func TestDottedKeysAndInlineTables(t *testing.T) {
	l, err := config.Load(hermetic(t, config.Options{ExplicitPath: fixture("dotted_keys.toml")}))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	c := l.Config
	if c.Server.Port != 9100 || c.Logging.Level != "warning" || c.Logging.Format != "json" || c.Jobs.LeaseDuration.Seconds() != 90 {
		t.Errorf("got %+v", c)
	}
	for key, src := range map[string]config.Source{
		"server.port": config.SourceFile, "logging.level": config.SourceFile,
		"jobs.lease_duration": config.SourceFile, "server.bind": config.SourceDefault,
	} {
		if l.Sources[key] != src {
			t.Errorf("Sources[%s] = %q, want %q", key, l.Sources[key], src)
		}
	}
}

func TestSeveralFileErrorsAllReported(t *testing.T) {
	_, err := config.Load(hermetic(t, config.Options{
		ExplicitPath: fixture("bad_level.toml"),
		Env:          []string{"VPO_SERVER_PORT=abc"},
		Flags:        map[string]string{"logging.format": "xml"},
	}))
	if err == nil {
		t.Fatal("Load succeeded, want errors")
	}
	for _, part := range []string{"VPO_SERVER_PORT", "bad_level.toml:3", "--log-format"} {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("error %q does not mention %q", err, part)
		}
	}
}

// TestBOMFileLoads: a valid file that starts with a UTF-8 byte-order mark
// loads, and its values are traced to their exact lines.
func TestBOMFileLoads(t *testing.T) {
	path := fixture("bom_valid.toml")
	loaded, err := config.Load(hermetic(t, config.Options{ExplicitPath: path}))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if s := loaded.Config.Server; s.Port != 8400 || s.Bind != "::1" {
		t.Fatalf("server = %+v, want port 8400 and bind ::1", s)
	}
	var out strings.Builder
	if err := loaded.Show(&out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"server.port = 8400  # file " + path + ":2",
		`server.bind = "::1"  # file ` + path + ":3",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("show output lacks %q:\n%s", want, out.String())
		}
	}
}
