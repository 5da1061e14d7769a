package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vpo-project/vpo/libs/config"
)

// TestDatabaseURLPasswordNeverShown: the password of database.url is
// redacted wherever the configuration is printed: config show, errors
// about the value (from the environment and from the file), and the
// changes a reload reports.
func TestDatabaseURLPasswordNeverShown(t *testing.T) {
	const secret = "s3cret-pw"
	opts := hermetic(t, config.Options{Env: []string{"VPO_DATABASE_URL=postgres://vpo:" + secret + "@db:5432/vpo?sslmode=require"}})
	l, err := config.Load(opts)
	if err != nil {
		t.Fatal(err)
	}
	if l.Config.Database.URL != "postgres://vpo:"+secret+"@db:5432/vpo?sslmode=require" {
		t.Fatalf("URL = %q", l.Config.Database.URL)
	}
	var b strings.Builder
	if err := l.Show(&b); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), secret) || !strings.Contains(b.String(), `url = "postgres://vpo:xxxxx@db:5432/vpo?sslmode=require"`) {
		t.Errorf("config show:\n%s\nwant the URL with its password redacted", b.String())
	}
	if got := l.Config.Database.RedactedURL(); got != "postgres://vpo:xxxxx@db:5432/vpo?sslmode=require" {
		t.Errorf("RedactedURL = %q", got)
	}

	next := l.Config
	next.Database.URL = "postgres://vpo:other-" + secret + "@db2/vpo?password=" + secret
	for _, c := range config.Diff(l.Config, next) {
		if strings.Contains(c.Old+c.New, secret) {
			t.Errorf("reload change %s: %s → %s shows the password", c.Key, c.Old, c.New)
		}
	}

	for _, bad := range []string{"mysql://vpo:" + secret + "@db/vpo", "postgres://vpo:" + secret + "@[db"} {
		_, err := config.Load(hermetic(t, config.Options{Env: []string{"VPO_DATABASE_URL=" + bad}}))
		if err == nil || strings.Contains(err.Error(), secret) || !strings.Contains(err.Error(), "VPO_DATABASE_URL") {
			t.Errorf("Load with VPO_DATABASE_URL=%q: %v; want an error naming the variable, without the password", bad, err)
		}
		path := filepath.Join(t.TempDir(), "vpo.toml")
		if err := os.WriteFile(path, []byte("[database]\nurl = \""+bad+"\"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err = config.Load(hermetic(t, config.Options{ExplicitPath: path}))
		if err == nil || strings.Contains(err.Error(), secret) || !strings.Contains(err.Error(), "database.url") {
			t.Errorf("Load of url = %q in a file: %v; want an error naming the key, without the password", bad, err)
		}
	}
}
