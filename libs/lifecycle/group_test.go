package lifecycle_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vpo-project/vpo/libs/lifecycle"
)

// recorder is a Logger and an event log shared by fake actors.
type recorder struct {
	mu     sync.Mutex
	events []string
}

func (r *recorder) add(s string) { r.mu.Lock(); r.events = append(r.events, s); r.mu.Unlock() }
func (r *recorder) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.events...)
}
func (r *recorder) Infof(f string, a ...any)  { r.add("info: " + fmt.Sprintf(f, a...)) }
func (r *recorder) Warnf(f string, a ...any)  { r.add("warn: " + fmt.Sprintf(f, a...)) }
func (r *recorder) Errorf(f string, a ...any) { r.add("error: " + fmt.Sprintf(f, a...)) }

// fakeActor runs until stopped; it can also end on its own.
type fakeActor struct {
	name     string
	rec      *recorder
	stop     chan struct{}
	once     sync.Once
	exit     chan error     // closing/sending ends Run by itself
	ignore   bool           // Shutdown does not stop Run
	sawDline chan time.Time // receives the Shutdown deadline
}

func newFake(name string, rec *recorder) *fakeActor {
	return &fakeActor{name: name, rec: rec, stop: make(chan struct{}), exit: make(chan error, 1), sawDline: make(chan time.Time, 1)}
}

func (f *fakeActor) Name() string { return f.name }
func (f *fakeActor) Run(ctx context.Context) error {
	select {
	case <-f.stop:
		f.rec.add(f.name + " run returned")
		return nil
	case err := <-f.exit:
		f.rec.add(f.name + " run returned by itself")
		return err
	}
}
func (f *fakeActor) Shutdown(ctx context.Context) error {
	d, _ := ctx.Deadline()
	f.sawDline <- d
	f.rec.add(f.name + " shutdown")
	if !f.ignore {
		f.once.Do(func() { close(f.stop) })
	}
	return nil
}

func TestGroupShutsDownEveryActorInOrder(t *testing.T) {
	tests := []struct {
		name    string
		exitErr error
		wantErr string
	}{
		{name: "clean stop", exitErr: nil},
		{name: "actor failure", exitErr: errors.New("listener broke"), wantErr: "a: listener broke"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			var reasons []string
			g := lifecycle.NewGroup(lifecycle.GroupOptions{
				ShutdownTimeout: time.Minute,
				Log:             rec,
				OnShutdown:      func(r string) { reasons = append(reasons, r); rec.add("on shutdown") },
			})
			a, b, c := newFake("a", rec), newFake("b", rec), newFake("c", rec)
			g.Add(a)
			g.Add(b)
			g.Add(c)
			a.exit <- tt.exitErr
			err := g.Run(context.Background())
			if tt.wantErr == "" && err != nil {
				t.Fatalf("Run() = %v, want nil", err)
			}
			if tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr) {
				t.Fatalf("Run() = %v, want %q", err, tt.wantErr)
			}
			if len(reasons) != 1 || !strings.HasPrefix(reasons[0], "a ") {
				t.Fatalf("OnShutdown reasons = %q, want one naming actor a", reasons)
			}
			// OnShutdown comes before any Shutdown, and Shutdowns are in order.
			var order []string
			for _, e := range rec.list() {
				if e == "on shutdown" || strings.HasSuffix(e, " shutdown") {
					order = append(order, e)
				}
			}
			want := []string{"on shutdown", "a shutdown", "b shutdown", "c shutdown"}
			if strings.Join(order, ",") != strings.Join(want, ",") {
				t.Fatalf("order = %q, want %q", order, want)
			}
		})
	}
}

