package app

import (
	"context"
	"errors"
	"testing"

	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"
)

type fakeRecoverer struct {
	paths []string
	err   error
	calls int
}

func (f *fakeRecoverer) Recover(context.Context) ([]string, error) {
	f.calls++
	return f.paths, f.err
}

// TestRecoverApplies: start-up recovery runs once and logs each path it
// cleaned up, and a failure, without stopping the start.
func TestRecoverApplies(t *testing.T) {
	for _, tc := range []struct {
		name  string
		rec   fakeRecoverer
		lines int
		level logrus.Level
	}{
		{"nothing", fakeRecoverer{}, 0, logrus.InfoLevel},
		{"two files", fakeRecoverer{paths: []string{"/m/.a.mkv.vpo-tmp-1.mkv", "/m/b.mkv"}}, 2, logrus.WarnLevel},
		{"failure", fakeRecoverer{err: errors.New("journal unreadable")}, 1, logrus.ErrorLevel},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logger, hook := test.NewNullLogger()
			recoverApplies(context.Background(), &tc.rec, logrus.NewEntry(logger))
			if tc.rec.calls != 1 || len(hook.AllEntries()) != tc.lines {
				t.Fatalf("%d calls, %d log lines; want 1 call, %d lines", tc.rec.calls, len(hook.AllEntries()), tc.lines)
			}
			for i, e := range hook.AllEntries() {
				if e.Level != tc.level {
					t.Errorf("line %d at %s, want %s: %s", i, e.Level, tc.level, e.Message)
				}
			}
		})
	}
}
