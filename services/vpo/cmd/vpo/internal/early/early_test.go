package early_test

import (
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/vpo-project/vpo/services/vpo/cmd/vpo/internal/early"
)

// TestSubscribedAtInit: by the time any test runs, package initialisation
// has subscribed; a signal sent now lands on its channel instead of taking
// its default action (SIGHUP would end this test process).
func TestSubscribedAtInit(t *testing.T) {
	sub := early.Signals()
	for _, tc := range []struct {
		sig syscall.Signal
		ch  chan os.Signal
	}{
		{syscall.SIGHUP, sub.Hup},
		{syscall.SIGTERM, sub.Term},
		{syscall.SIGPIPE, sub.Pipe},
	} {
		if err := syscall.Kill(os.Getpid(), tc.sig); err != nil {
			t.Fatal(err)
		}
		select {
		case got := <-tc.ch:
			if got != tc.sig {
				t.Fatalf("got %v on the channel of %v", got, tc.sig)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%v not delivered to its channel", tc.sig)
		}
	}
	if cap(sub.Term) < 4 || cap(sub.Hup) != 1 {
		t.Fatalf("buffers: term %d, hup %d", cap(sub.Term), cap(sub.Hup))
	}
}
