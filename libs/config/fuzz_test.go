package config_test

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vpo-project/vpo/libs/config"
)

// leafErrors flattens errors.Join trees.
func leafErrors(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, leafErrors(e)...)
		}
		return out
	}
	return []error{err}
}

// checkRejection asserts that err is made of *config.Error values that say
// where the problem is (via where) and what it is.
func checkRejection(t *testing.T, err error, where func(*config.Error) string) {
	t.Helper()
	for _, leaf := range leafErrors(err) {
		var ce *config.Error
		if !errors.As(leaf, &ce) {
			t.Fatalf("rejection is %T %q, want *config.Error", leaf, leaf)
		}
		if ce.Msg == "" {
			t.Fatalf("rejection without a message: %#v", ce)
		}
		if w := where(ce); w != "" && !strings.Contains(ce.Error(), w) {
			t.Fatalf("rejection %q does not name %q", ce.Error(), w)
		}
	}
}

// checkValid asserts the invariants of an accepted configuration.
func checkValid(t *testing.T, c config.Config) {
	t.Helper()
	s := c.Server
	if s.Port < 1 || s.Port > 65535 {
		t.Fatalf("accepted port %d", s.Port)
	}
	if s.Bind != "localhost" && net.ParseIP(s.Bind) == nil {
		t.Fatalf("accepted bind %q", s.Bind)
	}
	if s.ShutdownTimeout < 0 || s.ShutdownTimeout > time.Hour {
		t.Fatalf("accepted shutdown_timeout %v", s.ShutdownTimeout)
	}
	if s.AuthToken != "" && len(s.AuthToken) < 16 {
		t.Fatalf("accepted a %d-character auth_token", len(s.AuthToken))
	}
	if strings.IndexFunc(s.AuthToken, func(r rune) bool { return r <= ' ' || r > '~' }) >= 0 {
		t.Fatalf("accepted auth_token %q, which no HTTP header can carry", s.AuthToken)
	}
	for _, h := range s.AllowedHosts {
		if n, ok := config.NormalizeHost(h); !ok || n != h {
			t.Fatalf("accepted allowed_hosts entry %q (normal form %q, %v)", h, n, ok)
		}
	}
	switch c.Logging.Level {
	case "debug", "info", "warning", "error":
	default:
		t.Fatalf("accepted logging.level %q", c.Logging.Level)
	}
	if c.Logging.Format != "text" && c.Logging.Format != "json" {
		t.Fatalf("accepted logging.format %q", c.Logging.Format)
	}
	if c.Database.Path == "" {
		t.Fatal("accepted an empty database.path")
	}
	if c.Jobs.Workers < 1 || c.Jobs.Workers > 256 {
		t.Fatalf("accepted jobs.workers %d", c.Jobs.Workers)
	}
	if c.Jobs.LeaseDuration < time.Second || c.Jobs.LeaseDuration > time.Hour {
		t.Fatalf("accepted jobs.lease_duration %v", c.Jobs.LeaseDuration)
	}
	if c.Jobs.RetentionDays < 0 || c.Jobs.RetentionDays > 36500 {
		t.Fatalf("accepted jobs.retention_days %d", c.Jobs.RetentionDays)
	}
	if c.Jobs.StallTimeout < 0 || c.Jobs.StallTimeout > 24*time.Hour || c.Jobs.StallTimeout > 0 && c.Jobs.StallTimeout < time.Second {
		t.Fatalf("accepted jobs.stall_timeout %v", c.Jobs.StallTimeout)
	}
	for kind, d := range c.Jobs.StallTimeouts {
		if !validKind(kind) || d < 0 || d > 24*time.Hour || d > 0 && d < time.Second {
			t.Fatalf("accepted jobs.stall_timeouts entry %q = %v", kind, d)
		}
	}
	for kind, n := range c.Jobs.Limits {
		if !validKind(kind) || n < 1 || n > 256 {
			t.Fatalf("accepted jobs.limits entry %q = %d", kind, n)
		}
	}
	if c.Jobs.Nice < 0 || c.Jobs.Nice > 19 {
		t.Fatalf("accepted jobs.nice %d", c.Jobs.Nice)
	}
	if again, err := config.ParseSchedule(c.Jobs.Schedule.String()); err != nil || again.String() != c.Jobs.Schedule.String() {
		t.Fatalf("accepted jobs.schedule %q that does not parse back: %v", c.Jobs.Schedule, err)
	}
	for _, kind := range c.Jobs.ScheduledKinds {
		if !validKind(kind) {
			t.Fatalf("accepted jobs.scheduled_kinds entry %q", kind)
		}
	}
	for i, l := range c.Libraries {
		if !filepath.IsAbs(l.Path) || filepath.Clean(l.Path) != l.Path {
			t.Fatalf("accepted library path %q", l.Path)
		}
		if l.Hold < 0 || l.Hold > 24*time.Hour || l.RescanInterval < 0 || l.RescanInterval > 0 && l.RescanInterval < time.Minute {
			t.Fatalf("accepted library %+v", l)
		}
		if strings.ContainsRune(l.Policy, '/') {
			t.Fatalf("accepted library policy %q", l.Policy)
		}
		for _, o := range c.Libraries[:i] {
			if o.Path == l.Path || strings.HasPrefix(l.Path, strings.TrimSuffix(o.Path, "/")+"/") ||
				strings.HasPrefix(o.Path, strings.TrimSuffix(l.Path, "/")+"/") {
				t.Fatalf("accepted nested libraries %q and %q", o.Path, l.Path)
			}
		}
	}
}

