package inplace_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/vpo-project/vpo/services/vpo/internal/inplace"
)

// longTitle does not fit in the Void padding ffmpeg leaves after Tracks:
// mkvpropedit has to move the Tracks element to the end of the file.
var longTitle = strings.Repeat("x", 3000)

// edit is one mkvpropedit edit and the tracks it gives the fixture.
type edit struct {
	args []string
	want []track
}

// flagsEdit swaps the default audio track, renames the second one and
// clears the subtitle's forced flag.
func flagsEdit(title string) edit {
	return edit{
		args: []string{
			"--edit", "track:a1", "--set", "flag-default=0",
			"--edit", "track:a2", "--set", "flag-default=1", "--set", "name=" + title,
			"--edit", "track:s1", "--set", "flag-forced=0",
		},
		want: []track{
			{Type: "audio", Title: "Main"},
			{Type: "audio", Title: title, Default: true},
			{Type: "subtitle", Title: "English"},
		},
	}
}

// original is what the fixture's audio and subtitle tracks are.
var original = []track{
	{Type: "audio", Title: "Main", Default: true},
	{Type: "audio", Title: "Commentary"},
	{Type: "subtitle", Title: "English", Forced: true},
}

// nonVideo drops the video track, whose flags the tests do not set.
func nonVideo(tracks []track) []track {
	var out []track
	for _, tr := range tracks {
		if tr.Type != "video" {
			out = append(out, tr)
		}
	}
	return out
}

// muxers are the makers of the fixtures the edits are tried on.
var muxers = []string{"ffmpeg", "mkvmerge", "ffmpeg-stream"}

// setup returns an editor with a journal directory and a fixture whose
// mtime is in the past, with the fixture's hash and mtime.
func setup(t *testing.T) (*inplace.Editor, string, string, time.Time) {
	t.Helper()
	return setupBy(t, "ffmpeg")
}

// setupBy is setup with the fixture made by muxer (see fixtureBy).
func setupBy(t *testing.T, muxer string) (*inplace.Editor, string, string, time.Time) {
	t.Helper()
	dir := t.TempDir()
	ed := &inplace.Editor{JournalDir: filepath.Join(dir, "journal", "inplace"), MkvPropEdit: tool(t, "mkvpropedit")}
	path := fixtureBy(t, dir, muxer)
	old := time.Date(2020, 1, 2, 3, 4, 5, 6000, time.UTC)
	if err := os.Chtimes(path, time.Time{}, old); err != nil {
		t.Fatal(err)
	}
	return ed, path, sum(t, path), old
}

// checkOriginal fails the test unless path is byte for byte the original
// with its mtime, and the journal is empty.
func checkOriginal(t *testing.T, ed *inplace.Editor, path, hash string, mt time.Time) {
	t.Helper()
	if got := sum(t, path); got != hash {
		t.Errorf("file not restored: sha256 %s, want %s", got, hash)
	}
	if got := mtime(t, path); !got.Equal(mt) {
		t.Errorf("mtime %v, want %v", got, mt)
	}
	if got := nonVideo(probe(t, path)); !reflect.DeepEqual(got, original) {
		t.Errorf("tracks %+v, want %+v", got, original)
	}
	if recs := records(t, ed.JournalDir); len(recs) != 0 {
		t.Errorf("journal holds %v, want nothing", recs)
	}
}

func TestEditApplies(t *testing.T) {
	for _, muxer := range muxers {
		for _, title := range []string{"Director", longTitle} {
			t.Run(muxer+"/"+title[:8], func(t *testing.T) {
				testEditApplies(t, muxer, title)
			})
		}
	}
}

