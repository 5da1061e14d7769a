package app

import (
	"maps"
	"slices"
	"strings"

	"github.com/sirupsen/logrus"

	"github.com/vpo-project/vpo/libs/config"
	"github.com/vpo-project/vpo/libs/jobs"
)

// jobLimits puts the jobs.* keys that bound running jobs into effect on
// the pool: stall timeouts and per-kind limits.
type jobLimits struct {
	pool  *jobs.Pool
	kinds []string // the kinds this daemon runs, sorted
	log   *logrus.Entry
}

// setStallTimeouts applies jobs.stall_timeout and jobs.stall_timeouts.
func (l jobLimits) setStallTimeouts(c config.Config) {
	l.pool.SetStallTimeouts(c.Jobs.StallTimeout, c.Jobs.StallTimeouts)
	l.warnUnknown("jobs.stall_timeouts", slices.Sorted(maps.Keys(c.Jobs.StallTimeouts)))
}

// setLimits applies jobs.limits.
func (l jobLimits) setLimits(c config.Config) {
	l.pool.SetLimits(c.Jobs.Limits)
	l.warnUnknown("jobs.limits", slices.Sorted(maps.Keys(c.Jobs.Limits)))
}

// warnUnknown warns, once per call, about kinds set in key that this
// daemon does not run. Not an error: a kind may be switched off (test
// kinds) or come with a newer version.
func (l jobLimits) warnUnknown(key string, kinds []string) {
	var unknown []string
	for _, k := range kinds {
		if !slices.Contains(l.kinds, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return
	}
	l.log.WithField("key", key).Warnf("%s names job kinds this daemon does not run: %s (known kinds: %s); their entries have no effect",
		key, strings.Join(unknown, ", "), strings.Join(l.kinds, ", "))
}
