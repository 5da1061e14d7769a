package apply_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/vpo-project/vpo/libs/policy"
	"github.com/vpo-project/vpo/services/vpo/internal/apply"
)

// usernsEnv is set in a test binary re-run by `unshare -rm` to mount a
// tmpfs as an unprivileged user.
const usernsEnv = "VPO_APPLY_TEST_USERNS"

// mountTmpfs mounts a tmpfs of size at dir until the test ends. Where
// mount is not permitted, it re-runs the test in a user and mount
// namespace (`unshare -rm`) and returns false: the caller then returns,
// the re-run did the test. Where neither works, it skips (or fails when
// CI is set).
func mountTmpfs(t *testing.T, dir, size string) bool {
	t.Helper()
	err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size)
	if err == nil {
		t.Cleanup(func() {
			if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
				t.Errorf("unmount %s: %v", dir, err)
			}
		})
		return true
	}
	why := "mount -t tmpfs: " + err.Error()
	if os.Getenv(usernsEnv) == "" {
		if unshare, lerr := exec.LookPath("unshare"); lerr == nil {
			cmd := exec.Command(unshare, "-rm", os.Args[0], "-test.run=^"+t.Name()+"$", "-test.count=1", "-test.v")
			cmd.Env = append(os.Environ(), usernsEnv+"=1")
			out, rerr := cmd.CombinedOutput()
			if rerr == nil && strings.Contains(string(out), "--- PASS: "+t.Name()) {
				t.Logf("ran in a user namespace (%s):\n%s", why, out)
				return false
			}
			if rerr == nil || !strings.Contains(string(out), "unshare: ") {
				t.Fatalf("the test in a user namespace: %v\n%s", rerr, out)
			}
			why += "; unshare -rm: " + strings.TrimSpace(string(out))
		} else {
			why += "; unshare: " + lerr.Error()
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("cannot mount a small tmpfs to fill up (%s)", why)
	}
	t.Skipf("cannot mount a small tmpfs to fill up, so a real disk-full cannot be tested here (%s)", why)
	return false
}

func TestDiskFullDuringWrite(t *testing.T) {
	for _, tc := range []struct {
		name      string
		container string
		edit      func([]policy.TargetTrack) []policy.TargetTrack
	}{
		{"mkvmerge", "mkv", dropJapanese},
		{"ffmpeg", "mp4", toMP4},
		{"transcode", "mkv", encodeVideo(0, 0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := fixture(t, fixtureMKV)
			dir := filepath.Join(t.TempDir(), "small")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if !mountTmpfs(t, dir, "2m") {
				return
			}
			path := filepath.Join(dir, fixtureMKV)
			copyTo(t, src, path)
			e, jdir := newExecutor(t, nil)
			// The check before the write would refuse: make it pass, to
			// fill the disk during the write.
			apply.SetFreeSpace(e, func(string) (uint64, error) { return 1 << 40, nil })
			req := request(t, e, path, tc.container, tc.edit)
			fill(t, dir, 8<<10)
			before := snapshot(t, dir)
			_, err := e.Apply(context.Background(), req)
			if !errors.Is(err, apply.ErrNoSpace) || !strings.Contains(err.Error(), "disk full") {
				t.Fatalf("error %v, want ErrNoSpace saying disk full", err)
			}
			if after := snapshot(t, dir); after != before {
				t.Errorf("the directory changed:\n%s\n→\n%s", before, after)
			}
			assertClean(t, dir, jdir)
		})
	}
}

// fill writes a file in dir that leaves about leave bytes free.
func fill(t *testing.T, dir string, leave int64) {
	t.Helper()
	var s syscall.Statfs_t
	if err := syscall.Statfs(dir, &s); err != nil {
		t.Fatal(err)
	}
	free := int64(s.Bavail) * s.Bsize
	if free <= leave {
		return
	}
	if err := os.WriteFile(filepath.Join(dir, "filler"), make([]byte, free-leave), 0o644); err != nil {
		t.Fatal(err)
	}
}
