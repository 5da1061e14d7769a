package policy_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

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
		"later.yaml":   valid + "    transcode: {video: {to: vp9}}\n",
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
			if errors.Is(err, policy.ErrAmbiguous) != (tt.errText == "ambiguous") {
				t.Errorf("errors.Is(ErrAmbiguous) = %v: %v", !(tt.errText == "ambiguous"), err)
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

// TestListAmbiguous: NAME.yaml and NAME.yml together are listed, each
// with the error Find gives for NAME, and neither is a usable policy.
func TestListAmbiguous(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"dup.yaml": valid, "dup.yml": valid, "one.yaml": valid})
	l, err := policy.List(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Entries) != 3 {
		t.Fatalf("entries %+v, want 3", l.Entries)
	}
	for _, e := range l.Entries {
		if e.Name == "one" {
			if e.Err != nil || e.Policy == nil {
				t.Errorf("one: Err %v, Policy %v", e.Err, e.Policy)
			}
			continue
		}
		if e.Policy != nil || e.Err == nil || !strings.Contains(e.Err.Error(), "ambiguous: both dup.yaml and dup.yml exist") ||
			!strings.HasPrefix(e.Err.Error(), e.Path+": ") {
			t.Errorf("%s: Err %v, Policy %v; want the ambiguity, naming the file", e.Filename, e.Err, e.Policy != nil)
		}
	}
}

// TestNotRegularDoesNotBlock: a FIFO named like a policy is "not a
// regular file" at once for List, ReadFile and Find; reading it would wait
// for a writer forever.
func TestNotRegularDoesNotBlock(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"ok.yaml": valid})
	fifo := filepath.Join(dir, "pipe.yaml")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var (
		l                         policy.Listing
		listErr, readErr, findErr error
	)
	go func() {
		defer close(done)
		l, listErr = policy.List(dir)
		_, readErr = policy.ReadFile(fifo)
		_, findErr = policy.Find(dir, "pipe")
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		// Not a time limit on the work: a read of the FIFO never returns.
		t.Fatal("List/ReadFile/Find of a FIFO blocked (it opened the FIFO before checking what it is)")
	}
	if listErr != nil || len(l.Entries) != 2 {
		t.Fatalf("List = %+v, %v", l, listErr)
	}
	for _, e := range l.Entries {
		if e.Name == "pipe" && (e.Err == nil || !strings.Contains(e.Err.Error(), fifo+": not a regular file")) {
			t.Errorf("pipe entry Err = %v", e.Err)
		}
	}
	for what, err := range map[string]error{"ReadFile": readErr, "Find": findErr} {
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("%s of a FIFO: %v", what, err)
		}
	}
}

func TestCheckName(t *testing.T) {
	tests := []struct {
		name, want string
	}{
		{"english", ""},
		{"keep-english_2.v1", ""},
		{"films ä", ""},
		{"", "empty"},
		{"/etc/shadow", `contains "/"`},
		{"../../etc/passwd", `contains "/"`},
		{"..", `starts with "."`},
		{".hidden", `starts with "."`},
		{"./outside", `contains "/"`},
		{"english.yaml", `ends in .yaml (the name is the file name without it: "english")`},
		{"english.yml", "ends in .yml"},
		{"eng\x00lish", "NUL byte (at byte 3)"},
		{"eng\nlish", "control character U+000A"},
		{"\xff", "not valid UTF-8"},
		{strings.Repeat("a", policy.MaxNameLen), ""},
		{strings.Repeat("a", 100*1024), "102400 bytes long"},
	}
	for _, tt := range tests {
		err := policy.CheckName(tt.name)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("CheckName(%.20q) = %v", tt.name, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, policy.ErrBadName)):
			t.Errorf("CheckName(%.20q) = %v, want ErrBadName saying %q", tt.name, err, tt.want)
		case err != nil && len(err.Error()) > 300:
			t.Errorf("CheckName(%.20q): message of %d bytes (the value must be cut)", tt.name, len(err.Error()))
		}
	}
}

// TestFindNameStaysInDir: FindName reads only dir/NAME.yaml|yml; paths,
// relative escapes and file names are refused even when the file exists.
func TestFindNameStaysInDir(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "policies")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFiles(t, root, map[string]string{"outside.yaml": valid})
	writeFiles(t, dir, map[string]string{"inside.yaml": valid})
	if p, err := policy.FindName(dir, "inside"); err != nil || p.Name != "inside" {
		t.Fatalf("FindName(inside) = %+v, %v", p, err)
	}
	for _, arg := range []string{filepath.Join(root, "outside.yaml"), "../outside", "../outside.yaml", "inside.yaml", "/etc/passwd", ""} {
		p, err := policy.FindName(dir, arg)
		if err == nil || !errors.Is(err, policy.ErrBadName) || !errors.Is(err, policy.ErrNotFound) {
			t.Errorf("FindName(%q) = %+v, %v; want ErrBadName and ErrNotFound", arg, p, err)
		}
	}
}
