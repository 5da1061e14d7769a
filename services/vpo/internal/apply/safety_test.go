package apply_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vpo-project/vpo/libs/policy"
	"github.com/vpo-project/vpo/services/vpo/internal/apply"
)

// dropJapanese removes the Japanese audio (stream 3): an mkvmerge rewrite
// of sample.mkv.
func dropJapanese(ts []policy.TargetTrack) []policy.TargetTrack { return pick(ts, 0, 1, 2, 4, 5) }

// toMP4 converts sample.mkv to MP4 without its subtitles and titles.
func toMP4(ts []policy.TargetTrack) []policy.TargetTrack {
	ts = pick(ts, 0, 1, 2)
	ts[2].Title = ""
	return ts
}

func TestApplyEmptyPlanTouchesNothing(t *testing.T) {
	path := fixture(t, fixtureMKV)
	e, jdir := newExecutor(t, nil)
	if _, err := e.Apply(context.Background(), request(t, e, path, "mkv", dropJapanese)); err != nil {
		t.Fatal(err)
	}
	// The policy again, on the result: it complies, the plan is empty.
	req := request(t, e, path, "mkv", nil)
	ino, mtime := inode(t, path)
	before := sum(t, path)
	for i := 0; i < 2; i++ {
		res, err := e.Apply(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		if res.Executor != apply.ExecutorNone || res.Path != path || res.OriginalKept != "" {
			t.Errorf("empty plan: %+v", res)
		}
		if got, gotMtime := inode(t, path); got != ino || gotMtime != mtime {
			t.Errorf("empty plan: inode %d, mtime %d → %d, %d", ino, mtime, got, gotMtime)
		}
		if sum(t, path) != before {
			t.Error("empty plan changed the file's bytes")
		}
		if len(res.After.Streams) != 5 || len(res.AfterProbe) == 0 {
			t.Errorf("empty plan: After has %d streams, AfterProbe %d bytes", len(res.After.Streams), len(res.AfterProbe))
		}
	}
	assertClean(t, filepath.Dir(path), jdir)
	if n := names(t, filepath.Dir(path)); len(n) != 1 {
		t.Errorf("directory holds %v", n)
	}
}

func TestKeepOriginal(t *testing.T) {
	for _, tc := range []struct {
		name      string
		container string
		edit      func([]policy.TargetTrack) []policy.TargetTrack
		taken     bool // sample.original.mkv exists already
		result    string
		kept      string
	}{
		{name: "same container", container: "mkv", edit: dropJapanese, result: "sample.mkv", kept: "sample.original.mkv"},
		{name: "original name taken", container: "mkv", edit: dropJapanese, taken: true, result: "sample.mkv", kept: "sample.original.2.mkv"},
		{name: "container change", container: "mp4", edit: toMP4, result: "sample.mp4", kept: "sample.original.mkv"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := fixture(t, fixtureMKV)
			dir := filepath.Dir(path)
			e, jdir := newExecutor(t, nil)
			orig := sum(t, path)
			_, origMtime := inode(t, path)
			if tc.taken {
				if err := os.WriteFile(filepath.Join(dir, "sample.original.mkv"), []byte("older"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			req := request(t, e, path, tc.container, tc.edit)
			req.KeepOriginal = true
			res, err := e.Apply(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			if want := filepath.Join(dir, tc.kept); res.OriginalKept != want {
				t.Errorf("OriginalKept %q, want %q", res.OriginalKept, want)
			}
			if got := sum(t, filepath.Join(dir, tc.kept)); got != orig {
				t.Errorf("%s is not the original", tc.kept)
			}
			if _, m := inode(t, filepath.Join(dir, tc.kept)); m != origMtime {
				t.Errorf("%s: mtime changed", tc.kept)
			}
			probeCheck(t, e, filepath.Join(dir, tc.result), req.Plan.Target, req.Source)
			if tc.taken {
				if b, err := os.ReadFile(filepath.Join(dir, "sample.original.mkv")); err != nil || string(b) != "older" {
					t.Errorf("the older sample.original.mkv was changed: %q, %v", b, err)
				}
			}
			assertClean(t, dir, jdir)
		})
	}
}

func TestOwnerModeTimesKept(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("giving a file another owner needs root; this test runs as root only")
	}
	for _, tc := range []struct {
		name      string
		container string
		edit      func([]policy.TargetTrack) []policy.TargetTrack
	}{
		{"mkvmerge", "mkv", dropJapanese},
		{"ffmpeg", "mp4", toMP4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := fixture(t, fixtureMKV)
			e, _ := newExecutor(t, nil)
			if err := os.Chown(path, 1234, 5678); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, 0o640|os.ModeSetgid); err != nil {
				t.Fatal(err)
			}
			atime := time.Date(2021, 1, 2, 3, 4, 5, 6, time.UTC)
			mtime := time.Date(2020, 6, 7, 8, 9, 10, 11, time.UTC)
			if err := os.Chtimes(path, atime, mtime); err != nil {
				t.Fatal(err)
			}
			res, err := e.Apply(context.Background(), request(t, e, path, tc.container, tc.edit))
			if err != nil {
				t.Fatal(err)
			}
			st, err := os.Stat(res.Path)
			if err != nil {
				t.Fatal(err)
			}
			sys := st.Sys().(*syscall.Stat_t)
			if sys.Uid != 1234 || sys.Gid != 5678 {
				t.Errorf("owner %d:%d, want 1234:5678", sys.Uid, sys.Gid)
			}
			if got := st.Mode() & (os.ModePerm | os.ModeSetgid); got != 0o640|os.ModeSetgid {
				t.Errorf("mode %v, want %v", got, 0o640|os.ModeSetgid)
			}
			if !st.ModTime().Equal(mtime) {
				t.Errorf("mtime %v, want %v", st.ModTime(), mtime)
			}
		})
	}
}

func TestChecksBeforeAnyChange(t *testing.T) {
	for _, tc := range []struct {
		name    string
		prepare func(t *testing.T, e *apply.Executor, req *apply.Request)
		is      error
		msg     string
		// permanent: the error matches ErrPermanent (another attempt
		// cannot mend it).
		permanent bool
	}{
		{
			name: "size changed since the plan",
			prepare: func(t *testing.T, e *apply.Executor, req *apply.Request) {
				req.SourceSize++
			},
			is: apply.ErrChanged, msg: "the plan was made for size",
		},
		{
			name: "mtime changed since the plan",
			prepare: func(t *testing.T, e *apply.Executor, req *apply.Request) {
				req.SourceMTime = req.SourceMTime.Add(-time.Second)
			},
			is: apply.ErrChanged, msg: "the plan was made for",
		},
		{
			name: "modified within min_file_age",
			prepare: func(t *testing.T, e *apply.Executor, req *apply.Request) {
				now := time.Now()
				if err := os.Chtimes(req.Path, now, now); err != nil {
					t.Fatal(err)
				}
				req.SourceMTime = now
				req.MinFileAge = time.Hour
			},
			is: apply.ErrStillChanging, msg: "still changing",
		},
		{
			name: "moved in within min_file_age (ctime)",
			prepare: func(t *testing.T, e *apply.Executor, req *apply.Request) {
				// An old mtime, a new ctime: mv keeps the one, not the other.
				req.MinFileAge = time.Hour
			},
			is: apply.ErrStillChanging, msg: "less than min_file_age 1h0m0s",
		},
		{
			name: "not enough free space",
			prepare: func(t *testing.T, e *apply.Executor, req *apply.Request) {
				apply.SetFreeSpace(e, func(string) (uint64, error) { return 64 << 20, nil })
			},
			is: apply.ErrNoSpace, msg: "64 MiB), 67108864 available",
		},
		{
			name: "read-only file",
			prepare: func(t *testing.T, e *apply.Executor, req *apply.Request) {
				if err := os.Chmod(req.Path, 0o444); err != nil {
					t.Fatal(err)
				}
			},
			msg: "is read-only (mode -r--r--r--)", permanent: true,
		},
		{
			name: "read-only directory",
			prepare: func(t *testing.T, e *apply.Executor, req *apply.Request) {
				if err := os.Chmod(filepath.Dir(req.Path), 0o555); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { os.Chmod(filepath.Dir(req.Path), 0o755) })
			},
			msg:       "directory " + "", // completed below
			permanent: true,
		},
		{
			name: "a symbolic link",
			prepare: func(t *testing.T, e *apply.Executor, req *apply.Request) {
				target := req.Path + ".target"
				if err := os.Rename(req.Path, target); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink(target, req.Path); err != nil {
					t.Fatal(err)
				}
			},
			msg: "not a regular file but a symbolic link", permanent: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := fixture(t, fixtureMKV)
			dir := filepath.Dir(path)
			e, jdir := newExecutor(t, nil)
			req := request(t, e, path, "mkv", dropJapanese)
			tc.prepare(t, e, &req)
			before := snapshot(t, dir)
			_, err := e.Apply(context.Background(), req)
			if err == nil {
				t.Fatal("no error")
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %q does not wrap %q", err, tc.is)
			}
			if got := errors.Is(err, apply.ErrPermanent); got != tc.permanent {
				t.Errorf("error %q: errors.Is(err, ErrPermanent) = %v, want %v", err, got, tc.permanent)
			}
			msg := tc.msg
			if tc.name == "read-only directory" {
				msg = fmt.Sprintf("directory %s is read-only", dir)
			}
			if !strings.Contains(err.Error(), msg) || !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name %s and say %q", err, path, msg)
			}
			if after := snapshot(t, dir); after != before {
				t.Errorf("the directory changed:\n%s\n→\n%s", before, after)
			}
			assertClean(t, dir, jdir)
		})
	}
}

