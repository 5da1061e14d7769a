package config_test

import (
	"flag"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vpo-project/vpo/libs/config"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

func TestSampleGolden(t *testing.T) {
	golden := fixture("sample.golden.toml")
	got := config.Sample()
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("Sample() differs from %s (run go test -update if intended):\n%s", golden, got)
	}
}

func TestSampleLoadsAsDefaults(t *testing.T) {
	opts := hermetic(t, config.Options{Username: "alice", NumCPU: 3})
	opts.ExplicitPath = writeTemp(t, config.Sample())
	l, err := config.Load(opts)
	if err != nil {
		t.Fatalf("Load(Sample()): %v", err)
	}
	if want := config.Defaults(opts); !reflect.DeepEqual(l.Config, want) {
		t.Errorf("config = %+v, want defaults %+v", l.Config, want)
	}
	for key, src := range l.Sources {
		if src != config.SourceDefault {
			t.Errorf("Sources[%s] = %q, want default", key, src)
		}
	}
	if len(l.Warnings) != 0 {
		t.Errorf("Warnings = %q", l.Warnings)
	}
}

// TestSampleUncommented checks that every commented setting is valid TOML
// holding the packaged default, and that the [[library]] example is a
// valid library.
func TestSampleUncommented(t *testing.T) {
	setting := regexp.MustCompile(`(?m)^# (\[\[library\]\]|[a-z_]+ = )`)
	text := setting.ReplaceAllString(config.Sample(), "$1")
	opts := hermetic(t, config.Options{Username: "vpo", NumCPU: 4})
	opts.ExplicitPath = writeTemp(t, text)
	l, err := config.Load(opts)
	if err != nil {
		t.Fatalf("Load(uncommented Sample()): %v\n%s", err, text)
	}
	want := config.Defaults(opts)
	want.Libraries = []config.Library{{Path: "/srv/media/movies", Policy: "normalize", Watch: true, Hold: 2 * time.Minute, RescanInterval: 6 * time.Hour}}
	if !reflect.DeepEqual(l.Config, want) {
		t.Errorf("config = %+v, want %+v", l.Config, want)
	}
	for _, k := range config.Keys() {
		if l.Sources[k.Name] != config.SourceFile {
			t.Errorf("%s not set by the uncommented sample", k.Name)
		}
	}
}

func TestSampleMentionsEveryKey(t *testing.T) {
	sample := config.Sample()
	if !strings.Contains(sample, "\n# [[library]]\n") {
		t.Error("Sample lacks the commented [[library]] example")
	}
	for _, k := range config.Keys() {
		if k.Name == "library" {
			if !strings.Contains(sample, k.Help) {
				t.Errorf("Sample lacks the help of %s", k.Name)
			}
			continue
		}
		sec, leaf, _ := strings.Cut(k.Name, ".")
		if !strings.Contains(sample, "["+sec+"]\n") {
			t.Errorf("Sample lacks section [%s]", sec)
		}
		if !strings.Contains(sample, "\n# "+leaf+" = ") {
			t.Errorf("Sample lacks a commented %s", k.Name)
		}
		if !strings.Contains(sample, k.Env) || !strings.Contains(sample, k.Help) {
			t.Errorf("Sample lacks the env var or help of %s", k.Name)
		}
	}
	for _, line := range []string{
		`# path = "/var/lib/vpo/library.db"`,
		`# shutdown_timeout = "30s"`,
		"# How long a graceful shutdown may take before running jobs are cancelled and requeued.",
	} {
		if !strings.Contains(sample, line+"\n") {
			t.Errorf("Sample lacks line %q", line)
		}
	}
}

func TestKeys(t *testing.T) {
	flags := map[string]string{
		"server.bind": "--bind", "server.port": "--port",
		"logging.level": "--log-level", "logging.format": "--log-format",
	}
	seen := map[string]bool{}
	for _, k := range config.Keys() {
		if seen[k.Name] {
			t.Errorf("duplicate key %s", k.Name)
		}
		seen[k.Name] = true
		if k.Flag != flags[k.Name] {
			t.Errorf("%s: Flag = %q, want %q", k.Name, k.Flag, flags[k.Name])
		}
		if (!strings.HasPrefix(k.Env, "VPO_") && k.Name != "library") || k.Help == "" {
			t.Errorf("%s: incomplete %+v", k.Name, k)
		}
		if k.Flag != "" {
			if got, ok := config.FlagKey(k.Flag); !ok || got != k.Name {
				t.Errorf("FlagKey(%q) = %q, %v", k.Flag, got, ok)
			}
		}
	}
	if len(seen) != 27 {
		t.Errorf("Keys() has %d keys, want 27", len(seen))
	}
	if _, ok := config.FlagKey("--config"); ok {
		t.Error("FlagKey(--config) reported a config key")
	}
	if got := config.Keys()[1]; got.Name != "server.port" || got.Default != "8321" || got.Env != "VPO_SERVER_PORT" {
		t.Errorf("Keys()[1] = %+v", got)
	}
}
