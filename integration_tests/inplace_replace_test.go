package integration_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// replaceFrenchDefaultPolicy only moves the default audio flag from eng to fre:
// an in-place mkvpropedit edit.
const replaceFrenchDefaultPolicy = "schema_version: 13\nconfig:\n  audio_languages: [fre]\nphases:\n" +
	"  - name: flags\n    default_flags:\n      set_preferred_audio_default: true\n      clear_other_defaults: true\n"

// TestApplyInPlaceNeverEditsAFileRenamedOverThePath: an mkvpropedit
// earlier on the daemon's PATH moves the planned file aside and renames
// another file over its path, then runs the real mkvpropedit. The edit
// must go to the file vpo opened and be undone there; the file now at the
// path must be byte for byte what it was, with its mtime.
func TestApplyInPlaceNeverEditsAFileRenamedOverThePath(t *testing.T) {
	needTools(t, "mkvpropedit")
	real, err := exec.LookPath("mkvpropedit")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	lib := filepath.Join(dir, "lib")
	src := filepath.Join(lib, "a.mkv")
	mkvFixture(t, src)
	orig, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	// The replacement: the same media with one byte of a frame changed
	// (mkvpropedit would edit it just as well), an older mtime.
	repl := filepath.Join(dir, "replacement.mkv")
	data := bytes.Clone(orig)
	data[len(data)/2] ^= 0xff
	if err := os.WriteFile(repl, data, 0o644); err != nil {
		t.Fatal(err)
	}
	replMT := time.Date(2021, 5, 6, 7, 8, 9, 0, time.UTC)
	if err := os.Chtimes(repl, replMT, replMT); err != nil {
		t.Fatal(err)
	}
	origSt, err := os.Stat(src)
	if err != nil {
		t.Fatal(err)
	}
	aside := filepath.Join(lib, "a.mkv.aside")
	wrap := filepath.Join(dir, "wrap")
	if err := os.MkdirAll(wrap, 0o755); err != nil {
		t.Fatal(err)
	}
	script := fmt.Sprintf("#!/bin/sh\ncase \"$*\" in *--edit*) if [ -e %q ]; then mv %q %q && mv %q %q || exit 9; fi ;; esac\nexec %q \"$@\"\n",
		repl, src, aside, repl, src, real)
	if err := os.WriteFile(filepath.Join(wrap, "mkvpropedit"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}

	pdir := filepath.Join(dir, "policies")
	d := start(t, startOpts{dir: dir, wait: true, env: []string{"PATH=" + wrap + ":" + os.Getenv("PATH")},
		extra: fmt.Sprintf("\n[policies]\ndir = %q\nmin_file_age = \"0s\"\n", pdir)})
	writePolicy(t, pdir, "fre.yaml", replaceFrenchDefaultPolicy)
	o := d.applyFile("fre", src, false)
	if o.Outcome != "skipped" || !strings.Contains(o.Reason, "was replaced by another file") {
		t.Errorf("outcome %q (%s), want skipped because the file was replaced", o.Outcome, o.Reason)
	}
	if _, err := os.Stat(repl); err == nil {
		t.Fatal("the wrapper did not run: the replacement was not moved")
	}
	for _, f := range []struct {
		what, path string
		want       []byte
		mtime      time.Time
	}{
		{"the file renamed over the path", src, data, replMT},
		{"the planned file, moved aside", aside, orig, origSt.ModTime()},
	} {
		got, err := os.ReadFile(f.path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, f.want) {
			t.Errorf("%s (%s) was changed", f.what, f.path)
		}
		if st, err := os.Stat(f.path); err != nil || !st.ModTime().Equal(f.mtime) {
			t.Errorf("%s (%s) has mtime %v (%v), want %v", f.what, f.path, st.ModTime(), err, f.mtime)
		}
	}
}
