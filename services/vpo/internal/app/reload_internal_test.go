package app

import (
	"strings"

	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"
	"slices"
	"testing"

	"github.com/vpo-project/vpo/libs/config"
)

// TestAppliersCoverLiveKeys: every key libs/config marks live has exactly
// one applier, and nothing else has one.
func TestAppliersCoverLiveKeys(t *testing.T) {
	var want []string
	for _, k := range config.Keys() {
		if k.Live {
			want = append(want, k.Name)
		}
	}
	slices.Sort(want)
	if got := liveKeys(appliers(liveParts{})); !slices.Equal(got, want) {
		t.Fatalf("appliers for %q, want one for each live key %q", got, want)
	}
}

// TestLiveWindowAndLibraries: a reload hands the new window and libraries
// to whatever is wired to take them, and does nothing when nothing is.
func TestLiveWindowAndLibraries(t *testing.T) {
	var gotLibraries []config.Library
	pool := &fakeQueuePool{}
	logger, logged := test.NewNullLogger()
	parts := liveParts{
		queue:  newQueueControl(pool, &fakeQueueStore{}, nil),
		limits: jobLimits{kinds: []string{"apply", "scan", "transcode"}, log: logrus.NewEntry(logger)},
		libraries: func(libs []config.Library) {
			gotLibraries = libs
		},
	}
	c := config.Defaults(config.Options{Home: "/home/u", NumCPU: 2})
	var err error
	if c.Jobs.Schedule, err = config.ParseSchedule("01:00-07:00"); err != nil {
		t.Fatal(err)
	}
	c.Jobs.ScheduledKinds = []string{"apply", "aplly"}
	c.Libraries = []config.Library{{Path: "/srv/a", Watch: true}}
	a := appliers(parts)
	a["jobs.schedule"](config.Config{}, c)
	if s, ok := pool.window.(config.Schedule); !ok || s.String() != "01:00-07:00" || !slices.Equal(pool.kinds, []string{"apply", "aplly"}) {
		t.Errorf("window = %v %q", pool.window, pool.kinds)
	}
	// A kind this daemon does not run is named in a warning.
	if e := logged.LastEntry(); e == nil || !strings.Contains(e.Message, "jobs.scheduled_kinds names job kinds this daemon does not run: aplly") {
		t.Errorf("no warning about the unknown scheduled kind: %v", e)
	}
	pool.window, pool.kinds = nil, nil
	a["jobs.scheduled_kinds"](config.Config{}, c)
	if pool.window == nil {
		t.Errorf("scheduled_kinds did not set the window")
	}
	a["library"](config.Config{}, c)
	if len(gotLibraries) != 1 || gotLibraries[0].Path != "/srv/a" {
		t.Errorf("libraries = %+v", gotLibraries)
	}
	// Not wired: no panic.
	for _, key := range []string{"jobs.schedule", "jobs.scheduled_kinds", "library"} {
		appliers(liveParts{})[key](config.Config{}, c)
	}
}
