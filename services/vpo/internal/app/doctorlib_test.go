package app_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/vpo-project/vpo/libs/store"
	"github.com/vpo-project/vpo/services/vpo/internal/app"
)

// writeProcSys writes a fake /proc/sys with the inotify limits; "" leaves
// a file out.
func writeProcSys(t *testing.T, watches, instances string) string {
	t.Helper()
	dir := t.TempDir()
	inotify := filepath.Join(dir, "fs", "inotify")
	if err := os.MkdirAll(inotify, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]string{"max_user_watches": watches, "max_user_instances": instances} {
		if v == "" {
			continue
		}
		if err := os.WriteFile(filepath.Join(inotify, name), []byte(v+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestDoctorLibraries(t *testing.T) {
	home := t.TempDir()
	db := filepath.Join(home, "library.db")
	s, err := store.Open(context.Background(), db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	pdir := filepath.Join(home, "policies")
	writePolicies(t, pdir, "english")
	media := filepath.Join(home, "media")
	for _, d := range []string{"movies/a/b", "movies/c", "tv/s1", "tv/s2", "archive/x", "ro", "gone"} {
		if err := os.MkdirAll(filepath.Join(media, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// Files are no watches.
	if err := os.WriteFile(filepath.Join(media, "movies", "a", "film.mkv"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(media, "ro"), 0o555); err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	for _, name := range []string{"ffprobe", "ffmpeg", "mkvmerge", "mkvpropedit"} {
		fakeTool(t, bin, name, "echo "+name+" 1.0\n")
	}
	lib := func(name, extra string) string {
		return "\n[[library]]\npath = \"" + filepath.Join(media, name) + "\"\n" + extra
	}
	cfg := filepath.Join(home, "config.toml")
	if err := os.WriteFile(cfg, []byte("[jobs]\nworkers = 1\n"+
		lib("movies", "policy = \"english\"\n")+
		lib("tv", "hold = \"30s\"\nrescan_interval = \"0s\"\n")+
		lib("archive", "watch = false\n")+
		lib("missing", "")+
		lib("ro", "policy = \"english\"\n")+
		lib("gone", "policy = \"gone\"\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"HOME=" + home, "VPO_DATABASE_PATH=" + db, "VPO_POLICIES_DIR=" + pdir, "PATH=" + bin}
	head := []string{
		`^ok    config: ` + regexp.QuoteMeta(cfg) + `$`,
		`^ok    tool ffprobe: `, `^ok    tool ffmpeg: `, `^ok    tool mkvmerge: `, `^ok    tool mkvpropedit: `,
		`^ok    database `,
		`^ok    policies `,
		`^ok    policy english`,
		`^ok    library .*/media/movies: readable and writable by user \S+ \(policy english; watched, hold 2m; rescan every 6h\)$`,
		`^ok    library .*/media/tv: readable by user \S+ \(scan only; watched, hold 30s; no periodic rescan\)$`,
		`^ok    library .*/media/archive: readable by user \S+ \(scan only; not watched; rescan every 6h\)$`,
		`^FAIL  library .*/media/missing: no such file or directory$`,
		`^FAIL  library .*/media/ro: .*/media/ro is read-only \(mode -r-xr-xr-x\): vpo never changes`,
		`^FAIL  library .*/media/gone: policy gone: policy not found: no gone\.yaml or gone\.yml in ` + regexp.QuoteMeta(pdir) + `$`,
	}
	// movies 4 + tv 3 + ro 1 + gone 1; archive is not watched.
	const counted = `9 directories to watch in 4 watched libraries`
	for _, tc := range []struct {
		name    string
		procSys string
		lines   []string
	}{
		{
			name:    "within the limit",
			procSys: writeProcSys(t, "10", "128"),
			lines: []string{
				`^ok    inotify: ` + counted + `; fs\.inotify\.max_user_watches = 10, fs\.inotify\.max_user_instances = 128$`,
				`^3 failures, 0 warnings$`,
			},
		},
		{
			name:    "near the limit",
			procSys: writeProcSys(t, "9", ""),
			lines: []string{
				`^warn  inotify: ` + counted + `, more than 90% of fs\.inotify\.max_user_watches = 9, fs\.inotify\.max_user_instances = unknown .*` +
					`vpo falls back to rescans where a watch cannot be added\. Raise it: sysctl -w fs\.inotify\.max_user_watches=524288 ` +
					`and, for every boot, echo fs\.inotify\.max_user_watches=524288 > /etc/sysctl\.d/60-vpo-inotify\.conf$`,
				`^3 failures, 1 warning$`,
			},
		},
		{
			name:    "over the limit",
			procSys: writeProcSys(t, "8", "1"),
			lines: []string{
				`^warn  inotify: ` + counted + `, more than fs\.inotify\.max_user_watches = 8, fs\.inotify\.max_user_instances = 1 .*sysctl -w fs\.inotify\.max_user_watches=524288 and`,
				`^3 failures, 1 warning$`,
			},
		},
		{
			name:    "no limit to read",
			procSys: writeProcSys(t, "", ""),
			lines: []string{
				`^warn  inotify: ` + counted + `; cannot read the limit: open .*/fs/inotify/max_user_watches: no such file or directory$`,
				`^3 failures, 1 warning$`,
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := app.Main(context.Background(), []string{"doctor", "--config", cfg}, app.Env{
				Stdout: &out, Stderr: &errb, Environ: env, ProcSys: tc.procSys,
			})
			if code != app.ExitFailure {
				t.Errorf("exit %d, want %d", code, app.ExitFailure)
			}
			want := append(append([]string{}, head...), tc.lines...)
			lines := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
			if len(lines) != len(want) {
				t.Errorf("%d lines, want %d", len(lines), len(want))
			}
			for i := 0; i < len(lines) && i < len(want); i++ {
				if !regexp.MustCompile(want[i]).MatchString(lines[i]) {
					t.Errorf("line %d: %q does not match %q", i+1, lines[i], want[i])
				}
			}
			if t.Failed() {
				t.Logf("stdout:\n%s\nstderr:\n%s", out.String(), errb.String())
			}
		})
	}
}

// TestSuggestedWatches: the suggested limit is at least twice the
// directories to watch, and never below 524288.
func TestSuggestedWatches(t *testing.T) {
	for _, tc := range []struct{ dirs, want int }{
		{0, 524288}, {9, 524288}, {262144, 524288}, {262145, 1048576}, {300000, 1048576}, {600000, 2097152},
	} {
		if got := app.SuggestedWatches(tc.dirs); got != tc.want {
			t.Errorf("SuggestedWatches(%d) = %d, want %d", tc.dirs, got, tc.want)
		}
	}
}

// TestDoctorLibrarySandbox: with a vpo unit whose sandbox keeps a library
// with a policy read-only, doctor says how to open it; a scan-only library
// needs no write access.
func TestDoctorLibrarySandbox(t *testing.T) {
	home := t.TempDir()
	pdir := filepath.Join(home, "policies")
	writePolicies(t, pdir, "english")
	movies, tv := filepath.Join(home, "movies"), filepath.Join(home, "tv")
	for _, d := range []string{movies, tv} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bin := t.TempDir()
	for _, name := range []string{"ffprobe", "ffmpeg", "mkvmerge", "mkvpropedit"} {
		fakeTool(t, bin, name, "echo "+name+" 1.0\n")
	}
	fakeTool(t, bin, "systemctl", "echo LoadState=loaded\necho ProtectSystem=strict\necho ProtectHome=no\necho ReadWritePaths=/var/lib/vpo\n")
	cfg := filepath.Join(home, "config.toml")
	if err := os.WriteFile(cfg, []byte("[[library]]\npath = \""+movies+"\"\npolicy = \"english\"\n[[library]]\npath = \""+tv+"\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"HOME=" + home, "VPO_DATABASE_PATH=" + filepath.Join(home, "db"), "VPO_POLICIES_DIR=" + pdir, "PATH=" + bin}
	var out bytes.Buffer
	code := app.Main(context.Background(), []string{"doctor", "--config", cfg}, app.Env{
		Stdout: &out, Stderr: &out, Environ: env, ProcSys: writeProcSys(t, "8192", "128"),
	})
	want := "FAIL  service vpo, library " + movies + ": read-only for the service (ProtectSystem=strict and not under ReadWritePaths); " +
		"fix: systemctl edit vpo → [Service] ReadWritePaths=" + movies + ", then systemctl restart vpo\n"
	if code != app.ExitFailure || !strings.Contains(out.String(), want) || strings.Contains(out.String(), "service vpo, library "+tv) {
		t.Errorf("exit %d, want %d and the line %q only for %s:\n%s", code, app.ExitFailure, want, movies, out.String())
	}
}
