package applyjob_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/vpo-project/vpo/libs/jobs"
	"github.com/vpo-project/vpo/libs/media"
	"github.com/vpo-project/vpo/services/vpo/internal/apply"
	"github.com/vpo-project/vpo/services/vpo/internal/applyjob"
)

// failingExec fails probes with probeErr (when set) and applies with
// applyErr.
type failingExec struct {
	fakeExec
	probeErr error
}

func (f *failingExec) Probe(ctx context.Context, path string, opts media.Options) (media.File, []byte, error) {
	if f.probeErr != nil {
		return media.File{}, nil, f.probeErr
	}
	return f.fakeExec.Probe(ctx, path, opts)
}

// TestPermanentFailuresAreFinal: an executor error matching
// apply.ErrPermanent (read-only file, symbolic link, taken name, not
// media) fails the job at its first attempt (jobs.Final); others are
// retried.
func TestPermanentFailuresAreFinal(t *testing.T) {
	for _, tc := range []struct {
		name      string
		probeErr  error
		applyErr  error
		wantFinal bool
	}{
		{name: "read-only file", applyErr: fmt.Errorf("file /x/a.mkv is read-only: %w", apply.ErrPermanent), wantFinal: true},
		{name: "not media", probeErr: fmt.Errorf("/x/a.mkv is not a media file ffprobe can read: %w", apply.ErrPermanent), wantFinal: true},
		{name: "tool failure", applyErr: errors.New("mkvmerge exploded"), wantFinal: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, applyjob.Settings{})
			ex := &failingExec{probeErr: tc.probeErr}
			ex.err = tc.applyErr
			l := logrus.New()
			l.SetOutput(io.Discard)
			f.h = applyjob.New(f.st, ex, applyjob.Settings{Dir: f.dir + "/policies"}, logrus.NewEntry(l))
			_, _, err := f.run(t, fmt.Sprintf(`{"policy":"eng","path":%q}`, f.file))
			if err == nil {
				t.Fatal("the job succeeded")
			}
			if got := errors.As(err, new(*jobs.FinalError)); got != tc.wantFinal {
				t.Errorf("job error %q: final %v, want %v", err, got, tc.wantFinal)
			}
		})
	}
}
