package config_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vpo-project/vpo/libs/config"
)

func writeConfig(t *testing.T, path string, port string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("[server]\nport = "+port+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestFileLookupOrder(t *testing.T) {
	type files struct{ explicit, envPath, home, system bool }
	tests := []struct {
		name    string
		present files
		want    string // which file is read: explicit, env, home, system or ""
	}{
		{"explicit beats all", files{true, true, true, true}, "explicit"},
		{"VPO_CONFIG_PATH beats home and system", files{false, true, true, true}, "env"},
		{"home beats system", files{false, false, true, true}, "home"},
		{"system", files{false, false, false, true}, "system"},
		{"none", files{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			home := filepath.Join(dir, "home")
			paths := map[string]string{
				"explicit": filepath.Join(dir, "explicit.toml"),
				"env":      filepath.Join(dir, "env.toml"),
				"home":     filepath.Join(home, ".vpo", "config.toml"),
				"system":   filepath.Join(dir, "etc", "vpo", "config.toml"),
			}
			ports := map[string]string{"explicit": "9001", "env": "9002", "home": "9003", "system": "9004"}
			opts := config.Options{Home: home, SystemPath: paths["system"], NumCPU: 1}
			for which, present := range map[string]bool{
				"explicit": tt.present.explicit, "env": tt.present.envPath,
				"home": tt.present.home, "system": tt.present.system,
			} {
				if present {
					writeConfig(t, paths[which], ports[which])
				}
			}
			if tt.present.explicit {
				opts.ExplicitPath = paths["explicit"]
			}
			if tt.present.envPath {
				opts.Env = []string{"VPO_CONFIG_PATH=" + paths["env"]}
			}
			l, err := config.Load(opts)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			wantFile, wantPort := paths[tt.want], ports[tt.want]
			if tt.want == "" {
				wantPort = "8321"
			}
			if l.File != wantFile {
				t.Errorf("File = %q, want %q", l.File, wantFile)
			}
			if got := itoa(l.Config.Server.Port); got != wantPort {
				t.Errorf("port = %s, want %s (from %s)", got, wantPort, tt.want)
			}
		})
	}
}

func TestExplicitMissingFile(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope.toml")
	tests := []struct {
		name string
		opts config.Options
		how  string
	}{
		{"flag", config.Options{ExplicitPath: missing}, "--config"},
		{"env", config.Options{Env: []string{"VPO_CONFIG_PATH=" + missing}}, "VPO_CONFIG_PATH"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A home config exists, but an explicit path must not fall back to it.
			home := t.TempDir()
			writeConfig(t, filepath.Join(home, ".vpo", "config.toml"), "9000")
			tt.opts.Home = home
			_, err := config.Load(hermetic(t, tt.opts))
			if err == nil {
				t.Fatal("Load succeeded, want error")
			}
			if !strings.Contains(err.Error(), missing) || !strings.Contains(err.Error(), tt.how) {
				t.Errorf("error %q does not name %s and %s", err, missing, tt.how)
			}
			if !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("error %v is not fs.ErrNotExist", err)
			}
		})
	}
}

func TestConfigPathIsDirectory(t *testing.T) {
	dir := t.TempDir()
	_, err := config.Load(hermetic(t, config.Options{ExplicitPath: dir}))
	if err == nil || !strings.Contains(err.Error(), dir) {
		t.Errorf("error = %v, want one naming %s", err, dir)
	}
}

// TestConfigPathNotRegular: a FIFO, a device or a huge file in place of
// the config is an error naming it, at once; nothing blocks or eats memory.
func TestConfigPathNotRegular(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.toml")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	zero := filepath.Join(dir, "zero.toml")
	if err := os.Symlink("/dev/zero", zero); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.toml")
	if err := os.WriteFile(big, []byte("# "+strings.Repeat("x", 2<<20)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ path, want string }{
		{fifo, "not a regular file"},
		{zero, "not a regular file"},
		{big, "larger than"},
	} {
		done := make(chan error, 1)
		go func() {
			_, err := config.Load(hermetic(t, config.Options{ExplicitPath: tt.path}))
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), tt.path) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Load(%s) = %v, want an error naming it and saying %q", tt.path, err, tt.want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("Load(%s) still running after 5s", tt.path)
		}
	}
}

func TestUnreadableFile(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root can read any file")
	}
	path := filepath.Join(t.TempDir(), "config.toml")
	writeConfig(t, path, "9000")
	if err := os.Chmod(path, 0); err != nil {
		t.Fatal(err)
	}
	_, err := config.Load(hermetic(t, config.Options{ExplicitPath: path}))
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("error = %v, want one naming %s", err, path)
	}
}
