package apply_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vpo-project/vpo/services/vpo/internal/apply"
)

// slowTool writes a script that, run as ffmpeg or mkvmerge, writes to its
// output file (its last argument, or the one after --output), creates
// started and sleeps: a tool caught in the middle of its work. Run with
// -J, it prints the file identify (real mkvmerge's answer).
func slowTool(t *testing.T, identify string) (tool, started string) {
	t.Helper()
	dir := t.TempDir()
	tool, started = filepath.Join(dir, "slow-tool"), filepath.Join(dir, "started")
	script := fmt.Sprintf(`#!/bin/sh
[ "$1" = -J ] && exec cat %q
out=""
prev=""
for a in "$@"; do
	[ "$prev" = "--output" ] && out="$a"
	prev="$a"
done
[ -n "$out" ] || out="$prev"
printf 'partial output' > "$out"
: > %q
exec sleep 60
`, identify, started)
	if err := os.WriteFile(tool, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return tool, started
}

// waitFile waits until path exists.
func waitFile(t *testing.T, path string) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(path); err == nil {
			return
		}
	}
	t.Fatalf("%s did not appear", path)
}

// tempFiles returns the temporary files in dir.
func tempFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	for _, n := range names(t, dir) {
		if apply.IsTempName(n) {
			out = append(out, filepath.Join(dir, n))
		}
	}
	return out
}

func TestCancelAndBusy(t *testing.T) {
	path := fixture(t, fixtureMKV)
	dir := filepath.Dir(path)
	identify, err := exec.Command("mkvmerge", "-J", path).Output()
	if err != nil {
		t.Fatal(err)
	}
	answer := filepath.Join(t.TempDir(), "identify.json")
	if err := os.WriteFile(answer, identify, 0o644); err != nil {
		t.Fatal(err)
	}
	tool, started := slowTool(t, answer)
	jdir := filepath.Join(t.TempDir(), "journal")
	e, err := apply.New(apply.Options{JournalDir: jdir, Tools: apply.Tools{MkvMerge: tool}})
	if err != nil {
		t.Fatal(err)
	}
	probe, _ := newExecutor(t, nil)
	req := request(t, probe, path, "mkv", dropJapanese)
	before := sum(t, path)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := e.Apply(ctx, req)
		done <- err
	}()
	waitFile(t, started)
	temps := tempFiles(t, dir)
	if len(temps) != 1 {
		t.Fatalf("temporary files during the apply: %v", temps)
	}
	if b, _ := os.ReadFile(temps[0]); string(b) != "partial output" {
		t.Fatalf("the tool did not write to the temporary file %s", temps[0])
	}
	if n := names(t, jdir); len(n) != 1 {
		t.Errorf("journal during the apply: %v", n)
	}

	// A second apply of the same file meanwhile.
	_, err = e.Apply(context.Background(), req)
	if !errors.Is(err, apply.ErrBusy) {
		t.Errorf("second apply: %v, want ErrBusy", err)
	}

	cancel()
	select {
	case err = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("apply did not return after its context was cancelled")
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled apply: %v, want context.Canceled", err)
	}
	if sum(t, path) != before {
		t.Error("the original changed")
	}
	assertClean(t, dir, jdir)
	if n := names(t, dir); len(n) != 1 {
		t.Errorf("directory holds %v", n)
	}
	// The path is free again.
	if _, err := e.Apply(context.Background(), request(t, probe, path, "mkv", nil)); err != nil {
		t.Errorf("apply after the cancel: %v", err)
	}
}

