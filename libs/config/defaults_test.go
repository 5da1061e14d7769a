package config_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vpo-project/vpo/libs/config"
)

func TestDatabasePathDefaults(t *testing.T) {
	tests := []struct {
		name string
		opts config.Options
		want string
	}{
		{"state directory", config.Options{StateDirectory: "/var/lib/vpo-state", Username: "vpo", Home: "/home/a"}, "/var/lib/vpo-state/library.db"},
		{"state directory list takes the first", config.Options{StateDirectory: "/srv/one:/srv/two", Home: "/home/a"}, "/srv/one/library.db"},
		{"vpo user", config.Options{Username: "vpo", Home: "/nonexistent"}, "/var/lib/vpo/library.db"},
		{"home", config.Options{Username: "alice", Home: "/home/alice"}, "/home/alice/.vpo/library.db"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := config.Defaults(tt.opts).Database.Path; got != tt.want {
				t.Errorf("Defaults().Database.Path = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDatabasePathTildeExpansion(t *testing.T) {
	tests := []struct {
		name string
		opts config.Options
		want string
	}{
		{"env", config.Options{Env: []string{"VPO_DATABASE_PATH=~/media/vpo.db"}}, "/home/alice/media/vpo.db"},
		{"flag", config.Options{Flags: map[string]string{"database.path": "~/x.db"}}, "/home/alice/x.db"},
		{"no tilde", config.Options{Env: []string{"VPO_DATABASE_PATH=/srv/vpo.db"}}, "/srv/vpo.db"},
		{"other user's tilde kept", config.Options{Env: []string{"VPO_DATABASE_PATH=~bob/x.db"}}, "~bob/x.db"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Home = "/home/alice"
			l, err := config.Load(hermetic(t, tt.opts))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if l.Config.Database.Path != tt.want {
				t.Errorf("Database.Path = %q, want %q", l.Config.Database.Path, tt.want)
			}
		})
	}
}

func TestDatabasePathTildeInFile(t *testing.T) {
	opts := hermetic(t, config.Options{Home: "/home/alice"})
	opts.ExplicitPath = writeTemp(t, "[database]\npath = \"~/lib.db\"\n")
	l, err := config.Load(opts)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if l.Config.Database.Path != "/home/alice/lib.db" {
		t.Errorf("Database.Path = %q", l.Config.Database.Path)
	}
}

func TestDatabasePathWithoutHome(t *testing.T) {
	_, err := config.Load(config.Options{SystemPath: "/nonexistent/vpo.toml"})
	if err == nil || !strings.Contains(err.Error(), "database.path") {
		t.Errorf("error = %v, want one about database.path", err)
	}
	_, err = config.Load(config.Options{SystemPath: "/nonexistent/vpo.toml", Env: []string{"VPO_DATABASE_PATH=~/x.db"}})
	if err == nil || !strings.Contains(err.Error(), "VPO_DATABASE_PATH") {
		t.Errorf("error = %v, want one naming VPO_DATABASE_PATH", err)
	}
}

func TestPoliciesDirDefaults(t *testing.T) {
	tests := []struct {
		name string
		opts config.Options
		want string
	}{
		{"systemd", config.Options{StateDirectory: "/var/lib/vpo", Username: "alice", Home: "/home/alice"}, "/etc/vpo/policies"},
		{"vpo user", config.Options{Username: "vpo", Home: "/nonexistent"}, "/etc/vpo/policies"},
		{"home", config.Options{Username: "alice", Home: "/home/alice"}, "/home/alice/.vpo/policies"},
		{"no home", config.Options{Username: "alice"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := config.Defaults(tt.opts).Policies.Dir; got != tt.want {
				t.Errorf("Defaults().Policies.Dir = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	c := config.Defaults(config.Options{Home: "/h", NumCPU: 6})
	want := config.Config{
		Server:   config.Server{Bind: "127.0.0.1", Port: 8321, ShutdownTimeout: 30 * time.Second, MaxEventStreams: 256},
		Logging:  config.Logging{Level: "info", Format: "text"},
		Database: config.Database{Path: "/h/.vpo/library.db"},
		Jobs: config.Jobs{Workers: 6, LeaseDuration: 30 * time.Second, RetentionDays: 30,
			StallTimeout: 10 * time.Minute, Nice: 10, ScheduledKinds: []string{"apply", "transcode"}, Tags: []string{}},
		Policies: config.Policies{Dir: "/h/.vpo/policies", MinFileAge: time.Minute},
		Node:     config.Node{Name: "vpo"},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Defaults = %+v, want %+v", c, want)
	}
	if c.Addr() != "127.0.0.1:8321" {
		t.Errorf("Addr = %q", c.Addr())
	}
	for _, tt := range []struct{ cpus, want int }{{0, 1}, {-1, 1}, {1, 1}, {300, 256}} {
		if got := config.Defaults(config.Options{NumCPU: tt.cpus}).Jobs.Workers; got != tt.want {
			t.Errorf("NumCPU %d: workers = %d, want %d", tt.cpus, got, tt.want)
		}
	}
}

func TestDefaultNodeName(t *testing.T) {
	for host, want := range map[string]string{
		"media-1": "media-1", "media-1.lan.example": "media-1", "": "vpo", "bad host": "vpo",
		"x" + strings.Repeat("y", 64): "vpo",
	} {
		if got := config.Defaults(config.Options{Home: "/h", Hostname: host}).Node.Name; got != want {
			t.Errorf("node name for host %q = %q, want %q", host, got, want)
		}
	}
}
