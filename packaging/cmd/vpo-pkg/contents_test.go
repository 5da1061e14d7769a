package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goreleaser/nfpm/v2"
	"github.com/goreleaser/nfpm/v2/files"
)

func TestExpandGlobs(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "real")
	staged := filepath.Join(dir, "staged") // as Bazel stages inputs: symlinks
	for _, d := range []string{real, staged} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"b.yaml", "a.yaml", "notes.txt"} {
		if err := os.WriteFile(filepath.Join(real, name), []byte(name), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join(real, name), filepath.Join(staged, name)); err != nil {
			t.Fatal(err)
		}
	}
	pattern := filepath.Join(staged, "*.yaml")
	tests := []struct {
		name    string
		in      files.Contents
		want    []string // type src dst mode, one a content
		wantErr string
	}{
		{
			name: "a pattern becomes one content per file, in name order, resolved",
			in: files.Contents{
				{Source: pattern, Destination: "/usr/share/doc/vpo/examples/policies/", Type: files.TypeRPMDoc,
					Packager: "rpm", FileInfo: &files.ContentFileInfo{Mode: 0o644}},
			},
			want: []string{
				"doc " + filepath.Join(real, "a.yaml") + " /usr/share/doc/vpo/examples/policies/a.yaml -rw-r--r-- rpm",
				"doc " + filepath.Join(real, "b.yaml") + " /usr/share/doc/vpo/examples/policies/b.yaml -rw-r--r-- rpm",
			},
		},
		{
			name: "plain sources and directories are kept as they are",
			in: files.Contents{
				{Destination: "/etc/vpo/policies", Type: files.TypeDir, FileInfo: &files.ContentFileInfo{Mode: 0o750}},
				{Source: filepath.Join(staged, "notes.txt"), Destination: "/usr/share/doc/vpo/notes.txt"},
			},
			want: []string{
				"dir  /etc/vpo/policies -rwxr-x--- ",
				" " + filepath.Join(real, "notes.txt") + " /usr/share/doc/vpo/notes.txt ---------- ",
			},
		},
		{
			name:    "a pattern that matches nothing is an error naming it",
			in:      files.Contents{{Source: filepath.Join(staged, "*.yml"), Destination: "/usr/share/doc/vpo/examples/policies/"}},
			wantErr: `source pattern "` + filepath.Join(staged, "*.yml") + `" of /usr/share/doc/vpo/examples/policies/ matches no file`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info := &nfpm.Info{Overridables: nfpm.Overridables{Contents: tt.in}}
			err := expandGlobs(info)
			if err == nil {
				err = resolveSources(info)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range info.Contents {
				mode := os.FileMode(0)
				if c.FileInfo != nil {
					mode = c.FileInfo.Mode
				}
				got = append(got, strings.Join([]string{c.Type, c.Source, c.Destination, mode.String(), c.Packager}, " "))
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("contents:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
	// The expanded contents do not share FileInfo: nfpm sets sizes per file.
	info := &nfpm.Info{Overridables: nfpm.Overridables{Contents: files.Contents{
		{Source: pattern, Destination: "/x/", FileInfo: &files.ContentFileInfo{Mode: 0o644}},
	}}}
	if err := expandGlobs(info); err != nil {
		t.Fatal(err)
	}
	if info.Contents[0].FileInfo == info.Contents[1].FileInfo {
		t.Error("expanded contents share one FileInfo")
	}
}
