package policy_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vpo-project/vpo/libs/policy"
)

const valid = "schema_version: 13\ndescription: d\nphases:\n  - name: a\n    keep_subtitles: {remove_all: true}\n"

// writeFiles writes name → content under dir.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestList(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"b.yaml":       valid,
		"a.yml":        valid,
		"broken.yaml":  "schema_version: 13\nphases: [\n",
		"later.yaml":   valid + "    transcode: {}\n",
		"notes.txt":    "not a policy",
		".hidden.yaml": valid,
		".yaml":        valid,
	})
	if err := os.Mkdir(filepath.Join(dir, "dir.yaml"), 0o755); err != nil {
		t.Fatal(err)
	}
	l, err := policy.List(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !l.Exists || l.Dir != dir {
		t.Errorf("Listing = %+v", l)
	}
	var names []string
	for _, e := range l.Entries {
		names = append(names, e.Name+"="+e.Filename)
		if e.Path != filepath.Join(dir, e.Filename) || e.ModTime.IsZero() {
			t.Errorf("entry %s: path %q, mtime %v", e.Name, e.Path, e.ModTime)
		}
		switch e.Name {
		case "broken":
			if e.Err == nil || e.Policy != nil || !strings.Contains(e.Err.Error(), e.Path) {
				t.Errorf("broken: Err %v, Policy %v", e.Err, e.Policy)
			}
		case "later":
			if e.Err != nil || e.Policy == nil || e.Policy.Check() == nil {
				t.Errorf("later: Err %v, Check must report transcode", e.Err)
			}
		default:
			if e.Err != nil || e.Policy == nil || e.Policy.Name != e.Name {
				t.Errorf("%s: Err %v, Policy %+v", e.Name, e.Err, e.Policy)
			}
		}
	}
	if got, want := strings.Join(names, " "), "a=a.yml b=b.yaml broken=broken.yaml later=later.yaml"; got != want {
		t.Errorf("entries %s, want %s", got, want)
	}
}

func TestListMissingDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "none")
	l, err := policy.List(dir)
	if err != nil || l.Exists || len(l.Entries) != 0 || l.Dir != dir {
		t.Errorf("List = %+v, %v", l, err)
	}
}

func TestListNotADir(t *testing.T) {
	path := filepath.Join(t.TempDir(), "file")
	writeFiles(t, filepath.Dir(path), map[string]string{"file": "x"})
	if _, err := policy.List(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("List of a file: %v", err)
	}
}

func TestFind(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"movies.yaml": valid, "shows.yml": valid, "twice.yaml": valid, "twice.yml": valid})
	other := filepath.Join(t.TempDir(), "elsewhere.yaml")
	writeFiles(t, filepath.Dir(other), map[string]string{"elsewhere.yaml": valid})
	tests := []struct {
		arg      string
		wantName string
		notFound bool
		errText  string
	}{
		{arg: "movies", wantName: "movies"},
		{arg: "shows", wantName: "shows"},
		{arg: other, wantName: "elsewhere"},
		{arg: "missing", notFound: true, errText: "no missing.yaml or missing.yml in " + dir},
		{arg: filepath.Join(dir, "missing.yaml"), notFound: true},
		{arg: "", notFound: true},
		{arg: "twice", errText: "ambiguous"},
	}
	for _, tt := range tests {
		t.Run(tt.arg, func(t *testing.T) {
			p, err := policy.Find(dir, tt.arg)
			if tt.wantName != "" {
				if err != nil || p.Name != tt.wantName {
					t.Fatalf("Find = %+v, %v", p, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Find succeeded: %+v", p)
			}
			if errors.Is(err, policy.ErrNotFound) != tt.notFound {
				t.Errorf("errors.Is(ErrNotFound) = %v, want %v: %v", !tt.notFound, tt.notFound, err)
			}
			if !strings.Contains(err.Error(), tt.errText) {
				t.Errorf("error %v, want it to say %q", err, tt.errText)
			}
		})
	}
}

func TestReadFileNotRegular(t *testing.T) {
	dir := t.TempDir()
	if _, err := policy.ReadFile(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("ReadFile of a directory: %v", err)
	}
}
