package lifecycle_test

import (
	"context"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vpo-project/vpo/libs/lifecycle"
)

// eventually waits until cond holds, failing after 5s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestSignalsOneShutdownThenOnlyLogs(t *testing.T) {
	tests := []struct {
		sig  os.Signal
		name string
	}{
		{syscall.SIGTERM, "SIGTERM"},
		{syscall.SIGINT, "SIGINT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			fake := &lifecycle.FakeSignals{}
			s := lifecycle.NewSignalsForTest(rec, fake)
			fake.Send(tt.sig) // before Run: must not be lost
			if err := s.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got := s.StopReason(); got != tt.name {
				t.Fatalf("StopReason() = %q, want %q", got, tt.name)
			}
			// The group asks every actor to stop, signals included; the
			// shutdown is only beginning, so later signals must still log.
			_ = s.Shutdown(context.Background())
			fake.Send(tt.sig)
			eventually(t, "first repeated signal logged", func() bool { return countPrefix(rec.list(), "warn: received") >= 1 })
			fake.Send(tt.sig)
			eventually(t, "second repeated signal logged", func() bool { return countPrefix(rec.list(), "warn: received") >= 2 })
			s.Close()
			if n := countPrefix(rec.list(), "info: received "+tt.name+", shutting down"); n != 1 {
				t.Fatalf("%d shutdown lines, want 1: %q", n, rec.list())
			}
			if got := rec.list(); !strings.Contains(got[len(got)-1], tt.name+" again") {
				t.Fatalf("repeated signal line does not name %s: %q", tt.name, got)
			}
		})
	}
}

func TestSignalsShutdownEndsRun(t *testing.T) {
	s := lifecycle.NewSignalsForTest(&recorder{}, &lifecycle.FakeSignals{})
	done := make(chan error)
	go func() { done <- s.Run(context.Background()) }()
	_ = s.Shutdown(context.Background())
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := s.StopReason(); got != "" {
		t.Fatalf("StopReason() = %q after Shutdown, want empty", got)
	}
	s.Close()
	s.Close() // twice-closing must not panic
}

func TestSignalsSubscribesAtOnce(t *testing.T) {
	fake := &lifecycle.FakeSignals{}
	_ = lifecycle.NewSignalsForTest(&recorder{}, fake)
	for _, sig := range []os.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGPIPE} {
		if !fake.Send(sig) {
			t.Errorf("%s not subscribed by the constructor", lifecycle.SignalName(sig))
		}
	}
}

func TestSignalsHUPReloadsOneAtATime(t *testing.T) {
	rec := &recorder{}
	fake := &lifecycle.FakeSignals{}
	s := lifecycle.NewSignalsForTest(rec, fake)
	var running, overlaps, reloads atomic.Int32
	release := make(chan struct{})
	s.OnReload(func(context.Context) {
		if running.Add(1) > 1 {
			overlaps.Add(1)
		}
		<-release
		reloads.Add(1)
		running.Add(-1)
	})
	done := make(chan error)
	go func() { done <- s.Run(context.Background()) }()

	fake.Send(syscall.SIGHUP)
	eventually(t, "first reload to start", func() bool { return running.Load() == 1 })
	// A burst while a reload runs queues exactly one more reload.
	for range 20 {
		fake.Send(syscall.SIGHUP)
	}
	close(release)
	eventually(t, "queued reload", func() bool { return reloads.Load() == 2 })
	fake.Send(syscall.SIGTERM)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := reloads.Load(); n != 2 {
		t.Fatalf("%d reloads, want 2 (one, then one for the burst)", n)
	}
	if n := overlaps.Load(); n != 0 {
		t.Fatalf("%d overlapping reloads", n)
	}
	// During the shutdown a SIGHUP only logs.
	fake.Send(syscall.SIGHUP)
	eventually(t, "SIGHUP during shutdown logged", func() bool {
		return countPrefix(rec.list(), "warn: received SIGHUP during shutdown") == 1
	})
	s.Close()
	if n := reloads.Load(); n != 2 {
		t.Fatalf("reload ran during shutdown: %d reloads", n)
	}
}