func TestGroupSharesOneDeadline(t *testing.T) {
	rec := &recorder{}
	g := lifecycle.NewGroup(lifecycle.GroupOptions{ShutdownTimeout: 7 * time.Second, Log: rec})
	a, b := newFake("a", rec), newFake("b", rec)
	g.Add(a)
	g.Add(b)
	a.exit <- nil
	start := time.Now()
	if err := g.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	da, db := <-a.sawDline, <-b.sawDline
	if !da.Equal(db) {
		t.Fatalf("deadlines differ: %v vs %v", da, db)
	}
	if got := da.Sub(start); got < 6*time.Second || got > 8*time.Second {
		t.Fatalf("deadline %v after start, want about 7s", got)
	}
}

func TestGroupGivesUpOnActorThatWillNotStop(t *testing.T) {
	rec := &recorder{}
	fire := make(chan time.Time)
	var asked time.Duration
	g := lifecycle.NewGroup(lifecycle.GroupOptions{
		ShutdownTimeout: 2 * time.Second,
		Grace:           time.Second,
		Log:             rec,
		After:           func(d time.Duration) <-chan time.Time { asked = d; return fire },
	})
	a, stuck := newFake("a", rec), newFake("stuck", rec)
	stuck.ignore = true
	g.Add(a)
	g.Add(stuck)
	a.exit <- nil
	errc := make(chan error, 1)
	go func() { errc <- g.Run(context.Background()) }()
	<-stuck.sawDline // shutdown reached the stuck actor
	select {
	case err := <-errc:
		t.Fatalf("Run returned %v before the deadline fired", err)
	default:
	}
	fire <- time.Now()
	if err := <-errc; !errors.Is(err, lifecycle.ErrStopTimeout) {
		t.Fatalf("Run() = %v, want ErrStopTimeout", err)
	}
	if asked != 3*time.Second {
		t.Fatalf("waited %v, want timeout+grace = 3s", asked)
	}
}

func TestGroupStopsWhenContextEnds(t *testing.T) {
	rec := &recorder{}
	g := lifecycle.NewGroup(lifecycle.GroupOptions{ShutdownTimeout: time.Second, Log: rec})
	a := newFake("a", rec)
	g.Add(a)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := g.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if got := rec.list(); !contains(got, "a shutdown") {
		t.Fatalf("events %q lack a shutdown", got)
	}
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// reasonActor is a fake actor that names why it stopped.
type reasonActor struct {
	*fakeActor
	reason string
}

func (r reasonActor) StopReason() string { return r.reason }

func TestGroupNamesStopReason(t *testing.T) {
	tests := []struct {
		name, reason, want string
	}{
		{name: "signal", reason: "SIGTERM", want: "SIGTERM"},
		{name: "no reason", reason: "", want: "a stopped"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			var got []string
			g := lifecycle.NewGroup(lifecycle.GroupOptions{
				ShutdownTimeout: time.Second, Log: rec,
				OnShutdown: func(r string) { got = append(got, r) },
			})
			a := reasonActor{newFake("a", rec), tt.reason}
			g.Add(a)
			a.exit <- nil
			if err := g.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[0] != tt.want {
				t.Fatalf("OnShutdown reasons %q, want [%q]", got, tt.want)
			}
			if !contains(rec.list(), "info: shutdown started ("+tt.want+")") {
				t.Fatalf("events %q lack the shutdown line", rec.list())
			}
		})
	}
}

func TestGroupSetShutdownTimeout(t *testing.T) {
	rec := &recorder{}
	var asked time.Duration
	g := lifecycle.NewGroup(lifecycle.GroupOptions{
		ShutdownTimeout: time.Minute, Grace: time.Second, Log: rec,
		After: func(d time.Duration) <-chan time.Time { asked = d; return nil },
	})
	g.SetShutdownTimeout(5 * time.Second)
	if got := g.ShutdownTimeout(); got != 5*time.Second {
		t.Fatalf("ShutdownTimeout() = %v, want 5s", got)
	}
	a := newFake("a", rec)
	g.Add(a)
	a.exit <- nil
	if err := g.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if asked != 6*time.Second {
		t.Fatalf("waited %v, want new timeout+grace = 6s", asked)
	}
}
