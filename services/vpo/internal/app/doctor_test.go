package app_test

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/vpo-project/vpo/libs/store"
	"github.com/vpo-project/vpo/services/vpo/internal/app"
)

// fakeTool writes an executable script name into dir.
func fakeTool(t *testing.T, dir, name, script string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"+script), 0o755); err != nil {
		t.Fatal(err)
	}
}

func TestDoctor(t *testing.T) {
	home := t.TempDir()
	media := filepath.Join(home, "media")
	if err := os.Mkdir(media, 0o755); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(home, "library.db")
	s, err := store.Open(context.Background(), db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	pdir := filepath.Join(home, "policies")
	writePolicies(t, pdir, "english")

	allTools := t.TempDir()
	fakeTool(t, allTools, "ffprobe", "echo 'ffprobe version 9.9 Copyright'\necho more\n")
	fakeTool(t, allTools, "ffmpeg", "echo 'ffmpeg version 9.9'\n")
	fakeTool(t, allTools, "mkvmerge", "echo 'mkvmerge v99.0.0 (\"Test\") 64-bit'\n")
	fakeTool(t, allTools, "mkvpropedit", "echo 'mkvpropedit v99.0.0'\n")
	noMKV := t.TempDir()
	fakeTool(t, noMKV, "ffprobe", "echo 'ffprobe version 9.9'\n")
	fakeTool(t, noMKV, "ffmpeg", "echo 'cannot load libavcodec' >&2; exit 127\n")
	cur, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	me := regexp.QuoteMeta(cur.Username)
	// strict returns a PATH with the tools and a systemctl that shows a
	// vpo unit running as unitUser with ProtectSystem=strict.
	strict := func(unitUser string) string {
		dir := t.TempDir()
		for _, name := range []string{"ffprobe", "ffmpeg", "mkvmerge", "mkvpropedit"} {
			fakeTool(t, dir, name, "echo "+name+" 1.0\n")
		}
		fakeTool(t, dir, "systemctl", `[ "$1 $2" = "show vpo" ] || exit 2
echo LoadState=loaded
echo User=`+unitUser+`
echo ProtectSystem=strict
echo ProtectHome=yes
echo "ReadWritePaths=-/var/lib/vpo `+media+`/ok"
`)
		return dir
	}
	noUnit := t.TempDir()
	for _, name := range []string{"ffprobe", "ffmpeg", "mkvmerge", "mkvpropedit"} {
		fakeTool(t, noUnit, name, "echo "+name+" 1.0\n")
	}
	fakeTool(t, noUnit, "systemctl", "echo LoadState=not-found\necho ProtectSystem=no\necho ReadWritePaths=\n")
	noSystemd := t.TempDir()
	for _, name := range []string{"ffprobe", "ffmpeg", "mkvmerge", "mkvpropedit"} {
		fakeTool(t, noSystemd, name, "echo "+name+" 1.0\n")
	}
	fakeTool(t, noSystemd, "systemctl", "echo 'System has not been booted with systemd as init system (PID 1). Can'\\''t operate.' >&2; exit 1\n")
	if err := os.Mkdir(filepath.Join(media, "ok"), 0o755); err != nil {
		t.Fatal(err)
	}
	// Without any write permission bit, apply leaves a file (or the files
	// of a directory) alone even as root: doctor says so.
	roFile, roDir := filepath.Join(media, "ro.mkv"), filepath.Join(media, "rodir")
	if err := os.WriteFile(roFile, nil, 0o444); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(roDir, 0o555); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(media, "pipe.mkv")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	base := []string{"HOME=" + home, "VPO_DATABASE_PATH=" + db, "VPO_POLICIES_DIR=" + pdir}

	for _, tc := range []struct {
		name  string
		path  string
		env   []string
		args  []string
		code  int
		lines []string // regexps, each matching one line, in order
	}{
		{
			name: "all good",
			path: allTools,
			args: []string{media},
			lines: []string{
				`^ok    config: no config file`,
				`^ok    tool ffprobe: .*/ffprobe \(ffprobe version 9\.9 Copyright\)$`,
				`^ok    tool ffmpeg: .*/ffmpeg \(ffmpeg version 9\.9\)$`,
				`^ok    tool mkvmerge: .*/mkvmerge \(mkvmerge v99\.0\.0 \("Test"\) 64-bit\)$`,
				`^ok    tool mkvpropedit: .*/mkvpropedit \(mkvpropedit v99\.0\.0\)$`,
				`^ok    database .*library\.db: readable and writable, schema version \d+$`,
				`^ok    policies .*/policies: 1 policy file$`,
				`^ok    policy english: .*english\.yaml \(2 phases\)$`,
				`^ok    path .*/media: readable and writable by `,
				`^0 failures, 0 warnings$`,
			},
		},
		{
			name: "read-only file and directory",
			path: allTools,
			args: []string{roFile, roDir, fifo},
			code: app.ExitFailure,
			lines: []string{
				`^ok    config: `,
				`^ok    tool ffprobe: `, `^ok    tool ffmpeg: `, `^ok    tool mkvmerge: `, `^ok    tool mkvpropedit: `,
				`^ok    database `,
				`^ok    policies `,
				`^ok    policy english`,
				`^FAIL  path .*/ro\.mkv: .*/ro\.mkv is read-only \(mode -r--r--r--\): vpo never changes`,
				`^FAIL  path .*/rodir: .*/rodir is read-only \(mode -r-xr-xr-x\): vpo never changes`,
				`^FAIL  path .*/pipe\.mkv: not a regular file or a directory \(p---------\)`,
				`^3 failures, 0 warnings$`,
			},
		},
		{
			name: "missing and broken tools, missing path, no database",
			path: noMKV,
			env:  []string{"VPO_DATABASE_PATH=" + filepath.Join(home, "new", "library.db")},
			args: []string{filepath.Join(home, "nope")},
			code: app.ExitFailure,
			lines: []string{
				`^ok    config: `,
				`^ok    tool ffprobe: `,
				`^FAIL  tool ffmpeg: .*/ffmpeg does not run: .*exit status 127: cannot load libavcodec$`,
				`^warn  tool mkvmerge: not found on PATH: MKV tracks cannot be removed or reordered \(install mkvtoolnix\)$`,
				`^warn  tool mkvpropedit: not found on PATH: `,
				`^warn  database .*/new/library\.db: does not exist yet; vpo serve creates it$`,
				`^ok    policies `,
				`^ok    policy english`,
				`^FAIL  path .*/nope: no such file or directory$`,
				`^2 failures, 3 warnings$`,
			},
		},
		{
			name: "no tools at all",
			path: t.TempDir(),
			code: app.ExitFailure,
			lines: []string{
				`^ok    config: `,
				`^FAIL  tool ffprobe: not found on PATH: needed to read video files \(install ffmpeg\)$`,
				`^FAIL  tool ffmpeg: not found on PATH: `,
				`^warn  tool mkvmerge: `,
				`^warn  tool mkvpropedit: `,
				`^ok    database `,
				`^ok    policies `,
				`^ok    policy english`,
				`^2 failures, 2 warnings$`,
			},
		},
		{
			name: "unit with ProtectSystem=strict",
			path: strict(cur.Username),
			args: []string{media, filepath.Join(media, "ok"), "/home/someone/videos"},
			code: app.ExitFailure,
			lines: []string{
				`^ok    config: `,
				`^ok    tool ffprobe: `, `^ok    tool ffmpeg: `, `^ok    tool mkvmerge: `, `^ok    tool mkvpropedit: `,
				`^ok    database `,
				`^ok    policies `,
				`^ok    policy english`,
				`^ok    service vpo: User=` + me + ` ProtectSystem=strict ProtectHome=yes ReadWritePaths=-/var/lib/vpo .*/media/ok$`,
				`^ok    path .*/media: readable and writable by user ` + me + `$`,
				`^ok    path .*/media/ok: `,
				`^FAIL  path /home/someone/videos: no such file or directory$`,
				`^FAIL  service vpo, path .*/media: read-only for the service \(ProtectSystem=strict and not under ReadWritePaths\); ` +
					`fix: systemctl edit vpo → \[Service\] ReadWritePaths=.*/media, then systemctl restart vpo$`,
				`^FAIL  service vpo, path /home/someone/videos: ProtectHome=yes hides or protects /home from the service; ` +
					`fix: systemctl edit vpo → \[Service\] ProtectHome=no and ReadWritePaths=/home/someone/videos$`,
				`^3 failures, 0 warnings$`,
			},
		},
		{
			// The service's user cannot even enter the test's private
			// temporary directory.
			name: "unit running as another user",
			path: strict("nobody"),
			args: []string{media},
			code: app.ExitFailure,
			lines: []string{
				`^ok    config: `,
				`^ok    tool ffprobe: `, `^ok    tool ffmpeg: `, `^ok    tool mkvmerge: `, `^ok    tool mkvpropedit: `,
				`^ok    database `,
				`^ok    policies `,
				`^ok    policy english`,
				`^ok    service vpo: User=nobody ProtectSystem=strict `,
				`^FAIL  path .*/media: not readable by user nobody: /tmp/[^:]*: permission denied \(no search permission on the directory\)$`,
				`^FAIL  service vpo, path .*/media: read-only for the service`,
				`^2 failures, 0 warnings$`,
			},
		},
		{
			name: "unit user unknown here",
			path: strict("no-such-user-vpo-test"),
			args: []string{filepath.Join(media, "ok")},
			lines: []string{
				`^ok    config: `,
				`^ok    tool ffprobe: `, `^ok    tool ffmpeg: `, `^ok    tool mkvmerge: `, `^ok    tool mkvpropedit: `,
				`^ok    database `,
				`^ok    policies `,
				`^ok    policy english`,
				`^warn  service vpo: User=no-such-user-vpo-test .*; paths are checked for user ` + me + `: user: unknown user no-such-user-vpo-test$`,
				`^ok    path .*/media/ok: readable and writable by user ` + me + `$`,
				`^0 failures, 1 warning$`,
			},
		},
		{
			name: "systemctl without systemd",
			path: noSystemd,
			args: []string{media},
			lines: []string{
				`^ok    config: `,
				`^ok    tool ffprobe: `, `^ok    tool ffmpeg: `, `^ok    tool mkvmerge: `, `^ok    tool mkvpropedit: `,
				`^ok    database `,
				`^ok    policies `,
				`^ok    policy english`,
				`^ok    path .*/media: `,
				`^0 failures, 0 warnings$`,
			},
		},
		{
			name: "no vpo unit",
			path: noUnit,
			args: []string{media},
			lines: []string{
				`^ok    config: `,
				`^ok    tool ffprobe: `, `^ok    tool ffmpeg: `, `^ok    tool mkvmerge: `, `^ok    tool mkvpropedit: `,
				`^ok    database `,
				`^ok    policies `,
				`^ok    policy english`,
				`^ok    path .*/media: `,
				`^0 failures, 0 warnings$`,
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := append(append(append([]string{}, tc.env...), base...), "PATH="+tc.path) // tc.env first: the first of a name counts
			code, out, errs := runPolicies(t, env, append([]string{"doctor"}, tc.args...)...)
			if code != tc.code {
				t.Errorf("exit %d, want %d", code, tc.code)
			}
			lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
			if len(lines) != len(tc.lines) {
				t.Errorf("%d lines, want %d", len(lines), len(tc.lines))
			}
			for i := 0; i < len(lines) && i < len(tc.lines); i++ {
				if !regexp.MustCompile(tc.lines[i]).MatchString(lines[i]) {
					t.Errorf("line %d: %q does not match %q", i+1, lines[i], tc.lines[i])
				}
			}
			if t.Failed() {
				t.Logf("stdout:\n%s\nstderr:\n%s", out, errs)
			}
		})
	}
}

func TestDoctorPolicyProblemsAndBadConfig(t *testing.T) {
	home := t.TempDir()
	pdir := filepath.Join(home, "policies")
	writePolicies(t, pdir)
	bin := t.TempDir()
	for _, name := range []string{"ffprobe", "ffmpeg", "mkvmerge", "mkvpropedit"} {
		fakeTool(t, bin, name, "echo "+name+" 1.0\n")
	}
	env := []string{"HOME=" + home, "VPO_DATABASE_PATH=" + filepath.Join(home, "db"), "VPO_POLICIES_DIR=" + pdir, "PATH=" + bin}
	code, out, _ := runPolicies(t, env, "doctor")
	if code != app.ExitFailure {
		t.Errorf("exit %d, want %d", code, app.ExitFailure)
	}
	for _, want := range []string{
		"ok    policies " + pdir + ": 3 policy files\n",
		"FAIL  policy broken: " + pdir + "/broken.yaml: YAML syntax error at line 3: mapping values are not allowed in this context\n",
		"ok    policy english: ",
		"FAIL  policy fancy: " + pdir + "/fancy.yaml:41: phases[2].audio_synthesis: not supported by vpo yet; " + pdir + "/fancy.yaml:50: phases[2].transcription: not supported by vpo yet (transcription comes in a later release)\n",
		"2 failures, 1 warning\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}

	none := filepath.Join(home, "none")
	code, out, _ = runPolicies(t, append([]string{"VPO_POLICIES_DIR=" + none}, env...), "doctor")
	if code != 0 || !strings.Contains(out, "warn  policies "+none+": does not exist: no policies") {
		t.Errorf("missing policies directory: exit %d\n%s", code, out)
	}

	bad := filepath.Join(home, "bad.toml")
	if err := os.WriteFile(bad, []byte("[server]\nport = 0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, _ = runPolicies(t, env, "doctor", "--config", bad)
	if code != app.ExitConfig || !strings.HasPrefix(out, "FAIL  config: "+bad+":2") {
		t.Errorf("bad config: exit %d\n%s", code, out)
	}
}

func TestUnitSandboxBlocks(t *testing.T) {
	root := t.TempDir()
	link := filepath.Join(root, "link")
	target := filepath.Join(root, "srv", "media")
	if err := os.MkdirAll(target, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		system, home string
		rw           []string
		path         string
		blocked      bool
	}{
		{"strict", "no", []string{"/var/lib/vpo"}, "/srv/media", true},
		{"strict", "no", []string{"/srv/media"}, "/srv/media", false},
		{"strict", "no", []string{"/srv/media"}, "/srv/media/tv/show", false},
		{"strict", "no", []string{"/srv/media"}, "/srv/media2", true},
		{"strict", "no", []string{"-/srv"}, "/srv/media", false},
		{"strict", "no", []string{"/"}, "/srv/media", false},
		{"strict", "no", []string{target}, link, false}, // a link into a writable path
		{"full", "no", nil, "/srv/media", false},
		{"no", "no", nil, "/srv/media", false},
		{"no", "read-only", nil, "/home/me/videos", true},
		{"no", "yes", nil, "/root/videos", true},
		{"no", "no", nil, "/home/me/videos", false},
	} {
		got := app.UnitSandboxBlocks(tc.system, tc.home, tc.rw, tc.path)
		if (got != "") != tc.blocked {
			t.Errorf("ProtectSystem=%s ProtectHome=%s ReadWritePaths=%v, %s: %q, want blocked=%v",
				tc.system, tc.home, tc.rw, tc.path, got, tc.blocked)
		}
	}
}

func TestAccessAs(t *testing.T) {
	top := t.TempDir()
	// The temporary directories are private (0700); open them up.
	for _, d := range []string{filepath.Dir(top), top} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	open := filepath.Join(top, "open")
	closed := filepath.Join(top, "closed")
	group := filepath.Join(top, "group")
	for dir, mode := range map[string]os.FileMode{open: 0o755, closed: 0o750, group: 0o770} {
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "f.mkv"), nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(filepath.Join(dir, "f.mkv"), 0o664); err != nil {
			t.Fatal(err)
		}
	}
	other := uint32(os.Getuid()) + 54321
	mine := []uint32{uint32(os.Getgid())}
	const r, w, x = 4, 2, 1
	for _, tc := range []struct {
		path  string
		uid   uint32
		gids  []uint32
		want  uint32
		error string // "" for allowed
	}{
		{path: open, uid: other, want: r | x},
		{path: filepath.Join(open, "f.mkv"), uid: other, want: r},
		{path: filepath.Join(open, "f.mkv"), uid: other, want: w, error: "f.mkv: permission denied"},
		{path: open, uid: other, want: w, error: "open: permission denied"},
		{path: filepath.Join(closed, "f.mkv"), uid: other, want: r, error: "closed: permission denied (no search permission on the directory)"},
		{path: filepath.Join(closed, "f.mkv"), uid: other, gids: mine, want: r},
		{path: closed, uid: other, gids: mine, want: w, error: "closed: permission denied"},
		{path: group, uid: other, gids: mine, want: r | w | x},
		{path: filepath.Join(group, "f.mkv"), uid: other, gids: mine, want: r | w},
		{path: filepath.Join(closed, "f.mkv"), uid: 0, want: r | w},
		{path: filepath.Join(top, "missing"), uid: other, want: r, error: "missing: no such file or directory"},
	} {
		err := app.AccessAs(tc.path, tc.uid, tc.gids, tc.want)
		switch {
		case tc.error == "" && err != nil:
			t.Errorf("%s as uid %d groups %v, want %d: %v", tc.path, tc.uid, tc.gids, tc.want, err)
		case tc.error != "" && (err == nil || !strings.HasSuffix(err.Error(), tc.error)):
			t.Errorf("%s as uid %d groups %v, want %d: %v, want an error ending %q", tc.path, tc.uid, tc.gids, tc.want, err, tc.error)
		}
	}
}

// setACL gives uid read and write access to path by an access control
// list (the kernel's binary form of system.posix_acl_access), leaving the
// others' mode bits at nothing.
func setACL(path string, uid uint32) error {
	b := binary.LittleEndian.AppendUint32(nil, 2) // version
	for _, e := range []struct {
		tag, perm uint16
		id        uint32
	}{
		{0x01, 6, 0xffffffff}, // owner rw
		{0x02, 6, uid},        // uid rw
		{0x04, 4, 0xffffffff}, // group r
		{0x10, 6, 0xffffffff}, // mask rw
		{0x20, 0, 0xffffffff}, // others nothing
	} {
		b = binary.LittleEndian.AppendUint16(b, e.tag)
		b = binary.LittleEndian.AppendUint16(b, e.perm)
		b = binary.LittleEndian.AppendUint32(b, e.id)
	}
	return unix.Setxattr(path, "system.posix_acl_access", b, 0)
}

func TestAccessAsWithACL(t *testing.T) {
	top := t.TempDir()
	for _, d := range []string{filepath.Dir(top), top} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	other := uint32(os.Getuid()) + 54321
	plain, acl := filepath.Join(top, "plain.mkv"), filepath.Join(top, "acl.mkv")
	for _, p := range []string{plain, acl} {
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := setACL(acl, other); (errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EOPNOTSUPP)) && os.Getenv("CI") == "" {
		t.Skipf("the file system of %s has no access control lists (CI fails instead): %v", top, err)
	} else if err != nil {
		t.Fatal(err)
	}
	// Mode bits alone deny both; only the file with an ACL is a maybe.
	if err := app.AccessAs(plain, other, nil, 2); err == nil || app.IsACLDenial(err) {
		t.Errorf("plain file: %v, want a denial", err)
	}
	if err := app.AccessAs(acl, other, nil, 2); err == nil || !app.IsACLDenial(err) ||
		!strings.Contains(err.Error(), "access control list") {
		t.Errorf("file with an ACL: %v, want a denial the ACL may lift", err)
	}
}
