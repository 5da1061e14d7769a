package apply_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vpo-project/vpo/libs/policy"
	"github.com/vpo-project/vpo/services/vpo/internal/apply"
	"github.com/vpo-project/vpo/services/vpo/internal/inplace"
)

// replacingTool writes a script that runs the real tool name with its
// arguments and then, when it wrote a temporary file (or always, for
// mkvpropedit, which edits the file itself), moves replacement over path:
// someone replaces the file while vpo works on it.
func replacingTool(t *testing.T, name, replacement, path string) string {
	t.Helper()
	real, err := exec.LookPath(name)
	if err != nil {
		t.Fatal(err)
	}
	cond := `case "$*" in *vpo-tmp*) ;; *) exit 0 ;; esac`
	if name == "mkvpropedit" {
		cond = ""
	}
	tool := filepath.Join(t.TempDir(), name)
	script := fmt.Sprintf("#!/bin/sh\n%q \"$@\"\nrc=$?\n[ $rc -le 1 ] || exit $rc\n%s\nmv -f %q %q\nexit $rc\n", real, cond, replacement, path)
	if err := os.WriteFile(tool, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return tool
}

func TestFileReplacedDuringTheApplyIsLeftAlone(t *testing.T) {
	for _, tc := range []struct {
		name      string
		fixture   string
		container string
		tool      string
		inPlace   bool
		edit      func(ts []policy.TargetTrack) []policy.TargetTrack
	}{
		{name: "mkvmerge", fixture: fixtureMKV, container: "mkv", tool: "mkvmerge", edit: dropJapanese},
		{name: "ffmpeg", fixture: fixtureMP4, container: "mp4", tool: "ffmpeg",
			edit: func(ts []policy.TargetTrack) []policy.TargetTrack { return pick(ts, 0, 1, 2) }},
		{name: "ffmpeg to another container", fixture: fixtureMP4, container: "mkv", tool: "ffmpeg",
			edit: func(ts []policy.TargetTrack) []policy.TargetTrack { return pick(ts, 0, 1) }},
		{name: "mkvpropedit in place", fixture: fixtureMKV, container: "mkv", tool: "mkvpropedit", inPlace: true,
			edit: func(ts []policy.TargetTrack) []policy.TargetTrack {
				ts[1].Default, ts[3].Default = false, true
				ts[2].Title = ""
				return ts
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := fixture(t, tc.fixture)
			dir := filepath.Dir(path)
			// Another cut of the file: same size, same mtime, other bytes.
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			data[len(data)/2] ^= 0xff
			replacement := filepath.Join(dir, "replacement")
			if err := os.WriteFile(replacement, data, 0o644); err != nil {
				t.Fatal(err)
			}
			st, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Chtimes(replacement, st.ModTime(), st.ModTime()); err != nil {
				t.Fatal(err)
			}
			tool := replacingTool(t, tc.tool, replacement, path)
			jdir := filepath.Join(t.TempDir(), "journal")
			opts := apply.Options{JournalDir: jdir}
			switch tc.tool {
			case "mkvmerge":
				opts.Tools.MkvMerge = tool
			case "ffmpeg":
				opts.Tools.FFmpeg = tool
			}
			if tc.inPlace {
				opts.InPlace = &inplace.Editor{JournalDir: filepath.Join(jdir, "inplace"), MkvPropEdit: tool}
			}
			e, err := apply.New(opts)
			if err != nil {
				t.Fatal(err)
			}
			req := request(t, e, path, tc.container, tc.edit)
			req.KeepOriginal = true
			_, err = e.Apply(context.Background(), req)
			if !errors.Is(err, apply.ErrChanged) {
				t.Fatalf("error %v, want ErrChanged", err)
			}
			if errors.Is(err, apply.ErrPermanent) {
				t.Errorf("error %q matches ErrPermanent; a changed file is tried again", err)
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, data) {
				t.Errorf("the file that replaced %s was overwritten or changed", path)
			}
			assertClean(t, dir, jdir)
			if n := names(t, dir); len(n) != 1 {
				t.Errorf("directory holds %v, want only %s", n, filepath.Base(path))
			}
		})
	}
}

// TestFileReplacedAtTheLastMomentGetsItsNameBack: a file that takes the
// path after the last check, just before the result's rename, is found in
// the result's place by the exchange of names, and gets its name back.
func TestFileReplacedAtTheLastMomentGetsItsNameBack(t *testing.T) {
	for _, keep := range []bool{false, true} {
		t.Run(fmt.Sprintf("keep original %v", keep), func(t *testing.T) {
			path := fixture(t, fixtureMKV)
			dir := filepath.Dir(path)
			replacement := filepath.Join(dir, "replacement")
			data := []byte("another cut")
			if err := os.WriteFile(replacement, data, 0o644); err != nil {
				t.Fatal(err)
			}
			e, jdir := newExecutor(t, nil)
			apply.SetBeforeReplace(e, func(p string) {
				if err := os.Rename(replacement, p); err != nil {
					t.Error(err)
				}
			})
			req := request(t, e, path, "mkv", dropJapanese)
			req.KeepOriginal = keep
			_, err := e.Apply(context.Background(), req)
			if !errors.Is(err, apply.ErrChanged) {
				t.Fatalf("error %v, want ErrChanged", err)
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, data) {
				t.Errorf("%s holds %d bytes, not the file that replaced it", path, len(got))
			}
			assertClean(t, dir, jdir)
			if n := names(t, dir); len(n) != 1 {
				t.Errorf("directory holds %v, want only %s", n, filepath.Base(path))
			}
		})
	}
}

// replacingEditor moves replacement over the path, then runs the real
// in-place editor: a file that takes the path between vpo's last check
// and the editor's open.
type replacingEditor struct {
	inplace.Editor
	replacement string
}

func (r *replacingEditor) Edit(ctx context.Context, path string, args []string, verify func(context.Context) error) error {
	if err := os.Rename(r.replacement, path); err != nil {
		return err
	}
	return r.Editor.Edit(ctx, path, args, verify)
}

// TestFileReplacedBeforeTheInPlaceEditIsRestored: the editor opened and
// edited the file that took the path; the check it calls finds another
// inode than the one planned, so the edit is undone (ErrChanged) and the
// replacement is byte for byte as it was, with its mtime.
func TestFileReplacedBeforeTheInPlaceEditIsRestored(t *testing.T) {
	path := fixture(t, fixtureMKV)
	dir := filepath.Dir(path)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// The same media, one byte of a frame changed: mkvpropedit edits it.
	data[len(data)/2] ^= 0xff
	replacement := filepath.Join(dir, "replacement")
	if err := os.WriteFile(replacement, data, 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(replacement, st.ModTime(), st.ModTime()); err != nil {
		t.Fatal(err)
	}
	jdir := filepath.Join(t.TempDir(), "journal")
	ed := &replacingEditor{Editor: inplace.Editor{JournalDir: filepath.Join(jdir, "inplace")}, replacement: replacement}
	e, err := apply.New(apply.Options{JournalDir: jdir, InPlace: ed})
	if err != nil {
		t.Fatal(err)
	}
	req := request(t, e, path, "mkv", func(ts []policy.TargetTrack) []policy.TargetTrack {
		ts[1].Default, ts[3].Default = false, true
		return ts
	})
	_, err = e.Apply(context.Background(), req)
	if !errors.Is(err, apply.ErrChanged) {
		t.Fatalf("error %v, want ErrChanged", err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Errorf("the file that replaced %s was left edited", path)
	}
	if now, err := os.Stat(path); err != nil || !now.ModTime().Equal(st.ModTime()) {
		t.Errorf("the replacement's mtime is not restored: %v, %v", now, err)
	}
	assertClean(t, dir, jdir)
}

// TestFileReplacedAsMkvpropeditStartsIsNotTouched: a file renamed over the
// path after the editor opened and saved the planned one, just before
// mkvpropedit opens its file (its wrapper does the renames, then runs the
// real one). mkvpropedit edits the opened file, not the replacement; the
// verification finds another file at the path, so the edit is undone on
// the opened file (ErrChanged). Both files end byte for byte as they were.
func TestFileReplacedAsMkvpropeditStartsIsNotTouched(t *testing.T) {
	path := fixture(t, fixtureMKV)
	dir := filepath.Dir(path)
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	// The same media, one byte of a frame changed: mkvpropedit would
	// edit it as well.
	data := bytes.Clone(orig)
	data[len(data)/2] ^= 0xff
	replacement := filepath.Join(dir, "replacement")
	if err := os.WriteFile(replacement, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(replacement, st.ModTime(), st.ModTime()); err != nil {
		t.Fatal(err)
	}
	real, err := exec.LookPath("mkvpropedit")
	if err != nil {
		t.Fatal(err)
	}
	aside := filepath.Join(dir, "moved-aside")
	tool := filepath.Join(t.TempDir(), "mkvpropedit")
	script := fmt.Sprintf("#!/bin/sh\nmv %q %q || exit 9\nmv %q %q || exit 9\nexec %q \"$@\"\n", path, aside, replacement, path, real)
	if err := os.WriteFile(tool, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	jdir := filepath.Join(t.TempDir(), "journal")
	e, err := apply.New(apply.Options{JournalDir: jdir, InPlace: &inplace.Editor{JournalDir: filepath.Join(jdir, "inplace"), MkvPropEdit: tool}})
	if err != nil {
		t.Fatal(err)
	}
	req := request(t, e, path, "mkv", func(ts []policy.TargetTrack) []policy.TargetTrack {
		ts[1].Default, ts[3].Default = false, true
		return ts
	})
	_, err = e.Apply(context.Background(), req)
	if !errors.Is(err, apply.ErrChanged) {
		t.Fatalf("error %v, want ErrChanged", err)
	}
	t.Logf("Apply: %v", err)
	for _, f := range []struct {
		what, path string
		want       []byte
	}{
		{"the file renamed over the path", path, data},
		{"the planned file, moved aside", aside, orig},
	} {
		got, err := os.ReadFile(f.path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, f.want) {
			t.Errorf("%s (%s) was changed", f.what, f.path)
		}
		if now, err := os.Stat(f.path); err != nil || !now.ModTime().Equal(st.ModTime()) {
			t.Errorf("%s (%s) has another mtime: %v, want %v (%v)", f.what, f.path, now.ModTime(), st.ModTime(), err)
		}
	}
	assertClean(t, dir, jdir)
	if n := names(t, filepath.Join(jdir, "inplace")); len(n) != 0 {
		t.Errorf("undo records left: %v", n)
	}
}

// replacedAfterEditor runs the real in-place editor, then, when the edit
// succeeded, moves replacement over the path: a file that takes the name
// right after the edit, before vpo sets the edited file's times back.
type replacedAfterEditor struct {
	inplace.Editor
	replacement string
}

func (r *replacedAfterEditor) Edit(ctx context.Context, path string, args []string, verify func(context.Context) error) error {
	if err := r.Editor.Edit(ctx, path, args, verify); err != nil {
		return err
	}
	return os.Rename(r.replacement, path)
}

// TestFileReplacedRightAfterTheInPlaceEditIsNotTouched: the times the
// edited file had are set on that file, never on one that took its name
// after the edit; that is reported as ErrChanged.
func TestFileReplacedRightAfterTheInPlaceEditIsNotTouched(t *testing.T) {
	path := fixture(t, fixtureMKV)
	dir := filepath.Dir(path)
	replacement := filepath.Join(dir, "replacement")
	data := []byte("another cut")
	if err := os.WriteFile(replacement, data, 0o644); err != nil {
		t.Fatal(err)
	}
	replMT := time.Date(2021, 5, 6, 7, 8, 9, 0, time.UTC)
	if err := os.Chtimes(replacement, replMT, replMT); err != nil {
		t.Fatal(err)
	}
	jdir := filepath.Join(t.TempDir(), "journal")
	ed := &replacedAfterEditor{Editor: inplace.Editor{JournalDir: filepath.Join(jdir, "inplace")}, replacement: replacement}
	e, err := apply.New(apply.Options{JournalDir: jdir, InPlace: ed})
	if err != nil {
		t.Fatal(err)
	}
	req := request(t, e, path, "mkv", func(ts []policy.TargetTrack) []policy.TargetTrack {
		ts[1].Default, ts[3].Default = false, true
		return ts
	})
	_, err = e.Apply(context.Background(), req)
	if !errors.Is(err, apply.ErrChanged) || !strings.Contains(err.Error(), "another file took its name") {
		t.Errorf("error %v, want ErrChanged saying another file took the name", err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Errorf("the file that took the name %s was changed", path)
	}
	if now, err := os.Stat(path); err != nil || !now.ModTime().Equal(replMT) {
		t.Errorf("the file that took the name has mtime %v (%v), want %v", now.ModTime(), err, replMT)
	}
	assertClean(t, dir, jdir)
}