// validKind reports whether kind is a lower-case, possibly dotted,
// identifier.
func validKind(kind string) bool {
	for part := range strings.SplitSeq(kind, ".") {
		if part == "" || part[0] < 'a' || part[0] > 'z' ||
			strings.TrimLeft(part, "abcdefghijklmnopqrstuvwxyz0123456789_") != "" {
			return false
		}
	}
	return true
}

// FuzzConfigFile feeds arbitrary bytes as the config file: Load must not
// panic, and either accept a valid configuration or reject it with errors
// that name the file.
func FuzzConfigFile(f *testing.F) {
	entries, err := os.ReadDir("testdata")
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".toml") {
			data, err := os.ReadFile(filepath.Join("testdata", e.Name()))
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	dir := f.TempDir()
	path := filepath.Join(dir, "config.toml")
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		loaded, err := config.Load(config.Options{
			ExplicitPath: path, SystemPath: filepath.Join(dir, "absent.toml"),
			Home: dir, NumCPU: 2,
		})
		if err != nil {
			checkRejection(t, err, func(e *config.Error) string {
				if e.Source != config.SourceFile {
					t.Fatalf("file problem reported as source %q: %v", e.Source, e)
				}
				return path
			})
			return
		}
		checkValid(t, loaded.Config)
	})
}

