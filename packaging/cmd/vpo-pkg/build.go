package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/goreleaser/chglog"
	"github.com/goreleaser/nfpm/v2"
	"github.com/goreleaser/nfpm/v2/deb"
	"github.com/goreleaser/nfpm/v2/files"
	"github.com/goreleaser/nfpm/v2/rpm"
)

// packageOptions are the inputs of one package build.
type packageOptions struct {
	format      string
	config      string
	changelog   string
	binary      string
	arch        string
	release     string
	wantVersion string
	out         string
	printName   bool
}

func parsePackageFlags(args []string) (packageOptions, error) {
	var o packageOptions
	fs := flag.NewFlagSet("package", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.format, "format", "", "deb or rpm")
	fs.StringVar(&o.config, "config", "packaging/nfpm.yaml", "nfpm configuration")
	fs.StringVar(&o.changelog, "changelog", "packaging/changelog.yaml", "package changelog (chglog)")
	fs.StringVar(&o.binary, "binary", "", "the vpo binary")
	fs.StringVar(&o.arch, "arch", "amd64", "goarch of the binary")
	fs.StringVar(&o.release, "release", "1", "packaging revision")
	fs.StringVar(&o.wantVersion, "want-version", "", "fail unless the binary reports this version")
	fs.StringVar(&o.out, "out", "", "package file to write")
	fs.BoolVar(&o.printName, "print-name", false, "print the conventional file name of the package")
	if err := fs.Parse(args); err != nil {
		return o, fmt.Errorf("package: %w", err)
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("package: unexpected argument %q", fs.Arg(0))
	}
	for name, v := range map[string]string{"--format": o.format, "--binary": o.binary, "--out": o.out} {
		if v == "" {
			return o, fmt.Errorf("package: %s is required", name)
		}
	}
	return o, nil
}

func runPackage(ctx context.Context, args []string, stdout io.Writer) error {
	o, err := parsePackageFlags(args)
	if err != nil {
		return err
	}
	packager, err := packagerFor(o.format)
	if err != nil {
		return err
	}
	version, err := binaryVersion(ctx, o.binary)
	if err != nil {
		return err
	}
	if o.wantVersion != "" && version != o.wantVersion {
		return fmt.Errorf("binary %s reports version %q but the package is declared as %q: update packaging/version.bzl (and packaging/changelog.yaml) together with VERSION", o.binary, version, o.wantVersion)
	}
	top, err := newestChangelogEntry(o.changelog)
	if err != nil {
		return err
	}

	tmp, err := os.MkdirTemp("", "vpo-pkg-")
	if err != nil {
		return fmt.Errorf("temp dir: %w", err)
	}
	defer os.RemoveAll(tmp)
	manpage := filepath.Join(tmp, "vpo.1.gz")
	if err := writeManpage(ctx, o.binary, version, top.Date, manpage); err != nil {
		return err
	}

	env := map[string]string{
		"VPO_VERSION": version,
		"VPO_RELEASE": o.release,
		"VPO_ARCH":    o.arch,
		"VPO_BINARY":  o.binary,
		"VPO_MANPAGE": manpage,
	}
	cfg, err := nfpm.ParseFileWithEnvMapping(o.config, func(k string) string { return env[k] })
	if err != nil {
		return fmt.Errorf("parse %s: %w", o.config, err)
	}
	cfg.Info.MTime = top.Date.UTC()
	cfg.Info.Changelog = o.changelog
	info, err := cfg.Get(o.format)
	if err != nil {
		return fmt.Errorf("nfpm config for %s: %w", o.format, err)
	}
	info = nfpm.WithDefaults(info)
	if err := expandGlobs(info); err != nil {
		return fmt.Errorf("%s: %w", o.config, err)
	}
	if err := resolveSources(info); err != nil {
		return err
	}
	if err := nfpm.Validate(info); err != nil {
		return fmt.Errorf("validate %s: %w", o.config, err)
	}
	if want := version + "-" + o.release; top.Semver != want {
		return fmt.Errorf("%s: newest entry is %q, want %q (VERSION-release): add a changelog entry for this release", o.changelog, top.Semver, want)
	}

	var buf bytes.Buffer
	if err := packager.Package(info, &buf); err != nil {
		return fmt.Errorf("build %s: %w", o.format, err)
	}
	if err := os.WriteFile(o.out, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", o.out, err)
	}
	if o.printName {
		fmt.Fprintln(stdout, packager.ConventionalFileName(info))
	}
	return nil
}

func packagerFor(format string) (nfpm.Packager, error) {
	switch format {
	case "deb":
		return deb.Default, nil
	case "rpm":
		return rpm.DefaultRPM, nil
	}
	return nil, fmt.Errorf("package: unknown --format %q (want deb or rpm)", format)
}

// binaryVersion runs `vpo version` ("vpo 0.1.0 (commit abc)") and returns
// the version word.
func binaryVersion(ctx context.Context, binary string) (string, error) {
	out, err := exec.CommandContext(ctx, absPath(binary), "version").Output()
	if err != nil {
		return "", fmt.Errorf("run %s version: %w", binary, err)
	}
	return parseVersionLine(string(out))
}

func parseVersionLine(s string) (string, error) {
	f := strings.Fields(s)
	if len(f) < 2 || f[0] != "vpo" {
		return "", fmt.Errorf("unexpected output of vpo version: %q", strings.TrimSpace(s))
	}
	if f[1] == "dev" {
		return "", errors.New("the vpo binary is not stamped with a version (vpo version says \"dev\"): build it with Bazel (--stamp) or -ldflags -X main.version=...")
	}
	return f[1], nil
}

// newestChangelogEntry returns the first entry of a chglog file.
func newestChangelogEntry(path string) (*chglog.ChangeLog, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("changelog: %w", err)
	}
	entries, err := chglog.Parse(path)
	if err != nil {
		return nil, fmt.Errorf("changelog: %w", err)
	}
	if len(entries) == 0 || entries[0].Date.IsZero() {
		return nil, fmt.Errorf("changelog %s: no dated entry", path)
	}
	return entries[0], nil
}

// resolveSources replaces symlinked sources (Bazel stages inputs as
// symlinks) by their targets: nfpm would package the symlink itself.
func resolveSources(info *nfpm.Info) error {
	for _, c := range info.Contents {
		if c.Source == "" || c.Type == files.TypeSymlink || c.Type == files.TypeDir {
			continue
		}
		real, err := filepath.EvalSymlinks(c.Source)
		if err != nil {
			return fmt.Errorf("source of %s: %w", c.Destination, err)
		}
		c.Source = real
	}
	return nil
}

// absPath makes a relative path runnable by exec (which would otherwise
// search PATH for a bare name).
func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}
