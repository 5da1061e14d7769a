package app

import (
	"context"
	"path/filepath"

	"github.com/sirupsen/logrus"

	"github.com/vpo-project/vpo/libs/config"
	"github.com/vpo-project/vpo/libs/health"
	"github.com/vpo-project/vpo/libs/jobs"
	"github.com/vpo-project/vpo/libs/store"
	"github.com/vpo-project/vpo/services/vpo/internal/applyjob"
	"github.com/vpo-project/vpo/services/vpo/internal/web"
)

// dashboard returns the web pages and, when an auth token is set, the
// login sessions that guard them (signed with the key kept next to the
// database, the daemon's state directory).
func dashboard(cfg config.Config, st *store.Store, hl *health.Health, reg *jobs.Registry,
	applier *applyjob.Handler, log *logrus.Entry) (*web.Dashboard, *web.Sessions, error) {
	var sessions *web.Sessions
	token := cfg.Server.AuthToken
	if token != "" {
		dir := filepath.Dir(cfg.Database.Path)
		s, replaced, err := web.OpenSessions(dir, token)
		if err != nil {
			return nil, nil, err
		}
		if replaced {
			log.Warnf("the session key %s was not a key: replaced it (dashboard logins start again)", filepath.Join(dir, web.KeyFile))
		}
		sessions = s
	}
	d, err := web.New(web.Options{
		Store:     st,
		Health:    func(ctx context.Context) any { return hl.Report(ctx) },
		Kinds:     reg.Kinds,
		PolicyDir: func() string { return applier.Settings().Dir },
		Sessions:  sessions,
		Log:       log,
	})
	return d, sessions, err
}
