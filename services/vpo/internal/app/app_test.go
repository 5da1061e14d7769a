package app_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vpo-project/vpo/services/vpo/internal/app"
)

func runMain(t *testing.T, env []string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := app.Main(context.Background(), args, app.Env{
		Stdout: &out, Stderr: &errb, Environ: env,
		Build: app.BuildInfo{Version: "1.2.3", Commit: "abc"},
	})
	return code, out.String(), errb.String()
}

func TestExitCodesAndOutput(t *testing.T) {
	home := t.TempDir()
	bad := filepath.Join(home, "bad.toml")
	if err := os.WriteFile(bad, []byte("[server]\nport = 70000\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	bom := filepath.Join(home, "bom.toml")
	if err := os.WriteFile(bom, []byte("\ufeff[server]\nbind = \"127.0.0.1\"\nport = 70000\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"HOME=" + home}
	for _, tc := range []struct {
		env       []string // nil: HOME set
		args      []string
		code      int
		stdout    string
		stderr    string
		stdoutNot string
	}{
		{args: []string{"version"}, code: app.ExitOK, stdout: "vpo 1.2.3 (commit abc)"},
		{args: []string{"--version"}, code: app.ExitOK, stdout: "vpo 1.2.3 (commit abc)", stdoutNot: "usage:"},
		{args: []string{"--help"}, code: app.ExitOK, stdout: "Exit codes"},
		{args: []string{}, code: app.ExitUsage, stderr: "usage: vpo"},
		{args: []string{"nope"}, code: app.ExitUsage, stderr: "nope"},
		{args: []string{"serve", "--nope"}, code: app.ExitUsage, stderr: "--nope"},
		{args: []string{"config", "check", "--config", bad}, code: app.ExitConfig, stderr: bad + ":2"},
		{args: []string{"config", "check", "--config", filepath.Join(home, "missing.toml")}, code: app.ExitConfig, stderr: "missing.toml"},
		{args: []string{"config", "check"}, code: app.ExitOK, stdout: "configuration OK"},
		{args: []string{"config", "check", "--config", bom}, code: app.ExitConfig, stderr: bom + ":3: server.port = 70000"},
		{args: []string{"config", "check", "--bind", "0.0.0.0"}, code: app.ExitConfig, stderr: `flag --bind="0.0.0.0": server.bind: refusing to listen on non-loopback address 0.0.0.0 without [server] auth_token (or VPO_AUTH_TOKEN)`},
		{env: []string{"HOME=" + home, "VPO_AUTH_TOKEN=0123456789abcdef"}, args: []string{"config", "check", "--bind", "0.0.0.0"}, code: app.ExitOK, stdout: "configuration OK"},
		{env: []string{"HOME=" + home, "VPO_SERVER_BIND=::"}, args: []string{"config", "check"}, code: app.ExitConfig, stderr: `environment VPO_SERVER_BIND="::": server.bind: refusing to listen`},
		{args: []string{"config", "show", "--port", "9999"}, code: app.ExitOK, stdout: "9999"},
		{args: []string{"config", "show", "--port", "abc"}, code: app.ExitConfig, stderr: "--port"},
		{args: []string{"config", "sample"}, code: app.ExitOK, stdout: "# port = 8321"},
		{args: []string{"jobs", "list", "--url", "http://127.0.0.1:1"}, code: app.ExitUnavailable, stderr: "cannot reach"},
		{env: []string{}, args: []string{"jobs", "list", "--url", "http://127.0.0.1:1"}, code: app.ExitUnavailable, stderr: "cannot reach"},
		{args: []string{"jobs", "submit", "scan", "--payload", "{", "--url", "http://127.0.0.1:1"}, code: app.ExitUsage, stderr: "--payload"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			e := env
			if tc.env != nil {
				e = tc.env
			}
			code, out, errs := runMain(t, e, tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, out, errs)
			}
			if !strings.Contains(out, tc.stdout) || !strings.Contains(errs, tc.stderr) {
				t.Fatalf("stdout %q (want %q), stderr %q (want %q)", out, tc.stdout, errs, tc.stderr)
			}
			if tc.stdoutNot != "" && strings.Contains(out, tc.stdoutNot) {
				t.Fatalf("stdout contains %q:\n%s", tc.stdoutNot, out)
			}
		})
	}
}

// TestLibrariesRefusedByCheckAndServe: a library whose directory or
// policy is missing fails `vpo config check` and `vpo serve` alike, with
// ExitConfig and the file, line, key and value of each problem.
func TestLibrariesRefusedByCheckAndServe(t *testing.T) {
	home := t.TempDir()
	pdir := filepath.Join(home, "policies")
	media := filepath.Join(home, "media")
	if err := os.MkdirAll(media, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(pdir, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(home, "config.toml")
	body := "[database]\npath = \"" + filepath.Join(home, "library.db") + "\"\n[policies]\ndir = \"" + pdir + "\"\n\n" +
		"[[library]]\npath = \"" + filepath.Join(home, "nope") + "\"\n\n[[library]]\npath = \"" + media + "\"\npolicy = \"normalize\"\n"
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	want := []string{
		cfg + `:7: library[1].path = "` + filepath.Join(home, "nope") + `": no such directory`,
		cfg + `:11: library[2].policy = "normalize": no such policy: neither normalize.yaml nor normalize.yml in policies.dir ` + pdir,
	}
	for _, args := range [][]string{{"config", "check"}, {"serve", "--port", "19117"}} {
		code, out, errs := runMain(t, []string{"HOME=" + home}, append(args, "--config", cfg)...)
		if code != app.ExitConfig {
			t.Errorf("%s: exit %d, want %d\nstdout: %s\nstderr: %s", args[0], code, app.ExitConfig, out, errs)
		}
		for _, w := range want {
			if args[0] == "serve" { // a log line, one per problem
				w = `msg="invalid configuration: ` + strings.ReplaceAll(w, `"`, `\"`)
			}
			if !strings.Contains(errs, w) {
				t.Errorf("%s: stderr lacks %q:\n%s", args[0], w, errs)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(home, "library.db")); err == nil {
		t.Error("serve created the database before refusing the configuration")
	}
	// Fixed: both pass.
	if err := os.Mkdir(filepath.Join(home, "nope"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(pdir, "normalize.yaml"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, errs := runMain(t, []string{"HOME=" + home}, "config", "check", "--config", cfg); code != app.ExitOK {
		t.Errorf("config check after the fix: exit %d\n%s%s", code, out, errs)
	}
}
