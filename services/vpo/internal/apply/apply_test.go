package apply_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/vpo-project/vpo/libs/policy"
	"github.com/vpo-project/vpo/services/vpo/internal/apply"
)

// inode returns the inode number and mtime of path.
func inode(tb testing.TB, path string) (uint64, int64) {
	tb.Helper()
	st, err := os.Stat(path)
	if err != nil {
		tb.Fatal(err)
	}
	return st.Sys().(*syscall.Stat_t).Ino, st.ModTime().UnixNano()
}

func TestApplyExecutors(t *testing.T) {
	// Source streams of the fixtures: 0 video, 1 audio eng (default),
	// 2 audio fre "Commentary", 3 audio jpn, 4 subtitle eng, 5 subtitle
	// fre (forced); attachment.mkv has 6, a text attachment.
	for _, tc := range []struct {
		name      string
		fixture   string
		container string
		inPlace   bool
		edit      func(ts []policy.TargetTrack) []policy.TargetTrack
		executor  string
		newName   string
	}{
		{
			name: "flags and titles in place", fixture: fixtureMKV, container: "mkv", inPlace: true,
			edit: func(ts []policy.TargetTrack) []policy.TargetTrack {
				ts[1].Default, ts[3].Default = false, true
				ts[2].Title = ""
				ts[4].Forced, ts[5].Forced = true, false
				ts[4].Title = "English"
				return ts
			},
			executor: apply.ExecutorMkvPropEdit,
		},
		{
			name: "flags without an in-place editor", fixture: fixtureMKV, container: "mkv",
			edit: func(ts []policy.TargetTrack) []policy.TargetTrack {
				ts[1].Default, ts[3].Default = false, true
				ts[2].Title = ""
				return ts
			},
			executor: apply.ExecutorMkvMerge,
		},
		{
			name: "tracks removed and reordered", fixture: fixtureMKV, container: "mkv", inPlace: true,
			edit: func(ts []policy.TargetTrack) []policy.TargetTrack {
				ts = pick(ts, 0, 3, 1, 5)
				ts[1].Default, ts[2].Default = true, false
				ts[3].Forced = false
				return ts
			},
			executor: apply.ExecutorMkvMerge,
		},
		{
			name: "attachment removed", fixture: fixtureMKVAttach, container: "mkv", inPlace: true,
			edit: func(ts []policy.TargetTrack) []policy.TargetTrack {
				return pick(ts, 0, 1, 2, 3, 4, 5)
			},
			executor: apply.ExecutorMkvMerge,
		},
		{
			name: "attachment kept, audio removed", fixture: fixtureMKVAttach, container: "mkv",
			edit: func(ts []policy.TargetTrack) []policy.TargetTrack {
				return pick(ts, 0, 1, 6, 4)
			},
			executor: apply.ExecutorMkvMerge,
		},
		{
			name: "mkv to mp4", fixture: fixtureMKV, container: "mp4",
			edit: func(ts []policy.TargetTrack) []policy.TargetTrack {
				// MP4 keeps no track titles; SubRip cannot go into it.
				ts = pick(ts, 0, 3, 1)
				ts[1].Default, ts[2].Default = true, false
				return ts
			},
			executor: apply.ExecutorFFmpeg, newName: "sample.mp4",
		},
		{
			name: "mp4 flags and tracks", fixture: fixtureMP4, container: "mp4", inPlace: true,
			edit: func(ts []policy.TargetTrack) []policy.TargetTrack {
				ts = pick(ts, 0, 2, 1, 4)
				ts[0].Default, ts[1].Default = true, false
				return ts
			},
			executor: apply.ExecutorFFmpeg,
		},
		{
			name: "mp4 to mkv", fixture: fixtureMP4, container: "mkv",
			edit: func(ts []policy.TargetTrack) []policy.TargetTrack {
				// mov_text cannot be copied into Matroska.
				ts = pick(ts, 0, 1, 2, 3)
				ts[2].Title = "Director"
				return ts
			},
			executor: apply.ExecutorFFmpeg, newName: "sample.mkv",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := fixture(t, tc.fixture)
			var ed *propEditor
			var e *apply.Executor
			var jdir string
			if tc.inPlace {
				ed = &propEditor{}
				e, jdir = newExecutor(t, ed)
			} else {
				e, jdir = newExecutor(t, nil)
			}
			req := request(t, e, path, tc.container, tc.edit)
			ino, mtime := inode(t, path)
			res, err := e.Apply(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			if res.Executor != tc.executor {
				t.Errorf("executor %q, want %q", res.Executor, tc.executor)
			}
			want := path
			if tc.newName != "" {
				want = filepath.Join(filepath.Dir(path), tc.newName)
				if _, err := os.Lstat(path); !os.IsNotExist(err) {
					t.Errorf("the original %s is still there (%v)", path, err)
				}
			}
			if res.Path != want {
				t.Errorf("result path %s, want %s", res.Path, want)
			}
			probeCheck(t, e, res.Path, req.Plan.Target, req.Source)
			if err := apply.Verify(res.After, req.Plan.Target, req.Source); err != nil {
				t.Errorf("Result.After: %v", err)
			}
			if raw := string(res.AfterProbe); !strings.Contains(raw, `"filename":"`+res.Path+`"`) || strings.Contains(raw, ".vpo-tmp-") {
				t.Errorf("Result.AfterProbe does not name %s: %.300s", res.Path, raw)
			}
			newIno, newMtime := inode(t, res.Path)
			if newMtime != mtime {
				t.Errorf("mtime changed: %d → %d", mtime, newMtime)
			}
			if res.MTime.UnixNano() != mtime {
				t.Errorf("Result.MTime %v, want the original's", res.MTime)
			}
			if inPlace := newIno == ino; inPlace != (tc.executor == apply.ExecutorMkvPropEdit) {
				t.Errorf("inode %d → %d with executor %s", ino, newIno, res.Executor)
			}
			if ed != nil && (ed.calls > 0) != (tc.executor == apply.ExecutorMkvPropEdit) {
				t.Errorf("in-place editor called %d times with executor %s", ed.calls, res.Executor)
			}
			assertClean(t, filepath.Dir(path), jdir)
			if n := len(names(t, filepath.Dir(path))); n != 1 {
				t.Errorf("directory holds %v, want only the result", names(t, filepath.Dir(path)))
			}
		})
	}
}

func TestHardLinkedFileIsNotEditedInPlace(t *testing.T) {
	path := fixture(t, fixtureMKV)
	other := filepath.Join(t.TempDir(), "seeding.mkv")
	if err := os.Link(path, other); err != nil {
		t.Fatal(err)
	}
	before := sum(t, other)
	ed := &propEditor{}
	e, jdir := newExecutor(t, ed)
	req := request(t, e, path, "mkv", func(ts []policy.TargetTrack) []policy.TargetTrack {
		ts[1].Default, ts[3].Default = false, true
		return ts
	})
	res, err := e.Apply(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if res.Executor != apply.ExecutorMkvMerge || ed.calls != 0 {
		t.Errorf("executor %s, in-place editor called %d times; want an mkvmerge rewrite", res.Executor, ed.calls)
	}
	if sum(t, other) != before {
		t.Error("the file's other name changed")
	}
	probeCheck(t, e, path, req.Plan.Target, req.Source)
	assertClean(t, filepath.Dir(path), jdir)
}
