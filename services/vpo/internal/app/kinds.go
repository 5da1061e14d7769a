package app

import (
	"fmt"

	"github.com/sirupsen/logrus"

	"github.com/vpo-project/vpo/libs/config"
	"github.com/vpo-project/vpo/libs/jobs"
	"github.com/vpo-project/vpo/libs/logging"
	"github.com/vpo-project/vpo/libs/store"
	"github.com/vpo-project/vpo/services/vpo/internal/applyjob"
	"github.com/vpo-project/vpo/services/vpo/internal/scan"
	"github.com/vpo-project/vpo/services/vpo/internal/testkinds"
)

// newRegistry registers every job kind this daemon runs. New kinds plug in
// here by implementing jobs.Handler.
func newRegistry(cfg config.Config, st *store.Store, logger *logrus.Logger, applier *applyjob.Handler) (*jobs.Registry, error) {
	reg := jobs.NewRegistry()
	// One handler runs both kinds: a transcode job is an apply job that
	// may re-encode (see applyjob.TranscodeKind).
	for _, kind := range []string{applyjob.Kind, applyjob.TranscodeKind} {
		if err := reg.Register(kind, applier); err != nil {
			return nil, fmt.Errorf("register %s: %w", kind, err)
		}
	}
	// ffprobe is looked up on PATH at the start of every scan.
	if err := reg.Register(scan.Kind, scan.New(st, &scan.FFProbe{}, logging.Component(logger, "scan"))); err != nil {
		return nil, fmt.Errorf("register %s: %w", scan.Kind, err)
	}
	if cfg.Jobs.TestKinds {
		logging.Component(logger, "jobs").Warnf("test-only job kinds enabled ([jobs] test_kinds): %s", testkinds.SleepKind)
		if err := reg.Register(testkinds.SleepKind, testkinds.Sleep{}); err != nil {
			return nil, fmt.Errorf("register %s: %w", testkinds.SleepKind, err)
		}
	}
	return reg, nil
}

// policySettings are the policies.* keys an apply job reads when it starts.
func policySettings(c config.Config) applyjob.Settings {
	return applyjob.Settings{
		Dir: c.Policies.Dir, KeepOriginal: c.Policies.KeepOriginal,
		MinFileAge: c.Policies.MinFileAge, RequireApproval: c.Policies.RequireApproval,
	}
}