func TestRecoverRemovesOnlyRecordedTempFiles(t *testing.T) {
	path := fixture(t, fixtureMKV)
	dir := filepath.Dir(path)
	tool, started := slowTool(t, "/dev/null")
	probe, _ := newExecutor(t, nil)
	req := request(t, probe, path, "mp4", toMP4)
	req.KeepOriginal = true
	jdir := filepath.Join(t.TempDir(), "journal")
	before := sum(t, path)
	// A look-alike that no journal records, and a user's file.
	lookAlike := filepath.Join(dir, ".sample.vpo-tmp-0123456789abcdef.mkv")
	if err := os.WriteFile(lookAlike, []byte("not ours"), 0o644); err != nil {
		t.Fatal(err)
	}
	child := startChild(t, childSpec{JournalDir: jdir, Tools: apply.Tools{FFmpeg: tool}, Request: req})
	waitFile(t, started)
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = child.Wait()
	temps := tempFiles(t, dir)
	if len(temps) != 2 {
		t.Fatalf("temporary files after the kill: %v, want the apply's and the look-alike", temps)
	}

	e, err := apply.New(apply.Options{JournalDir: jdir})
	if err != nil {
		t.Fatal(err)
	}
	removed, err := e.Recover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var orphan string
	for _, p := range temps {
		if p != lookAlike {
			orphan = p
		}
	}
	if len(removed) != 1 || removed[0] != orphan {
		t.Errorf("Recover removed %v, want [%s]", removed, orphan)
	}
	if b, err := os.ReadFile(lookAlike); err != nil || string(b) != "not ours" {
		t.Errorf("the look-alike %s: %q, %v", lookAlike, b, err)
	}
	if sum(t, path) != before {
		t.Error("the original changed")
	}
	assertCleanJournal(t, jdir)
	// Recover again: nothing more to do.
	if removed, err := e.Recover(context.Background()); err != nil || len(removed) != 0 {
		t.Errorf("second Recover: %v, %v", removed, err)
	}
}

// assertCleanJournal fails when jdir holds a record.
func assertCleanJournal(t *testing.T, jdir string) {
	t.Helper()
	for _, n := range names(t, jdir) {
		if strings.HasSuffix(n, ".intent") {
			t.Errorf("journal record left: %s", n)
		}
	}
}

func TestRecoverCallsTheInPlaceEditor(t *testing.T) {
	ed := &recoveringEditor{restored: []string{"/library/a.mkv"}}
	e, _ := newExecutor(t, ed)
	got, err := e.Recover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != "/library/a.mkv" || !ed.called {
		t.Errorf("Recover: %v (editor called: %v)", got, ed.called)
	}
}

// recoveringEditor records a call of Recover.
type recoveringEditor struct {
	propEditor
	restored []string
	called   bool
}

func (r *recoveringEditor) Recover(ctx context.Context) ([]string, error) {
	r.called = true
	return r.restored, nil
}

