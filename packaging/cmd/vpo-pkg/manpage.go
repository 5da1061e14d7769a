package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"
)

// manSummary is the whatis line of vpo(1).
const manSummary = `vpo \- Video Policy Orchestrator daemon and its command-line client`

func runManpage(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("manpage", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	binary := fs.String("binary", "", "the vpo binary")
	out := fs.String("out", "", "vpo.1.gz to write")
	version := fs.String("version", "", "version shown in the header (default: from the binary)")
	changelog := fs.String("changelog", "packaging/changelog.yaml", "its newest entry dates the page")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("manpage: %w", err)
	}
	if *binary == "" || *out == "" {
		return errors.New("manpage: --binary and --out are required")
	}
	v := strings.TrimPrefix(*version, "v")
	if v == "" {
		var err error
		if v, err = binaryVersion(ctx, *binary); err != nil {
			return err
		}
	}
	top, err := newestChangelogEntry(*changelog)
	if err != nil {
		return err
	}
	return writeManpage(ctx, *binary, v, top.Date, *out)
}

// writeManpage renders `binary --help-man` as a gzipped vpo(1) page.
func writeManpage(ctx context.Context, binary, version string, date time.Time, out string) error {
	raw, err := exec.CommandContext(ctx, absPath(binary), "--help-man").Output()
	if err != nil {
		return fmt.Errorf("run %s --help-man: %w", binary, err)
	}
	page, err := renderManpage(string(raw), version, date)
	if err != nil {
		return err
	}
	gz, err := gzipBytes([]byte(page))
	if err != nil {
		return err
	}
	if err := os.WriteFile(out, gz, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", out, err)
	}
	return nil
}

// renderManpage turns kingpin's --help-man output into a page that man
// renders without warnings: a proper .TH header, a whatis NAME line, the
// help text kept as written (no filling), text lines that start with a
// control character escaped, and no usage text after the page.
func renderManpage(raw, version string, date time.Time) (string, error) {
	lines := strings.Split(raw, "\n")
	if len(lines) == 0 || !strings.HasPrefix(lines[0], ".TH ") {
		return "", fmt.Errorf("--help-man output does not start with .TH: %q", firstLine(raw))
	}
	var b strings.Builder
	fmt.Fprintf(&b, ".TH VPO 1 \"%s\" \"vpo %s\" \"User Commands\"\n", date.UTC().Format("2006-01-02"), version)
	section, nofill := "", false
	for _, l := range lines[1:] {
		// kingpin prints the usage text after the page; the page ends there.
		if strings.HasPrefix(l, "usage: ") {
			break
		}
		if strings.HasPrefix(l, ".SH ") {
			if nofill {
				b.WriteString(".fi\n")
				nofill = false
			}
			section = strings.Trim(strings.TrimPrefix(l, ".SH "), `"`)
			b.WriteString(l + "\n")
			switch section {
			case "NAME":
				b.WriteString(manSummary + "\n")
			case "DESCRIPTION":
				b.WriteString(".nf\n")
				nofill = true
			}
			continue
		}
		if section == "NAME" {
			continue // replaced by manSummary
		}
		if strings.HasPrefix(l, "'") || (nofill && strings.HasPrefix(l, ".")) {
			l = `\&` + l
		}
		b.WriteString(l + "\n")
	}
	if nofill {
		b.WriteString(".fi\n")
	}
	return strings.TrimRight(b.String(), "\n") + "\n", nil
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// gzipBytes compresses at the highest level with an empty header (no name,
// no time), so the bytes depend only on the input.
func gzipBytes(data []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	if _, err := zw.Write(data); err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	return buf.Bytes(), nil
}
