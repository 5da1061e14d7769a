package app

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/vpo-project/vpo/libs/config"
	"github.com/vpo-project/vpo/libs/jobs"
)

func TestJobLimitsApplyAndWarnAboutUnknownKinds(t *testing.T) {
	logger, hook := logtest.NewNullLogger()
	pool := jobs.NewPool(nil, jobs.NewRegistry(), jobs.PoolOptions{}) // never run
	l := jobLimits{pool: pool, kinds: []string{"apply", "scan", "transcode"}, log: logrus.NewEntry(logger)}
	c := config.Defaults(config.Options{NumCPU: 2})
	c.Jobs.StallTimeout = 0
	c.Jobs.StallTimeouts = map[string]time.Duration{"transcode": 30 * time.Minute}
	c.Jobs.Limits = map[string]int{"transcode": 1, "test.sleep": 2, "encode": 1}

	l.setStallTimeouts(c)
	l.setLimits(c)
	if pool.StallTimeout("scan") != 0 || pool.StallTimeout("transcode") != 30*time.Minute {
		t.Errorf("stall timeouts: scan %v, transcode %v; want off, 30m", pool.StallTimeout("scan"), pool.StallTimeout("transcode"))
	}
	if got := fmt.Sprint(pool.Limits()); got != "map[encode:1 test.sleep:2 transcode:1]" {
		t.Errorf("limits = %s", got)
	}
	var warnings []string
	for _, e := range hook.AllEntries() {
		if e.Level == logrus.WarnLevel {
			warnings = append(warnings, e.Message)
		}
	}
	if len(warnings) != 1 {
		t.Fatalf("warnings %q, want one (about jobs.limits)", warnings)
	}
	for _, part := range []string{"jobs.limits", "encode, test.sleep", "known kinds: apply, scan, transcode"} {
		if !strings.Contains(warnings[0], part) {
			t.Errorf("warning %q lacks %q", warnings[0], part)
		}
	}
}
