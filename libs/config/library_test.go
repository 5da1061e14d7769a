package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vpo-project/vpo/libs/config"
)

func TestLibraries(t *testing.T) {
	home := t.TempDir()
	path := writeTemp(t, `[server]
port = 9000

[[library]]
path = "/srv/media/movies/"
policy = "normalize"

# a scan-only library
[[library]]
path = "~/tv"
watch = false
hold = "0s"
rescan_interval = 0

[[library]]
path = "/srv/media/movies2"
hold = 30
rescan_interval = "1m"
`)
	l, err := config.Load(hermetic(t, config.Options{ExplicitPath: path, Home: home}))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := []config.Library{
		{Path: "/srv/media/movies", Policy: "normalize", Watch: true, Hold: 2 * time.Minute, RescanInterval: 6 * time.Hour},
		{Path: filepath.Join(home, "tv"), Watch: false, Hold: 0, RescanInterval: 0},
		{Path: "/srv/media/movies2", Watch: true, Hold: 30 * time.Second, RescanInterval: time.Minute},
	}
	if !reflect.DeepEqual(l.Config.Libraries, want) {
		t.Errorf("Libraries =\n%+v\nwant\n%+v", l.Config.Libraries, want)
	}
	if l.Sources["library"] != config.SourceFile {
		t.Errorf("Sources[library] = %q, want file", l.Sources["library"])
	}

	// Show lists them as [[library]] tables that load back to the same.
	var b strings.Builder
	if err := l.Show(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, part := range []string{
		"\n[[library]]  # file " + path + ":4\npath = \"/srv/media/movies\"\npolicy = \"normalize\"\nwatch = true\nhold = \"2m\"\nrescan_interval = \"6h\"\n",
		"\n[[library]]  # file " + path + ":9\npath = \"" + filepath.Join(home, "tv") + "\"\npolicy = \"\"\nwatch = false\nhold = \"0s\"\nrescan_interval = \"0s\"\n",
		"\n[[library]]  # file " + path + ":15\n",
	} {
		if !strings.Contains(out, part) {
			t.Errorf("Show output lacks %q:\n%s", part, out)
		}
	}
	again, err := config.Load(hermetic(t, config.Options{ExplicitPath: writeTemp(t, out)}))
	if err != nil {
		t.Fatalf("loading the shown configuration: %v\n%s", err, out)
	}
	if !reflect.DeepEqual(again.Config.Libraries, want) {
		t.Errorf("round trip: %+v", again.Config.Libraries)
	}
}

func TestNoLibraries(t *testing.T) {
	for _, text := range []string{"", "library = []\n"} {
		l, err := config.Load(hermetic(t, config.Options{ExplicitPath: writeTemp(t, text)}))
		if err != nil {
			t.Fatalf("Load(%q): %v", text, err)
		}
		if l.Config.Libraries != nil {
			t.Errorf("Load(%q): Libraries = %+v, want nil", text, l.Config.Libraries)
		}
		var b strings.Builder
		if err := l.Show(&b); err != nil {
			t.Fatal(err)
		}
		if want := "\nlibrary = []  # "; !strings.Contains(b.String(), want) {
			t.Errorf("Show lacks %q:\n%s", want, b.String())
		}
	}
}

// TestLibraryErrors: every problem of a [[library]] table names the file,
// the line, the key library[N].KEY (N from 1) and the value.
func TestLibraryErrors(t *testing.T) {
	const two = "[[library]]\npath = \"/srv/a\"\n\n[[library]]\n"
	for _, tt := range []struct {
		name, text string
		line       int
		key, value string
		msg        string
	}{
		{"relative", two + "path = \"media\"\n", 5, "library[2].path", `"media"`, "must be an absolute path"},
		{"empty path", two + "path = \"\"\n", 5, "library[2].path", `""`, "must not be empty"},
		{"missing path", two + "policy = \"x\"\n", 4, "library[2].path", "", "missing: every [[library]] needs"},
		{"path not a string", two + "path = 7\n", 5, "library[2].path", "7", "must be a string, not an integer"},
		{"unknown key", two + "path = \"/srv/b\"\npolcy = \"x\"\n", 6, "library[2].polcy", "", "unknown key in [[library]] (did you mean policy?)"},
		{"sub-table", two + "path = \"/srv/b\"\n[library.extra]\nx = 1\n", 4, "library[2].extra", "", "unknown key in [[library]]"},
		{"watch", two + "path = \"/srv/b\"\nwatch = \"yes\"\n", 6, "library[2].watch", `"yes"`, "must be true or false, not a string"},
		{"hold too long", two + "path = \"/srv/b\"\nhold = \"25h\"\n", 6, "library[2].hold", `"25h"`, "must be between 0s and 24h"},
		{"hold negative", two + "path = \"/srv/b\"\nhold = \"-1s\"\n", 6, "library[2].hold", `"-1s"`, "must not be negative: 0s to 24h"},
		{"hold not a duration", two + "path = \"/srv/b\"\nhold = \"soon\"\n", 6, "library[2].hold", `"soon"`, "not a duration"},
		{"rescan too short", two + "path = \"/srv/b\"\nrescan_interval = \"30s\"\n", 6, "library[2].rescan_interval", `"30s"`, "must be 0s (off) or between 1m and 8760h"},
		{"policy path", two + "path = \"/srv/b\"\npolicy = \"../x\"\n", 6, "library[2].policy", `"../x"`, "not a path"},
		{"policy extension", two + "path = \"/srv/b\"\npolicy = \"normalize.yaml\"\n", 6, "library[2].policy", `"normalize.yaml"`, `without the extension: "normalize"`},
		{"duplicate", two + "path = \"/srv/a/\"\n", 5, "library[2].path", `"/srv/a"`, "the same directory as library[1] (line 2)"},
		{"inside", two + "path = \"/srv/a/b\"\n", 5, "library[2].path", `"/srv/a/b"`, `inside library[1] (line 2) "/srv/a"`},
		{"contains", two + "path = \"/srv\"\n", 5, "library[2].path", `"/srv"`, `contains library[1] (line 2) "/srv/a"`},
		{"root contains", two + "path = \"/\"\n", 5, "library[2].path", `"/"`, `contains library[1]`},
		{"misspelt", "[[libary]]\npath = \"/srv/a\"\n", 1, "libary", "", "unknown section [libary] (did you mean [[library]]?)"},
		{"not an array", "[library]\npath = \"/srv/a\"\n", 1, "library", `{path = "/srv/a"}`, "must be an array of tables, written as [[library]] headers, not a table"},
		{"string", "library = \"/srv/a\"\n", 1, "library", `"/srv/a"`, "must be an array of tables"},
		{"inline entry", "library = [{path = \"/srv/a\"}, 3]\n", 1, "library[2]", "3", "must be a table, not an integer"},
		{"inline bad", "library = [{path = \"a\"}]\n", 1, "library[1].path", `"a"`, "must be an absolute path"},
		{"third", two + "path = \"/srv/b\"\n[[library]]\n  path = \"/srv/b/c\"\n", 7, "library[3].path", `"/srv/b/c"`, `inside library[2] (line 5) "/srv/b"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := writeTemp(t, tt.text)
			_, err := config.Load(hermetic(t, config.Options{ExplicitPath: path}))
			var ce *config.Error
			if err == nil || !errors.As(err, &ce) {
				t.Fatalf("Load = %v, want a *config.Error", err)
			}
			if ce.File != path || ce.Line != tt.line || ce.Key != tt.key || ce.Value != tt.value || !strings.Contains(ce.Msg, tt.msg) {
				t.Errorf("got %#v\nwant line %d key %q value %q msg containing %q", ce, tt.line, tt.key, tt.value, tt.msg)
			}
			if prefix := path + ":" + itoa(tt.line) + ": " + tt.key; !strings.HasPrefix(err.Error(), prefix) {
				t.Errorf("message %q does not start with %q", err, prefix)
			}
		})
	}
}

func TestLibraryNotFromEnvOrFlags(t *testing.T) {
	_, err := config.Load(hermetic(t, config.Options{Flags: map[string]string{"library": "/srv/a"}}))
	if err == nil || !strings.Contains(err.Error(), "only in the config file") {
		t.Errorf("flag library: %v, want a refusal", err)
	}
	l, err := config.Load(hermetic(t, config.Options{Env: []string{"VPO_LIBRARY=/srv/a"}}))
	if err != nil || l.Config.Libraries != nil || !containsAll(l.Warnings, "ignoring unknown environment variable VPO_LIBRARY", "only in the config file") {
		t.Errorf("VPO_LIBRARY: %v, %+v, warnings %q", err, l.Config.Libraries, l.Warnings)
	}
}

// TestCheckServeLibraries: the libraries' directories and policy files
// must exist; the errors name the file, the line and the key.
func TestCheckServeLibraries(t *testing.T) {
	root := t.TempDir()
	policies := filepath.Join(root, "policies")
	media := filepath.Join(root, "media")
	for _, d := range []string{policies, filepath.Join(media, "movies", "sub"), filepath.Join(media, "tv")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"normalize.yaml", "both.yaml", "both.yml", "short.yml"} {
		if err := os.WriteFile(filepath.Join(policies, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	file := filepath.Join(media, "file.mkv")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(root, "link")
	if err := os.Symlink(filepath.Join(media, "movies", "sub"), link); err != nil {
		t.Fatal(err)
	}
	head := "[policies]\ndir = \"" + policies + "\"\n\n[[library]]\npath = \"" + filepath.Join(media, "movies") + "\"\npolicy = \"normalize\"\n\n"
	for _, tt := range []struct {
		name, text string
		want       []string // one per problem, after the file name; none: passes
	}{
		{"good", "[[library]]\npath = \"" + filepath.Join(media, "tv") + "\"\npolicy = \"short\"\n", nil},
		{"missing directory", "[[library]]\npath = \"" + filepath.Join(media, "nope") + "\"\n",
			[]string{`:9: library[2].path = "` + filepath.Join(media, "nope") + `": no such directory`}},
		{"a file", "[[library]]\npath = \"" + file + "\"\n",
			[]string{`:9: library[2].path = "` + file + `": not a directory (a regular file)`}},
		{"missing policy", "[[library]]\npath = \"" + filepath.Join(media, "tv") + "\"\n# x\npolicy = \"nope\"\n",
			[]string{`:11: library[2].policy = "nope": no such policy: neither nope.yaml nor nope.yml in policies.dir ` + policies}},
		{"ambiguous policy", "[[library]]\npath = \"" + filepath.Join(media, "tv") + "\"\npolicy = \"both\"\n",
			[]string{`:10: library[2].policy = "both": ambiguous policy: both ` + policies + `/both.yaml and ` + policies + `/both.yml exist`}},
		{"link into another library", "[[library]]\npath = \"" + link + "\"\n",
			[]string{`:9: library[2].path = "` + link + `": resolves (through symbolic links) to ` + filepath.Join(media, "movies", "sub") + `, inside library[1]`}},
		{"two problems", "[[library]]\npath = \"" + filepath.Join(media, "nope") + "\"\n[[library]]\npath = \"" + filepath.Join(media, "tv") + "\"\npolicy = \"gone\"\n",
			[]string{`:9: library[2].path = `, `:12: library[3].policy = "gone": no such policy`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := writeTemp(t, head+tt.text)
			l, err := config.Load(hermetic(t, config.Options{ExplicitPath: path}))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			err = l.CheckServe()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("CheckServe = %v, want nil", err)
				}
				return
			}
			leaves := leafErrors(err)
			if len(leaves) != len(tt.want) {
				t.Fatalf("CheckServe = %v, want %d problems", err, len(tt.want))
			}
			for i, leaf := range leaves {
				var ce *config.Error
				if !errors.As(leaf, &ce) || ce.File != path {
					t.Errorf("problem %d is %#v, want a *config.Error naming %s", i+1, leaf, path)
					continue
				}
				if !strings.HasPrefix(leaf.Error(), path+tt.want[i]) {
					t.Errorf("problem %d = %q, want it to start with %q", i+1, leaf, path+tt.want[i])
				}
			}
		})
	}
}

func TestDiffLibraries(t *testing.T) {
	a := config.Library{Path: "/a", Watch: true, Hold: time.Minute, RescanInterval: time.Hour}
	b := config.Library{Path: "/b", Policy: "p", Watch: true, Hold: time.Minute, RescanInterval: time.Hour}
	b2 := b
	b2.Policy = "q"
	c := config.Library{Path: "/c"}
	old := config.Defaults(config.Options{Home: "/home/u", NumCPU: 2})
	old.Libraries = []config.Library{a, b}
	next := old
	next.Libraries = []config.Library{c, b2}
	next.Logging.Level = "debug"
	got := config.Diff(old, next)
	want := []config.Change{
		{Key: "logging.level", Old: `"info"`, New: `"debug"`, Live: true},
		{Key: "library", Old: `{path = "/a", policy = "", watch = true, hold = "1m", rescan_interval = "1h"}`, Live: true},
		{Key: "library", Old: `{path = "/b", policy = "p", watch = true, hold = "1m", rescan_interval = "1h"}`,
			New: `{path = "/b", policy = "q", watch = true, hold = "1m", rescan_interval = "1h"}`, Live: true},
		{Key: "library", New: `{path = "/c", policy = "", watch = false, hold = "0s", rescan_interval = "0s"}`, Live: true},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Diff =\n%+v\nwant\n%+v", got, want)
	}
	// Libraries are live: a reload takes the new ones.
	effective, live, restart := config.Reload(old, next)
	if !reflect.DeepEqual(effective.Libraries, next.Libraries) || len(live) != 4 || len(restart) != 0 {
		t.Errorf("Reload: libraries %+v, live %d, restart %d", effective.Libraries, len(live), len(restart))
	}
	// Same libraries in another order: nothing changed.
	next.Libraries = []config.Library{b2, c}
	if got := config.Diff(config.Config{Libraries: []config.Library{c, b2}}, config.Config{Libraries: next.Libraries}); len(got) != 0 {
		t.Errorf("reordered libraries: Diff = %+v", got)
	}
}

func TestScheduleSettings(t *testing.T) {
	path := writeTemp(t, "[jobs]\nschedule = \"22:00-02:00, 1:00-2:00\"\n")
	_, err := config.Load(hermetic(t, config.Options{ExplicitPath: path}))
	if want := path + `:2: jobs.schedule = "22:00-02:00, 1:00-2:00": range 2 "1:00-2:00": overlaps range 1 "22:00-02:00"`; err == nil || err.Error() != want {
		t.Errorf("Load = %v, want %s", err, want)
	}
	_, err = config.Load(hermetic(t, config.Options{Env: []string{"VPO_JOBS_SCHEDULED_KINDS=apply,Transcode"}}))
	if want := `environment VPO_JOBS_SCHEDULED_KINDS="apply,Transcode": jobs.scheduled_kinds: "Transcode": job kind names are lower-case`; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("Load = %v, want %s…", err, want)
	}
	path = writeTemp(t, "[jobs]\nscheduled_kinds = \"apply\"\n")
	if _, err = config.Load(hermetic(t, config.Options{ExplicitPath: path})); err == nil || !strings.Contains(err.Error(), `:2: jobs.scheduled_kinds = "apply": must be an array of strings`) {
		t.Errorf("Load = %v", err)
	}
	l, err := config.Load(hermetic(t, config.Options{
		ExplicitPath: writeTemp(t, "[jobs]\nscheduled_kinds = []\n"),
		Env:          []string{"VPO_JOBS_SCHEDULE=1:00-7:00"},
	}))
	if err != nil {
		t.Fatal(err)
	}
	if got := l.Config.Jobs.Schedule.String(); got != "01:00-07:00" || l.Config.Jobs.ScheduledKinds == nil || len(l.Config.Jobs.ScheduledKinds) != 0 {
		t.Errorf("schedule %q, scheduled kinds %#v", got, l.Config.Jobs.ScheduledKinds)
	}
	var b strings.Builder
	if err := l.Show(&b); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{`jobs.schedule = "01:00-07:00"  # env VPO_JOBS_SCHEDULE`, `jobs.scheduled_kinds = []  # file `} {
		if !strings.Contains(b.String(), line) {
			t.Errorf("Show lacks %q:\n%s", line, b.String())
		}
	}
}
