package config_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/vpo-project/vpo/libs/config"
)

// TestCheckServe: a non-loopback bind without a token is refused, and the
// error names where the bind came from.
func TestCheckServe(t *testing.T) {
	const token = "0123456789abcdef"
	tests := []struct {
		name  string
		file  string
		env   []string
		flags map[string]string
		want  string // "" = passes; else the start of the message
	}{
		{"defaults", "", nil, nil, ""},
		{"localhost", "", nil, map[string]string{"--bind": "localhost"}, ""},
		{"other loopback", "", nil, map[string]string{"--bind": "127.0.0.2"}, ""},
		{"ipv6 loopback", "", nil, map[string]string{"--bind": "::1"}, ""},
		{"any with token", "", []string{"VPO_AUTH_TOKEN=" + token}, map[string]string{"--bind": "0.0.0.0"}, ""},
		{"flag", "", nil, map[string]string{"--bind": "0.0.0.0"}, `flag --bind="0.0.0.0": server.bind: refusing to listen on non-loopback address 0.0.0.0`},
		{"environment", "", []string{"VPO_SERVER_BIND=::"}, nil, `environment VPO_SERVER_BIND="::": server.bind: refusing`},
		{"file", "[logging]\nlevel = \"info\"\n[server]\nbind = \"192.0.2.7\"\n", nil, nil, `:4: server.bind = "192.0.2.7": refusing to listen on non-loopback address 192.0.2.7`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := hermetic(t, config.Options{Env: tt.env, Flags: tt.flags})
			if tt.file != "" {
				opts.ExplicitPath = writeTemp(t, tt.file)
			}
			l, err := config.Load(opts)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			err = l.CheckServe()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("CheckServe = %v, want nil", err)
				}
				return
			}
			var ce *config.Error
			if err == nil || !errors.As(err, &ce) || ce.Key != "server.bind" {
				t.Fatalf("CheckServe = %v (%T), want a *config.Error for server.bind", err, err)
			}
			msg := err.Error()
			if tt.file != "" {
				msg = strings.TrimPrefix(msg, opts.ExplicitPath)
			}
			if !strings.HasPrefix(msg, tt.want) || !strings.Contains(msg, "auth_token") || !strings.Contains(msg, "VPO_AUTH_TOKEN") {
				t.Fatalf("CheckServe = %q, want it to start with %q and name auth_token and VPO_AUTH_TOKEN", err, tt.want)
			}
		})
	}
}

// TestAllowedHosts: entries are normalised; anything but a bare name or
// address is rejected where it was written.
func TestAllowedHosts(t *testing.T) {
	for _, tt := range []struct {
		name, file, env string
		want            []string
		err             string
	}{
		{"file", `allowed_hosts = ["VPO.lan.", "[::1]", "10.0.0.5", "vpo.lan", "my_box"]`, "", []string{"vpo.lan", "::1", "10.0.0.5", "my_box"}, ""},
		{"environment", "", " nas.local ,,0:0::1", []string{"nas.local", "::1"}, ""},
		{"empty", `allowed_hosts = []`, "", nil, ""},
		{"port", `allowed_hosts = ["vpo.lan:8321"]`, "", nil, `:2: server.allowed_hosts = ["vpo.lan:8321"]: "vpo.lan:8321" is not a host name`},
		{"scheme", `allowed_hosts = ["http://vpo.lan"]`, "", nil, `is not a host name`},
		{"wildcard", `allowed_hosts = ["*.lan"]`, "", nil, `is not a host name`},
		{"not a list", `allowed_hosts = "vpo.lan"`, "", nil, `must be an array of strings, not a string`},
		{"not strings", `allowed_hosts = ["a", 1]`, "", nil, `entry 2 must be a string, not an integer`},
		{"environment path", "", "vpo.lan/x", nil, `environment VPO_SERVER_ALLOWED_HOSTS="vpo.lan/x": server.allowed_hosts: "vpo.lan/x" is not a host name`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			opts := hermetic(t, config.Options{})
			if tt.file != "" {
				opts.ExplicitPath = writeTemp(t, "[server]\n"+tt.file+"\n")
			}
			if tt.env != "" {
				opts.Env = []string{"VPO_SERVER_ALLOWED_HOSTS=" + tt.env}
			}
			l, err := config.Load(opts)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Load = %v, want an error containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if got := l.Config.Server.AllowedHosts; strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Fatalf("allowed_hosts = %q, want %q", got, tt.want)
			}
		})
	}
}