// snapshot describes every file in dir: name, size, mode, mtime, sha256.
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	for _, n := range names(t, dir) {
		p := filepath.Join(dir, n)
		st, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		h := ""
		if st.Mode().IsRegular() {
			h = sum(t, p)
		}
		fmt.Fprintf(&b, "%s %d %v %d %s\n", n, st.Size(), st.Mode(), st.ModTime().UnixNano(), h)
	}
	return b.String()
}

func TestContainerChangeDoesNotOverwrite(t *testing.T) {
	path := fixture(t, fixtureMKV)
	dir := filepath.Dir(path)
	other := filepath.Join(dir, "sample.mp4")
	if err := os.WriteFile(other, []byte("someone else's file"), 0o644); err != nil {
		t.Fatal(err)
	}
	e, jdir := newExecutor(t, nil)
	before := snapshot(t, dir)
	_, err := e.Apply(context.Background(), request(t, e, path, "mp4", toMP4))
	if err == nil || !strings.Contains(err.Error(), other+" is taken") {
		t.Fatalf("error %v, want one saying %s is taken", err, other)
	}
	if !errors.Is(err, apply.ErrPermanent) {
		t.Errorf("error %q does not match ErrPermanent: it would be retried", err)
	}
	if after := snapshot(t, dir); after != before {
		t.Errorf("the directory changed:\n%s\n→\n%s", before, after)
	}
	assertClean(t, dir, jdir)
}