func testEditApplies(t *testing.T, muxer, title string) {
	ed, path, hash, _ := setupBy(t, muxer)
	before, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	e := flagsEdit(title)
	verified := false
	err = ed.Edit(context.Background(), path, e.args, func(ctx context.Context) error {
		verified = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !verified {
		t.Error("verify was not called")
	}
	if got := nonVideo(probe(t, path)); !reflect.DeepEqual(got, e.want) {
		t.Errorf("tracks %+v, want %+v", got, e.want)
	}
	if sum(t, path) == hash {
		t.Error("file unchanged")
	}
	after, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(before, after) {
		t.Error("the file was replaced, not edited in place")
	}
	// ffmpeg leaves no room after Tracks (mkvmerge does, after the
	// SeekHead: its file keeps its size).
	if muxer == "ffmpeg" && title == longTitle && after.Size() <= before.Size() {
		t.Errorf("size %d → %d: the long title did not make mkvpropedit move Tracks to the end", before.Size(), after.Size())
	}
	if recs := records(t, ed.JournalDir); len(recs) != 0 {
		t.Errorf("journal holds %v after a successful edit", recs)
	}
}

func TestEditRestores(t *testing.T) {
	errVerify := errors.New("verify says no")
	tests := []struct {
		name  string
		muxer string // "" is ffmpeg
		// prepare returns the editor's mkvpropedit, the args and the
		// verify to use, and the context.
		prepare func(t *testing.T, real string) (string, []string, func(context.Context) error, context.Context)
		want    string
	}{
		{
			name: "verify fails",
			prepare: func(t *testing.T, real string) (string, []string, func(context.Context) error, context.Context) {
				return real, flagsEdit("Director").args, func(context.Context) error { return errVerify }, context.Background()
			},
			want: "verify: verify says no",
		},
		{
			name: "verify fails after Tracks moved to the end",
			prepare: func(t *testing.T, real string) (string, []string, func(context.Context) error, context.Context) {
				return real, flagsEdit(longTitle).args, func(context.Context) error { return errVerify }, context.Background()
			},
			want: "verify: verify says no",
		},
		{
			name:  "verify fails, mkvmerge's file",
			muxer: "mkvmerge",
			prepare: func(t *testing.T, real string) (string, []string, func(context.Context) error, context.Context) {
				return real, flagsEdit(longTitle).args, func(context.Context) error { return errVerify }, context.Background()
			},
			want: "verify: verify says no",
		},
		{
			name:  "verify fails, a Segment of unknown size",
			muxer: "ffmpeg-stream",
			prepare: func(t *testing.T, real string) (string, []string, func(context.Context) error, context.Context) {
				return real, flagsEdit(longTitle).args, func(context.Context) error { return errVerify }, context.Background()
			},
			want: "verify: verify says no",
		},
		{
			name: "mkvpropedit refuses",
			prepare: func(t *testing.T, real string) (string, []string, func(context.Context) error, context.Context) {
				return real, []string{"--edit", "track:a9", "--set", "flag-default=1"}, nil, context.Background()
			},
			want: "mkvpropedit: exit status 2: ",
		},
		{
			name: "mkvpropedit fails after writing",
			prepare: func(t *testing.T, real string) (string, []string, func(context.Context) error, context.Context) {
				return script(t, `"`+real+`" "$@"; echo "Error: simulated failure"; exit 2`), flagsEdit(longTitle).args, nil, context.Background()
			},
			want: "Error: simulated failure",
		},
		{
			name: "context ends while mkvpropedit runs",
			prepare: func(t *testing.T, real string) (string, []string, func(context.Context) error, context.Context) {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				t.Cleanup(cancel)
				return script(t, `"`+real+`" "$@"; exec sleep 60`), flagsEdit(longTitle).args, nil, ctx
			},
			want: "context deadline exceeded",
		},
		{
			name: "context ends during verify",
			prepare: func(t *testing.T, real string) (string, []string, func(context.Context) error, context.Context) {
				ctx, cancel := context.WithCancel(context.Background())
				t.Cleanup(cancel)
				return real, flagsEdit("Director").args, func(context.Context) error { cancel(); return nil }, ctx
			},
			want: "context canceled",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			muxer := tt.muxer
			if muxer == "" {
				muxer = "ffmpeg"
			}
			ed, path, hash, mt := setupBy(t, muxer)
			mkvpropedit, args, verify, ctx := tt.prepare(t, ed.MkvPropEdit)
			ed.MkvPropEdit = mkvpropedit
			err := ed.Edit(ctx, path, args, verify)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "original restored") {
				t.Fatalf("Edit error %v, want one with %q and \"original restored\"", err, tt.want)
			}
			t.Logf("Edit: %v", err)
			if tt.name == "verify fails" && !errors.Is(err, errVerify) {
				t.Errorf("error %v does not wrap verify's", err)
			}
			checkOriginal(t, ed, path, hash, mt)
		})
	}
}

// script writes an executable shell script and returns its path.
func script(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "tool.sh")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestEditRefusesWithoutTouching(t *testing.T) {
	dir := t.TempDir()
	ed := &inplace.Editor{JournalDir: filepath.Join(dir, "journal"), MkvPropEdit: "/nonexistent/mkvpropedit"}
	notMKV := filepath.Join(dir, "film.mp4")
	if err := os.WriteFile(notMKV, []byte("\x00\x00\x00\x20ftypisom...."), 0o644); err != nil {
		t.Fatal(err)
	}
	err := ed.Edit(context.Background(), notMKV, []string{"--edit", "track:a1", "--set", "flag-default=1"}, nil)
	if !errors.Is(err, inplace.ErrLayout) || !strings.Contains(err.Error(), notMKV) {
		t.Errorf("Edit of an MP4: %v, want ErrLayout naming the file", err)
	}
	err = ed.Edit(context.Background(), filepath.Join(dir, "missing.mkv"), nil, nil)
	if err == nil || !strings.Contains(err.Error(), "missing.mkv") {
		t.Errorf("Edit of a missing file: %v", err)
	}
	if err := ed.Edit(context.Background(), dir, nil, nil); err == nil || !strings.Contains(err.Error(), dir) {
		t.Errorf("Edit of a directory: %v", err)
	}
	if recs := records(t, ed.JournalDir); len(recs) != 0 {
		t.Errorf("journal holds %v", recs)
	}
}

