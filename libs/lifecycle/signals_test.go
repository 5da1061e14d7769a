package lifecycle_test

import (
	"context"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vpo-project/vpo/libs/lifecycle"
)

func TestSignalsOneShutdownThenOnlyLogs(t *testing.T) {
	for _, sig := range []os.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			rec := &recorder{}
			var ch chan<- os.Signal
			s := lifecycle.NewSignalsForTest(rec, &ch)
			ch <- sig // before Run: must not be lost
			if err := s.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			ch <- sig
			ch <- sig
			deadline := time.After(5 * time.Second)
			for countPrefix(rec.list(), "warn: received") < 2 {
				select {
				case <-deadline:
					t.Fatalf("repeated signals not logged: %q", rec.list())
				case <-time.After(time.Millisecond):
				}
			}
			s.Close()
			if n := countPrefix(rec.list(), "info: received"); n != 1 {
				t.Fatalf("%d shutdown lines, want 1: %q", n, rec.list())
			}
		})
	}
}

func TestSignalsShutdownEndsRun(t *testing.T) {
	var ch chan<- os.Signal
	s := lifecycle.NewSignalsForTest(&recorder{}, &ch)
	done := make(chan error)
	go func() { done <- s.Run(context.Background()) }()
	_ = s.Shutdown(context.Background())
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	s.Close() // twice-closing must not panic
}

func countPrefix(list []string, p string) int {
	n := 0
	for _, e := range list {
		if strings.HasPrefix(e, p) {
			n++
		}
	}
	return n
}

func TestNotifierMessages(t *testing.T) {
	var sent []string
	n := lifecycle.NewNotifierForTest(&sent)
	_ = n.Ready("serving on 127.0.0.1:8321")
	_ = n.Status("2 jobs running")
	_ = n.Stopping("shutting down")
	want := []string{"READY=1\nSTATUS=serving on 127.0.0.1:8321", "STATUS=2 jobs running", "STOPPING=1\nSTATUS=shutting down"}
	if strings.Join(sent, "|") != strings.Join(want, "|") {
		t.Fatalf("sent %q, want %q", sent, want)
	}
}

func TestNotifierWithoutSocketIsNoop(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	if err := lifecycle.NewNotifier().Ready("x"); err != nil {
		t.Fatalf("Ready without NOTIFY_SOCKET: %v", err)
	}
}
