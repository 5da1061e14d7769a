package integration_test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestReloadLibrariesAndSchedule: SIGHUP takes added, changed and removed
// libraries and a new processing window live; a library whose directory
// is missing fails the reload and changes nothing.
func TestReloadLibrariesAndSchedule(t *testing.T) {
	dir := t.TempDir()
	movies, tv := filepath.Join(dir, "movies"), filepath.Join(dir, "tv")
	for _, d := range []string{movies, tv} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	lib := func(path, extra string) string { return "\n[[library]]\npath = \"" + path + "\"\n" + extra }
	d := start(t, startOpts{dir: dir, port: 19140, wait: true, extra: lib(movies, "")})

	d.rewriteConfig("\n[jobs]\nschedule = \"1:00-7:00\"\nscheduled_kinds = [\"apply\"]\n" + lib(movies, "hold = \"5m\"\n") + lib(tv, "watch = false\n"))
	d.reloadAndWait(1)
	d.waitLog(5*time.Second, `jobs.schedule changed from \"\" to 01:00-07:00`)
	d.waitLog(5*time.Second, `jobs.scheduled_kinds changed from [\"apply\", \"transcode\"] to [\"apply\"]`)
	d.waitLog(5*time.Second, `library changed from {path = \"`+movies+`\", policy = \"\", watch = true, hold = \"2m\"`,
		`to {path = \"`+movies+`\", policy = \"\", watch = true, hold = \"5m\"`)
	d.waitLog(5*time.Second, `library added: {path = \"`+tv+`\", policy = \"\", watch = false`)

	d.rewriteConfig(lib(tv, "watch = false\n") + lib(filepath.Join(dir, "nope"), ""))
	d.reloadAndWait(2)
	d.waitLog(5*time.Second, "configuration reload failed", `library[2].path = \"`+filepath.Join(dir, "nope")+`\": no such directory`)

	d.rewriteConfig(lib(tv, "watch = false\n"))
	d.reloadAndWait(3)
	d.waitLog(5*time.Second, `library removed: {path = \"`+movies+`\"`)
	d.waitLog(5*time.Second, `jobs.schedule changed from 01:00-07:00 to \"\"`)
	if strings.Contains(d.stderr.String(), "cannot be applied live") {
		t.Errorf("a live key without an applier:\n%s", d.stderr.String())
	}
	d.signal(syscall.SIGTERM)
	if code := d.wait(10 * time.Second); code != exitOK {
		t.Fatalf("exit %d, want 0", code)
	}
}

// TestServeRefusesMissingLibrary: serve and config check refuse a library
// whose directory does not exist, naming the file and line.
func TestServeRefusesMissingLibrary(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "nope")
	path := writeConfig(t, dir, 19141, "\n[[library]]\npath = \""+missing+"\"\n")
	code, _, stderr := run(t, baseEnv(dir), "config", "check", "--config", path)
	if code != exitConfig || !strings.Contains(stderr, path+`:8: library[1].path = "`+missing+`": no such directory`) {
		t.Fatalf("config check = %d, stderr %q", code, stderr)
	}
	d := start(t, startOpts{dir: dir, port: 19141, args: []string{"--config", path}})
	if code := d.wait(10 * time.Second); code != exitConfig {
		t.Fatalf("serve exit %d, want %d:\n%s", code, exitConfig, d.stderr.String())
	}
	if !strings.Contains(d.stderr.String(), `library[1].path = \"`+missing+`\": no such directory`) {
		t.Fatalf("serve did not name the library:\n%s", d.stderr.String())
	}
}