// TestSignalsShutdownWhileReloadHangs: a reload that never returns (a
// config file on a dead mount) must not keep SIGTERM from stopping Run.
func TestSignalsShutdownWhileReloadHangs(t *testing.T) {
	rec := &recorder{}
	fake := &lifecycle.FakeSignals{}
	s := lifecycle.NewSignalsForTest(rec, fake)
	var started atomic.Bool
	hang := make(chan struct{})
	defer close(hang)
	s.OnReload(func(context.Context) {
		started.Store(true)
		<-hang
	})
	done := make(chan error, 1)
	go func() { done <- s.Run(context.Background()) }()
	fake.Send(syscall.SIGHUP)
	eventually(t, "reload to start", started.Load)
	fake.Send(syscall.SIGTERM)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return on SIGTERM while a reload hung")
	}
	if s.StopReason() != "SIGTERM" {
		t.Fatalf("StopReason = %q", s.StopReason())
	}
	s.Close()
}

func TestSignalsHUPWithoutReloadOnlyLogs(t *testing.T) {
	rec := &recorder{}
	fake := &lifecycle.FakeSignals{}
	s := lifecycle.NewSignalsForTest(rec, fake)
	fake.Send(syscall.SIGHUP)
	done := make(chan error)
	go func() { done <- s.Run(context.Background()) }()
	eventually(t, "ignored SIGHUP logged", func() bool { return countPrefix(rec.list(), "warn: received SIGHUP") == 1 })
	fake.Send(syscall.SIGTERM)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	s.Close()
}

func TestSignalsHandleQuit(t *testing.T) {
	fake := &lifecycle.FakeSignals{}
	s := lifecycle.NewSignalsForTest(&recorder{}, fake)
	fake.Send(syscall.SIGQUIT) // before HandleQuit: waits
	got := make(chan os.Signal, 1)
	s.HandleQuit(func(sig os.Signal) { got <- sig })
	select {
	case sig := <-got:
		if sig != syscall.SIGQUIT {
			t.Fatalf("quit handler got %v", sig)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("quit handler not called")
	}
	s.Close()
}

func TestSignalsReleaseRaisesPending(t *testing.T) {
	fake := &lifecycle.FakeSignals{}
	s := lifecycle.NewSignalsForTest(&recorder{}, fake)
	fake.Send(syscall.SIGTERM)
	s.Release()
	if len(fake.Raised) != 1 || fake.Raised[0] != syscall.SIGTERM {
		t.Fatalf("raised %v, want [SIGTERM]", fake.Raised)
	}
	for _, sig := range []os.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGPIPE} {
		if fake.Send(sig) {
			t.Errorf("%s still subscribed after Release", lifecycle.SignalName(sig))
		}
	}
}

func TestSignalName(t *testing.T) {
	tests := []struct {
		sig  os.Signal
		want string
	}{
		{syscall.SIGTERM, "SIGTERM"},
		{syscall.SIGINT, "SIGINT"},
		{syscall.SIGHUP, "SIGHUP"},
		{syscall.SIGQUIT, "SIGQUIT"},
		{syscall.SIGPIPE, "SIGPIPE"},
		{syscall.SIGUSR1, syscall.SIGUSR1.String()},
	}
	for _, tt := range tests {
		if got := lifecycle.SignalName(tt.sig); got != tt.want {
			t.Errorf("SignalName(%v) = %q, want %q", tt.sig, got, tt.want)
		}
	}
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
	_ = n.Reloading("reloading configuration")
	_ = n.Stopping("shutting down")
	want := []string{
		"READY=1\nSTATUS=serving on 127.0.0.1:8321",
		"STATUS=2 jobs running",
		"RELOADING=1\nMONOTONIC_USEC=1234\nSTATUS=reloading configuration",
		"STOPPING=1\nSTATUS=shutting down",
	}
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

func TestWriteGoroutines(t *testing.T) {
	var b strings.Builder
	if err := lifecycle.WriteGoroutines(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "goroutine ") || !strings.Contains(b.String(), "TestWriteGoroutines") {
		t.Fatalf("no goroutine dump with this test's stack:\n%s", b.String())
	}
}