// FuzzConfigEnv sets every VPO_* variable to fuzzed text: rejections name
// the variable.
func FuzzConfigEnv(f *testing.F) {
	f.Add("0.0.0.0", "8321", "30s", "s3cret", "vpo.lan, [::1]", "debug", "json", "~/lib.db", "4", "1m", "30", "true", "~/policies", "true", "90s", "false",
		"10m", "transcode=30m,scan=0s", "transcode=1, test.sleep=2", "10", "01:00-07:00, 22:00-23:30", "apply,transcode", "64", "postgres://vpo:pw@db/vpo?sslmode=require", "media-1", "gpu,nvenc")
	f.Add("", "0", "-1", "", "http://x:80/", "loud", "xml", "relative.db", "0", "0s", "-1", "maybe", "", "no", "-1s", "2",
		"-1s", "transcode", "Transcode=1", "20", "7-8", "Apply", "0", "mysql://x", "", "GPU")
	f.Add("::1", "65536", "3601", "0123456789abcdef", "*.lan", "info", "text", "/x", "257", "1h1s", "36501", "1", "relative/dir", "0", "0s", "1",
		"25h", "scan=25h", "scan=0", "-1", "22:00-02:00,01:00-03:00", "", "10001", "postgres://a:b@[::1", "a b", "gpu,,gpu")
	f.Add("localhost", " 80", "1e9", "\x00", ",,", "WARNING", "TEXT", "~", "-3", "1.5s", "0", "yes", "~", "FALSE", "25h", "true ",
		"0", "a=1s,a=2s", "x.=1,,", " 0", "24:00-24:00", "x.,y", " 1", "postgresql://h/db?password=x y", "n\x00", "-x")
	keys := config.Keys()
	home := f.TempDir()
	f.Fuzz(func(t *testing.T, bind, port, shutdown, token, hosts, level, format, db, workers, lease, retention, testKinds, policiesDir, keepOriginal, minFileAge, requireApproval,
		stallTimeout, stallTimeouts, limits, nice, schedule, scheduledKinds, maxStreams, dbURL, nodeName, tags string) {
		values := map[string]string{
			"server.bind": bind, "server.port": port, "server.shutdown_timeout": shutdown, "server.auth_token": token,
			"server.allowed_hosts": hosts, "logging.level": level, "logging.format": format, "database.path": db,
			"jobs.workers": workers, "jobs.lease_duration": lease, "jobs.retention_days": retention,
			"jobs.stall_timeout": stallTimeout, "jobs.stall_timeouts": stallTimeouts, "jobs.limits": limits, "jobs.nice": nice,
			"jobs.test_kinds": testKinds, "policies.dir": policiesDir, "policies.keep_original": keepOriginal,
			"policies.min_file_age": minFileAge, "policies.require_approval": requireApproval,
			"jobs.schedule": schedule, "jobs.scheduled_kinds": scheduledKinds, "server.max_event_streams": maxStreams,
			"database.url": dbURL, "node.name": nodeName, "jobs.tags": tags,
		}
		keys := slices.DeleteFunc(slices.Clone(keys), func(k config.Key) bool { return k.Env == "" }) // libraries: file only
		if len(values) != len(keys) {
			t.Fatalf("%d fuzzed values for %d keys: update FuzzConfigEnv", len(values), len(keys))
		}
		env := make([]string, len(keys))
		for i, k := range keys {
			v, ok := values[k.Name]
			if !ok {
				t.Fatalf("no fuzzed value for %s: update FuzzConfigEnv", k.Name)
			}
			env[i] = k.Env + "=" + v
		}
		loaded, err := config.Load(config.Options{
			Env: env, Home: home, SystemPath: filepath.Join(home, "absent.toml"), NumCPU: 2,
		})
		if err != nil {
			checkRejection(t, err, func(e *config.Error) string {
				if e.Source != config.SourceEnv || !strings.HasPrefix(e.Name, "VPO_") {
					t.Fatalf("environment problem without its variable: %#v", e)
				}
				return e.Name
			})
			return
		}
		checkValid(t, loaded.Config)
	})
}

// FuzzConfigFlags does the same for the command-line flags.
func FuzzConfigFlags(f *testing.F) {
	f.Add("127.0.0.1", "8321", "info", "text")
	f.Add("0.0.0.0", "99999", "trace", "yaml")
	f.Add("not-an-ip", "-1", "", "")
	home := f.TempDir()
	f.Fuzz(func(t *testing.T, bind, port, level, format string) {
		loaded, err := config.Load(config.Options{
			Flags: map[string]string{"--bind": bind, "--port": port, "--log-level": level, "--log-format": format},
			Home:  home, SystemPath: filepath.Join(home, "absent.toml"), NumCPU: 2,
		})
		if err != nil {
			checkRejection(t, err, func(e *config.Error) string {
				if e.Source != config.SourceFlag || !strings.HasPrefix(e.Name, "--") {
					t.Fatalf("flag problem without its flag: %#v", e)
				}
				return e.Name
			})
			return
		}
		checkValid(t, loaded.Config)
	})
}