func TestEditRefusesOverTheBound(t *testing.T) {
	ed, path, hash, mt := setup(t)
	ed.MaxSaved = 1000
	err := ed.Edit(context.Background(), path, flagsEdit("Director").args, nil)
	if !errors.Is(err, inplace.ErrLayout) || !strings.Contains(err.Error(), "more than 1000 bytes of headers and metadata to save") || !strings.Contains(err.Error(), path) {
		t.Errorf("Edit: %v, want ErrLayout naming the file and the bound", err)
	}
	checkOriginal(t, ed, path, hash, mt)
}

// crash runs an edit that stops dead in verify (its goroutine exits, as if
// vpo were killed there): mkvpropedit has run, the record is written, the
// file is not restored.
func crash(t *testing.T, ed *inplace.Editor, path string, args []string) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = ed.Edit(context.Background(), path, args, func(context.Context) error {
			runtime.Goexit()
			return nil
		})
		t.Error("Edit returned after its goroutine exited")
	}()
	<-done
}

func TestRecoverAfterCrash(t *testing.T) {
	for _, muxer := range muxers {
		for _, title := range []string{"Director", longTitle} {
			t.Run(muxer+"/"+title[:8], func(t *testing.T) {
				testRecoverAfterCrash(t, muxer, title)
			})
		}
	}
}

