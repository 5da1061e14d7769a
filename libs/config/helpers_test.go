package config_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/vpo-project/vpo/libs/config"
)

// hermetic fills in Options so that a test never reads the real home
// directory or /etc/vpo.
func hermetic(t *testing.T, opts config.Options) config.Options {
	t.Helper()
	if opts.Home == "" {
		opts.Home = t.TempDir()
	}
	if opts.SystemPath == "" {
		opts.SystemPath = filepath.Join(t.TempDir(), "absent.toml")
	}
	if opts.NumCPU == 0 {
		opts.NumCPU = 2
	}
	return opts
}

func fixture(name string) string {
	return filepath.Join("testdata", name)
}

// containsAll reports whether one of lines contains every part.
func containsAll(lines []string, parts ...string) bool {
	for _, l := range lines {
		ok := true
		for _, p := range parts {
			if !strings.Contains(l, p) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

func itoa(n int) string { return strconv.Itoa(n) }

// writeTemp writes a config file into a temporary directory.
func writeTemp(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}