func TestFileWrittenDuringTheRewriteIsLeftAlone(t *testing.T) {
	path := fixture(t, fixtureMKV)
	dir := filepath.Dir(path)
	mkvmerge, err := exec.LookPath("mkvmerge")
	if err != nil {
		t.Fatal(err)
	}
	// mkvmerge, and meanwhile someone appends to the file.
	tool := filepath.Join(t.TempDir(), "mkvmerge-and-a-writer")
	script := fmt.Sprintf("#!/bin/sh\n[ \"$1\" = -J ] && exec %q \"$@\"\n%q \"$@\" || exit $?\nprintf 'more' >> %q\n", mkvmerge, mkvmerge, path)
	if err := os.WriteFile(tool, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	jdir := filepath.Join(t.TempDir(), "journal")
	e, err := apply.New(apply.Options{JournalDir: jdir, Tools: apply.Tools{MkvMerge: tool}})
	if err != nil {
		t.Fatal(err)
	}
	req := request(t, e, path, "mkv", dropJapanese)
	_, err = e.Apply(context.Background(), req)
	if !errors.Is(err, apply.ErrChanged) {
		t.Fatalf("error %v, want ErrChanged", err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(b)) != req.SourceSize+4 || string(b[len(b)-4:]) != "more" {
		t.Errorf("the file written to during the rewrite was replaced (%d bytes, was %d + 4)", len(b), req.SourceSize)
	}
	assertClean(t, dir, jdir)
	if n := names(t, dir); len(n) != 1 {
		t.Errorf("directory holds %v", n)
	}
}

func TestRecoverLeavesWhatIsNotItsOwn(t *testing.T) {
	dir := t.TempDir()
	other := t.TempDir()
	jdir := filepath.Join(t.TempDir(), "journal")
	e, err := apply.New(apply.Options{JournalDir: jdir})
	if err != nil {
		t.Fatal(err)
	}
	file := func(p, content string) string {
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	userFile := file(filepath.Join(dir, "sample.mkv"), "the user's file")
	elsewhere := file(filepath.Join(other, ".sample.vpo-tmp-00000000000000aa.mkv"), "in another directory")
	foreign := file(filepath.Join(dir, ".sample.vpo-tmp-00000000000000bb.mkv"), "someone else's")
	if os.Geteuid() == 0 {
		if err := os.Chown(foreign, 1234, 1234); err != nil {
			t.Fatal(err)
		}
	}
	record := func(id, temp string) {
		data := fmt.Sprintf(`{"id":%q,"path":%q,"temp":%q,"pid":1,"started":"2026-01-01T00:00:00Z"}`, id, userFile, temp)
		file(filepath.Join(jdir, id+".intent"), data)
	}
	record("00000000000000a1", userFile)  // the file itself as the temporary file
	record("00000000000000a2", elsewhere) // a temporary name in another directory
	if os.Geteuid() == 0 {
		record("00000000000000a3", foreign) // owned by another user
	}
	file(filepath.Join(jdir, "00000000000000a4.intent"), `{"id":"00000000000000a4","pa`) // torn
	before := snapshot(t, dir) + snapshot(t, other)
	removed, err := e.Recover(context.Background())
	if err != nil || len(removed) != 0 {
		t.Errorf("Recover: %v, %v; want nothing removed", removed, err)
	}
	if after := snapshot(t, dir) + snapshot(t, other); after != before {
		t.Errorf("files changed:\n%s\n→\n%s", before, after)
	}
	if n := names(t, jdir); len(n) != 0 {
		t.Errorf("journal after Recover: %v", n)
	}
}

// TestRecoverLeavesARunningVpo checks that Recover leaves alone the record
// and temporary file of an apply another vpo process (a child of this
// test binary) is running, and recovers them once the record is of
// another boot, or its process is dead.
func TestRecoverLeavesARunningVpo(t *testing.T) {
	path := fixture(t, fixtureMKV)
	dir := filepath.Dir(path)
	tool, started := slowTool(t, "/dev/null")
	probe, _ := newExecutor(t, nil)
	req := request(t, probe, path, "mp4", toMP4)
	jdir := filepath.Join(t.TempDir(), "journal")
	child := startChild(t, childSpec{JournalDir: jdir, Tools: apply.Tools{FFmpeg: tool}, Request: req})
	defer func() {
		_ = child.Process.Kill()
		_ = child.Wait()
	}()
	waitFile(t, started)
	e, err := apply.New(apply.Options{JournalDir: jdir})
	if err != nil {
		t.Fatal(err)
	}
	temps := tempFiles(t, dir)
	if len(temps) != 1 {
		t.Fatalf("temporary files of the running apply: %v", temps)
	}
	records := func() []string {
		var out []string
		for _, n := range names(t, jdir) {
			if strings.HasSuffix(n, ".intent") {
				out = append(out, filepath.Join(jdir, n))
			}
		}
		return out
	}
	recs := records()
	if len(recs) != 1 {
		t.Fatalf("records of the running apply: %v", recs)
	}
	data, err := os.ReadFile(recs[0])
	if err != nil {
		t.Fatal(err)
	}

	// The child runs: its record and temporary file stay.
	removed, err := e.Recover(context.Background())
	if err != nil || len(removed) != 0 {
		t.Errorf("Recover while the apply runs: removed %v, %v; want nothing", removed, err)
	}
	if len(tempFiles(t, dir)) != 1 || len(records()) != 1 {
		t.Fatalf("Recover touched a running apply: temporary files %v, records %v", tempFiles(t, dir), records())
	}

	// The same process, recorded in another boot: its pid was reused.
	var in map[string]any
	if err := json.Unmarshal(data, &in); err != nil {
		t.Fatal(err)
	}
	if in["boot"] == nil || in["boot"] == "" {
		t.Errorf("record without a boot id: %s", data)
	}
	in["boot"] = "00000000-0000-0000-0000-000000000000"
	other, _ := json.Marshal(in)
	if err := os.WriteFile(recs[0], other, 0o600); err != nil {
		t.Fatal(err)
	}
	removed, err = e.Recover(context.Background())
	if err != nil || len(removed) != 1 || removed[0] != temps[0] {
		t.Errorf("Recover of a record of another boot: removed %v, %v; want [%s]", removed, err, temps[0])
	}
	assertCleanJournal(t, jdir)

	// A dead process of this boot.
	if err := child.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = child.Wait()
	if err := os.WriteFile(temps[0], []byte("partial"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(recs[0], data, 0o600); err != nil {
		t.Fatal(err)
	}
	removed, err = e.Recover(context.Background())
	if err != nil || len(removed) != 1 || removed[0] != temps[0] {
		t.Errorf("Recover of a dead process's record: removed %v, %v; want [%s]", removed, err, temps[0])
	}
	assertCleanJournal(t, jdir)
}

// TestCancelRemovesTempBeforeTheToolIsReaped checks that a cancelled
// rewrite's temporary file is gone by the time its tool returns (killed
// and reaped): the removal does not wait for the tool, so a shutdown that
// abandons the apply while a busy encoder is reaped leaves no partial
// output.
func TestCancelRemovesTempBeforeTheToolIsReaped(t *testing.T) {
	for _, c := range []struct{ name, container string }{{"mkvmerge", "mkv"}, {"ffmpeg", "mp4"}} {
		t.Run(c.name, func(t *testing.T) {
			path := fixture(t, fixtureMKV)
			answer := filepath.Join(t.TempDir(), "identify.json")
			if out, err := exec.Command("mkvmerge", "-J", path).Output(); err != nil {
				t.Fatal(err)
			} else if err := os.WriteFile(answer, out, 0o644); err != nil {
				t.Fatal(err)
			}
			tool, started := slowTool(t, answer)
			tools := apply.Tools{MkvMerge: tool}
			edit := dropJapanese
			if c.container == "mp4" {
				tools, edit = apply.Tools{FFmpeg: tool}, toMP4
			}
			jdir := filepath.Join(t.TempDir(), "journal")
			e, err := apply.New(apply.Options{JournalDir: jdir, Tools: tools})
			if err != nil {
				t.Fatal(err)
			}
			probe, _ := newExecutor(t, nil)
			req := request(t, probe, path, c.container, edit)
			var temp string
			var leftAtReap error
			apply.SetToolDone(e, func(p string) {
				temp = p
				if _, err := os.Lstat(p); err == nil {
					leftAtReap = fmt.Errorf("%s still there when the tool returned", p)
				}
			})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go func() {
				waitFile(t, started)
				cancel()
			}()
			if _, err := e.Apply(ctx, req); !errors.Is(err, context.Canceled) {
				t.Fatalf("Apply: %v, want context.Canceled", err)
			}
			if temp == "" {
				t.Fatal("the tool-done hook was not called")
			}
			if leftAtReap != nil {
				t.Error(leftAtReap)
			}
			assertCleanJournal(t, jdir)
			if len(tempFiles(t, filepath.Dir(path))) != 0 {
				t.Errorf("temporary files left: %v", tempFiles(t, filepath.Dir(path)))
			}
		})
	}
}