func TestVerifyFailureLeavesTheOriginal(t *testing.T) {
	path := fixture(t, fixtureMKV)
	dir := filepath.Dir(path)
	e, jdir := newExecutor(t, nil)
	// ffmpeg's MP4 muxer drops track titles: the result cannot match.
	req := request(t, e, path, "mp4", func(ts []policy.TargetTrack) []policy.TargetTrack { return pick(ts, 0, 1, 2) })
	before := snapshot(t, dir)
	_, err := e.Apply(context.Background(), req)
	if !errors.Is(err, apply.ErrVerify) {
		t.Fatalf("error %v, want ErrVerify", err)
	}
	if !strings.Contains(err.Error(), `title is "", the target has "Commentary"`) {
		t.Errorf("error %q does not say what differs", err)
	}
	if after := snapshot(t, dir); after != before {
		t.Errorf("the directory changed:\n%s\n→\n%s", before, after)
	}
	assertClean(t, dir, jdir)
}

func TestPlanThatNeedsReencodingIsRefused(t *testing.T) {
	path := fixture(t, fixtureMKV)
	e, jdir := newExecutor(t, nil)
	req := request(t, e, path, "mkv", func(ts []policy.TargetTrack) []policy.TargetTrack {
		ts[1].Codec = "opus"
		return ts
	})
	before := snapshot(t, filepath.Dir(path))
	_, err := e.Apply(context.Background(), req)
	if err != nil && !errors.Is(err, apply.ErrPermanent) {
		t.Errorf("error %q does not match ErrPermanent: it would be retried", err)
	}
	if err == nil || !strings.Contains(err.Error(), "source stream 1 is audio/aac, the target wants audio/opus") {
		t.Fatalf("error %v", err)
	}
	if after := snapshot(t, filepath.Dir(path)); after != before {
		t.Error("the directory changed")
	}
	assertClean(t, filepath.Dir(path), jdir)
}