func testRecoverAfterCrash(t *testing.T, muxer, title string) {
	ed, path, hash, mt := setupBy(t, muxer)
	crash(t, ed, path, flagsEdit(title).args)
	if sum(t, path) == hash {
		t.Fatal("the crashed edit left the file unchanged: nothing to recover")
	}
	recs := records(t, ed.JournalDir)
	if len(recs) != 1 {
		t.Fatalf("journal holds %v, want one record", recs)
	}
	record, err := os.ReadFile(filepath.Join(ed.JournalDir, recs[0]))
	if err != nil {
		t.Fatal(err)
	}
	restored, err := ed.Recover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(restored, []string{path}) {
		t.Errorf("Recover = %v, want [%s]", restored, path)
	}
	checkOriginal(t, ed, path, hash, mt)

	// A crash after the restore but before the record was removed:
	// the next Recover restores again, to the same bytes.
	if err := os.WriteFile(filepath.Join(ed.JournalDir, recs[0]), record, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ed.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	checkOriginal(t, ed, path, hash, mt)
	if restored, err := ed.Recover(context.Background()); err != nil || len(restored) != 0 {
		t.Errorf("Recover with nothing to do = %v, %v", restored, err)
	}
}

// mkvpropedit exits 1 when it only warned: the edit was written, and
// verify decides.
func TestEditWarningsAreNoFailure(t *testing.T) {
	ed, path, _, _ := setup(t)
	logger, hook := logtest.NewNullLogger()
	ed.Logger = logrus.NewEntry(logger)
	ed.MkvPropEdit = script(t, `"`+ed.MkvPropEdit+`" "$@" || exit 2; echo "Warning: simulated warning"; exit 1`)
	e := flagsEdit("Director")
	if err := ed.Edit(context.Background(), path, e.args, nil); err != nil {
		t.Fatal(err)
	}
	if got := nonVideo(probe(t, path)); !reflect.DeepEqual(got, e.want) {
		t.Errorf("tracks %+v, want %+v", got, e.want)
	}
	if entries := hook.AllEntries(); len(entries) != 1 || !strings.Contains(entries[0].Message, "Warning: simulated warning") || entries[0].Data["path"] != path {
		t.Errorf("log %v, want mkvpropedit's warning with the path", entries)
	}
	if recs := records(t, ed.JournalDir); len(recs) != 0 {
		t.Errorf("journal holds %v", recs)
	}
}

func TestEditRefusesWhileAnotherEditIsPending(t *testing.T) {
	ed, path, _, _ := setup(t)
	crash(t, ed, path, flagsEdit("Director").args)
	crashed := sum(t, path)
	pending := records(t, ed.JournalDir)

	err := ed.Edit(context.Background(), path, flagsEdit(longTitle).args, nil)
	if !errors.Is(err, inplace.ErrBusy) || !strings.Contains(err.Error(), pending[0]) || !strings.Contains(err.Error(), path) {
		t.Errorf("Edit: %v, want ErrBusy naming the file and the pending record %s", err, pending[0])
	}
	if sum(t, path) != crashed {
		t.Error("the refused edit changed the file")
	}
	if got := records(t, ed.JournalDir); !reflect.DeepEqual(got, pending) {
		t.Errorf("journal holds %v, want only %v", got, pending)
	}

	// Another file is not held up by it.
	other := filepath.Join(filepath.Dir(path), "other.mkv")
	copyFile(t, path, other)
	if err := ed.Edit(context.Background(), other, flagsEdit("Other").args, nil); err != nil {
		t.Errorf("Edit of another file: %v", err)
	}
}

func TestEditErrorKeepsTheEndOfTheOutput(t *testing.T) {
	ed, path, hash, mt := setup(t)
	ed.MkvPropEdit = script(t, `i=0; while [ $i -lt 500 ]; do echo "progress line $i"; i=$((i+1)); done; echo "Error: the real reason"; exit 2`)
	err := ed.Edit(context.Background(), path, nil, nil)
	if err == nil || !strings.HasSuffix(err.Error(), "Error: the real reason") || len(err.Error()) > 3000 {
		t.Errorf("Edit error (%d bytes) %v, want a bounded one ending with mkvpropedit's last line", len(fmt.Sprint(err)), err)
	}
	checkOriginal(t, ed, path, hash, mt)
}

// TestEditErrorNamesThePath: mkvpropedit edits /proc/self/fd/3; its
// messages name the file by the path Edit was given.
func TestEditErrorNamesThePath(t *testing.T) {
	ed, path, hash, mt := setup(t)
	ed.MkvPropEdit = script(t, `echo "Error: The file '$1' could not be opened for writing."; exit 2`)
	err := ed.Edit(context.Background(), path, nil, nil)
	want := "Error: The file '" + path + "' could not be opened for writing."
	if err == nil || !strings.HasSuffix(err.Error(), want) {
		t.Errorf("Edit error %v, want one ending with %q", err, want)
	}
	checkOriginal(t, ed, path, hash, mt)
}

// TestEditNeverTouchesAFileRenamedOverThePath renames another file over
// the path while mkvpropedit starts (its wrapper does it, then runs the
// real one): the edit must go to the file Edit opened, be undone there,
// and leave the file now at the path byte for byte as it was.
func TestEditNeverTouchesAFileRenamedOverThePath(t *testing.T) {
	tests := []struct {
		name string
		// moveAside keeps the original under path+".moved" (otherwise it
		// is unlinked by the rename).
		moveAside bool
	}{
		{name: "original moved aside", moveAside: true},
		{name: "original unlinked"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ed, path, hash, mt := setup(t)
			repl := filepath.Join(t.TempDir(), "replacement.mkv")
			copyFile(t, path, repl)
			replMT := time.Date(2021, 5, 6, 7, 8, 9, 0, time.UTC)
			if err := os.Chtimes(repl, time.Time{}, replMT); err != nil {
				t.Fatal(err)
			}
			moved := path + ".moved"
			body := ""
			if tt.moveAside {
				body = `mv '` + path + `' '` + moved + `' || exit 9` + "\n"
			}
			body += `mv '` + repl + `' '` + path + `' || exit 9` + "\n" + `exec '` + ed.MkvPropEdit + `' "$@"`
			ed.MkvPropEdit = script(t, body)
			verified := false
			err := ed.Edit(context.Background(), path, flagsEdit(longTitle).args, func(context.Context) error {
				verified = true
				return nil
			})
			if err == nil || !strings.Contains(err.Error(), "was replaced by another file") || !strings.Contains(err.Error(), "original restored") {
				t.Fatalf("Edit error %v, want one saying the file was replaced and the original restored", err)
			}
			t.Logf("Edit: %v", err)
			if verified {
				t.Error("verify was called for a file that is no longer at the path")
			}
			// The replacement is the fixture's copy with another mtime.
			if got := sum(t, path); got != hash {
				t.Errorf("the file renamed over the path was changed: sha256 %s, want %s", got, hash)
			}
			if got := mtime(t, path); !got.Equal(replMT) {
				t.Errorf("the file renamed over the path has mtime %v, want %v", got, replMT)
			}
			if got := nonVideo(probe(t, path)); !reflect.DeepEqual(got, original) {
				t.Errorf("the file renamed over the path has tracks %+v, want %+v", got, original)
			}
			if tt.moveAside {
				checkOriginal(t, ed, moved, hash, mt)
			} else if recs := records(t, ed.JournalDir); len(recs) != 0 {
				t.Errorf("journal holds %v, want nothing", recs)
			}
		})
	}
}
