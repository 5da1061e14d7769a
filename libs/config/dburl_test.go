package config_test

import (
	"encoding/json"
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

// TestDatabaseURLOddPasswords: passwords that a URL must percent-encode,
// written as they are, are refused with a message that shows none of them;
// sslpassword and password settings are redacted too.
func TestDatabaseURLOddPasswords(t *testing.T) {
	const secret = "Leak5d"
	for _, bad := range []string{
		"postgres://pw2:ab/c" + secret + "@127.0.0.1:54400/pwdb",
		"postgres://pw2:ab@c" + secret + "@127.0.0.1:54400/pwdb",
		"postgres://pw2:ab?c" + secret + "@127.0.0.1:54400/pwdb",
		"postgres://pw2:ab c" + secret + "@127.0.0.1:54400/pwdb",
	} {
		_, err := config.Load(hermetic(t, config.Options{Env: []string{"VPO_DATABASE_URL=" + bad}}))
		if err == nil || strings.Contains(err.Error(), secret) || !strings.Contains(err.Error(), "%2") {
			t.Errorf("VPO_DATABASE_URL=%q: %v; want a refusal that explains the encoding, without the password", bad, err)
		}
	}
	for _, good := range []string{"postgres://vpo:p%40ss%21w!rd$@db/vpo", "postgres://vpo@db/vpo", "postgres://db/vpo?host=/run/postgresql"} {
		if _, err := config.Load(hermetic(t, config.Options{Env: []string{"VPO_DATABASE_URL=" + good}})); err != nil {
			t.Errorf("VPO_DATABASE_URL=%q: %v", good, err)
		}
	}
	for in, want := range map[string]string{
		"postgres://vpo@h/vpo?sslmode=require&sslpassword=" + secret:     "postgres://vpo@h/vpo?sslmode=require&sslpassword=xxxxx",
		`url = "postgres://h/vpo?password=ab` + secret + `"`:             `url = "postgres://h/vpo?password=xxxxx"`,
		"error: postgres://u:a@b" + secret + "@h/db: connection refused": "error: postgres://u:xxxxx@h/db: connection refused",
		"host=h password=" + secret + " dbname=vpo":                      "host=h password=xxxxx dbname=vpo",
	} {
		if got := config.RedactPasswords(in); got != want || strings.Contains(got, secret) {
			t.Errorf("RedactPasswords(%q) = %q, want %q", in, got, want)
		}
	}
	old := config.Defaults(config.Options{})
	old.Database.URL = "postgres://vpo:one" + secret + "@db/vpo"
	next := old
	next.Database.URL = "postgres://vpo:two" + secret + "@db/vpo"
	changes := config.Diff(old, next)
	if len(changes) != 1 || changes[0].Old == changes[0].New || strings.Contains(changes[0].Old+changes[0].New, secret) {
		t.Errorf("a changed password reads %+v; want two different texts without it", changes)
	}
}

// TestDatabaseURLHiddenWhenInvalid: an invalid URL is never quoted in an
// error (where its password ends cannot be told), and percent-encoded
// password setting names are refused.
func TestDatabaseURLHiddenWhenInvalid(t *testing.T) {
	const secret = "SEKRIT"
	for _, bad := range []string{
		"postgres://pw2:it'" + secret + "@127.0.0.1:54500/vpo",
		`postgres://pw2:a"` + secret + "@127.0.0.1:54500/vpo",
		"postgres://h/vpo?password=abc " + secret,
		"postgres://h/vpo?pass%77ord=" + secret,
		"postgres://pw2:ab" + secret + "%zzcd@h/vpo",
		"postgres://pw2:ab" + secret + "\\x@h/vpo",
	} {
		_, err := config.Load(hermetic(t, config.Options{Env: []string{"VPO_DATABASE_URL=" + bad}}))
		if err == nil || strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "%zz") {
			t.Errorf("VPO_DATABASE_URL=%q: %v; want a refusal that quotes none of it", bad, err)
		}
		path := filepath.Join(t.TempDir(), "vpo.toml")
		lit, _ := json.Marshal(bad) // a TOML basic string is JSON's
		if err := os.WriteFile(path, []byte("[database]\nurl = "+string(lit)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err = config.Load(hermetic(t, config.Options{ExplicitPath: path}))
		if err == nil || strings.Contains(err.Error(), secret) {
			t.Errorf("url = %s in a file: %v; want a refusal that quotes none of it", lit, err)
		}
	}
}

// TestDatabaseURLSettingsChecked: settings the PostgreSQL driver cannot
// use are a configuration error naming the setting, without the password.
func TestDatabaseURLSettingsChecked(t *testing.T) {
	const secret = "SEKRIT"
	for bad, want := range map[string]string{
		"postgres://vpo:" + secret + "@db/vpo?sslmode=bogus":                                   "sslmode is invalid",
		"postgres://vpo:" + secret + "@db:99999/vpo":                                           "invalid port",
		"postgres://vpo:" + secret + "@db/vpo?connect_timeout=soon":                            "invalid connect_timeout",
		"postgres://vpo:" + secret + "@db/vpo?sslmode=verify-full&sslrootcert=/nonexistent/ca": "/nonexistent/ca",
		"postgres://vpo@db/vpo?target_session_attrs=any-old&password=" + secret:                "target_session_attrs",
	} {
		_, err := config.Load(hermetic(t, config.Options{Env: []string{"VPO_DATABASE_URL=" + bad}}))
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), secret) {
			t.Errorf("VPO_DATABASE_URL=%q: %v; want an error naming %q, without the password", bad, err, want)
		}
	}
}
