package config_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/vpo-project/vpo/libs/config"
)

func TestLiveKeys(t *testing.T) {
	want := map[string]bool{
		"server.shutdown_timeout": true,
		"logging.level":           true,
		"logging.format":          true,
		"jobs.workers":            true,
		"jobs.lease_duration":     true,
		"jobs.retention_days":     true,
		"jobs.stall_timeout":      true,
		"jobs.stall_timeouts":     true,
		"jobs.limits":             true,
		"jobs.nice":               true,
		"jobs.schedule":           true,
		"jobs.scheduled_kinds":    true,
		"jobs.tags":               true,
		// watchers are started and stopped as libraries come and go
		"library": true,
		// a policy job reads them when it starts
		"policies.dir":              true,
		"policies.keep_original":    true,
		"policies.min_file_age":     true,
		"policies.require_approval": true,
	}
	for _, k := range config.Keys() {
		if k.Live != want[k.Name] {
			t.Errorf("%s: Live = %v, want %v", k.Name, k.Live, want[k.Name])
		}
	}
}

func TestDiff(t *testing.T) {
	base := config.Defaults(config.Options{Home: "/home/u", NumCPU: 2})
	tests := []struct {
		name   string
		change func(c *config.Config)
		want   []config.Change
	}{
		{name: "same", change: func(*config.Config) {}, want: nil},
		{
			name:   "live and restart",
			change: func(c *config.Config) { c.Server.Port = 9000; c.Logging.Level = "debug" },
			want: []config.Change{
				{Key: "server.port", Old: "8321", New: "9000"},
				{Key: "logging.level", Old: `"info"`, New: `"debug"`, Live: true},
			},
		},
		{
			name:   "secret masked",
			change: func(c *config.Config) { c.Server.AuthToken = "0123456789abcdef" },
			want:   []config.Change{{Key: "server.auth_token", Old: `""`, New: `"********"`}},
		},
		{
			name:   "duration",
			change: func(c *config.Config) { c.Jobs.LeaseDuration = time.Minute },
			want:   []config.Change{{Key: "jobs.lease_duration", Old: `"30s"`, New: `"1m"`, Live: true}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next := base
			tt.change(&next)
			if got := config.Diff(base, next); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Diff =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

func TestReloadKeepsRestartKeys(t *testing.T) {
	running := config.Defaults(config.Options{Home: "/home/u", NumCPU: 2})
	next := running
	next.Server.Bind = "::1"
	next.Server.Port = 9000
	next.Server.AuthToken = "0123456789abcdef"
	next.Database.Path = "/elsewhere.db"
	next.Jobs.TestKinds = true
	next.Logging.Level = "debug"
	next.Logging.Format = "json"
	next.Jobs.Workers = 7
	next.Jobs.LeaseDuration = time.Minute
	next.Server.ShutdownTimeout = time.Second

	effective, live, restart := config.Reload(running, next)

	want := running
	want.Logging.Level = "debug"
	want.Logging.Format = "json"
	want.Jobs.Workers = 7
	want.Jobs.LeaseDuration = time.Minute
	want.Server.ShutdownTimeout = time.Second
	if !reflect.DeepEqual(effective, want) {
		t.Fatalf("effective =\n%+v\nwant\n%+v", effective, want)
	}
	keys := func(cs []config.Change) []string {
		var out []string
		for _, c := range cs {
			out = append(out, c.Key)
		}
		return out
	}
	if got, want := keys(live), []string{"server.shutdown_timeout", "logging.level", "logging.format", "jobs.workers", "jobs.lease_duration"}; !reflect.DeepEqual(got, want) {
		t.Errorf("live = %q, want %q", got, want)
	}
	if got, want := keys(restart), []string{"server.bind", "server.port", "server.auth_token", "database.path", "jobs.test_kinds"}; !reflect.DeepEqual(got, want) {
		t.Errorf("restart = %q, want %q", got, want)
	}
	// Nothing left to do on a second reload with the same file, except the
	// restart-only keys, which still wait for a restart.
	_, live, restart = config.Reload(effective, next)
	if len(live) != 0 || len(restart) != 5 {
		t.Errorf("second reload: live %q, restart %q", keys(live), keys(restart))
	}
}
