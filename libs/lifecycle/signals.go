package lifecycle

import (
	"context"
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// Signals is an actor that owns the daemon's signal dispositions:
//
//   - SIGTERM, SIGINT: Run returns, which starts the one graceful shutdown.
//     Every later SIGTERM or SIGINT only logs.
//   - SIGHUP: the reload function (OnReload) runs, one reload at a time; a
//     burst of SIGHUPs during a reload queues at most one more reload.
//   - SIGQUIT: the function given to HandleQuit runs (dump stacks, exit).
//   - SIGPIPE: caught and dropped, so a write to a stderr whose reader went
//     away fails with EPIPE instead of killing the process. Catching (rather
//     than ignoring) keeps the default disposition for child processes.
//
// NewSignals subscribes at once; create it as the first thing the process
// does so that no signal finds the default disposition.
type Signals struct {
	log    Logger
	sys    signalSys
	reload func(ctx context.Context)

	term chan os.Signal // SIGTERM, SIGINT
	hup  chan os.Signal // SIGHUP; one pending reload is enough
	quit chan os.Signal // SIGQUIT
	pipe chan os.Signal // SIGPIPE; never read, see NewSignals

	stop      chan struct{} // closed by Shutdown: Run returns
	closed    chan struct{} // closed by Close: late signals are no longer logged
	stopOnce  sync.Once
	closeOnce sync.Once
	lateOnce  sync.Once

	mu     sync.Mutex
	reason string
}

// signalSys is the process's signal machinery; tests replace it.
type signalSys interface {
	Notify(c chan<- os.Signal, sig ...os.Signal)
	Stop(c chan<- os.Signal)
	Raise(sig os.Signal) error
}

type osSignals struct{}

func (osSignals) Notify(c chan<- os.Signal, sig ...os.Signal) { signal.Notify(c, sig...) }
func (osSignals) Stop(c chan<- os.Signal)                     { signal.Stop(c) }
func (osSignals) Raise(sig os.Signal) error {
	p, err := os.FindProcess(os.Getpid())
	if err != nil {
		return err
	}
	return p.Signal(sig)
}

// NewSignals subscribes to SIGTERM, SIGINT, SIGHUP, SIGQUIT and SIGPIPE at
// once, so that signals arriving before Run are not lost. Call SetLog
// before Run.
func NewSignals() *Signals {
	return newSignals(osSignals{}, SignalChannels{})
}

// SignalChannels are channels a process subscribed to its signals before
// lifecycle could be initialised (see AdoptSignals). A nil channel is made
// anew.
type SignalChannels struct {
	Term chan os.Signal // SIGTERM, SIGINT; buffer of at least 4
	Hup  chan os.Signal // SIGHUP; buffer 1 (one pending reload)
	Quit chan os.Signal // SIGQUIT
	Pipe chan os.Signal // SIGPIPE
}

// AdoptSignals is NewSignals for a process that subscribed earlier, while
// its packages were initialised: signals already delivered to chans are
// handled as if they had arrived after NewSignals.
func AdoptSignals(chans SignalChannels) *Signals {
	return newSignals(osSignals{}, chans)
}

func orMake(c chan os.Signal, size int) chan os.Signal {
	if c == nil {
		return make(chan os.Signal, size)
	}
	return c
}

func newSignals(sys signalSys, chans SignalChannels) *Signals {
	s := &Signals{
		log:    discard{},
		sys:    sys,
		term:   orMake(chans.Term, 4),
		hup:    orMake(chans.Hup, 1),
		quit:   orMake(chans.Quit, 1),
		pipe:   orMake(chans.Pipe, 1),
		stop:   make(chan struct{}),
		closed: make(chan struct{}),
	}
	s.sys.Notify(s.term, syscall.SIGTERM, syscall.SIGINT)
	s.sys.Notify(s.hup, syscall.SIGHUP)
	s.sys.Notify(s.quit, syscall.SIGQUIT)
	// Only the subscription matters: the runtime then turns a broken
	// stderr into EPIPE. Deliveries beyond the buffer are dropped.
	s.sys.Notify(s.pipe, syscall.SIGPIPE)
	return s
}

// SetLog replaces the logger; call it before Run (e.g. once the daemon's
// configured logger exists).
func (s *Signals) SetLog(log Logger) { s.log = log }

// OnReload sets what a SIGHUP does; call it before Run. Reloads run in
// Run's goroutine, so they never overlap. Without it SIGHUP is logged and
// otherwise ignored.
func (s *Signals) OnReload(reload func(ctx context.Context)) { s.reload = reload }

// HandleQuit starts waiting for SIGQUIT and calls quit with it (once).
// Until HandleQuit is called, a SIGQUIT waits in the subscription.
func (s *Signals) HandleQuit(quit func(sig os.Signal)) {
	go func() {
		select {
		case sig := <-s.quit:
			quit(sig)
		case <-s.closed:
		}
	}()
}

// Release gives every signal back to its default disposition, for
// commands that are not the daemon. A signal that arrived meanwhile is
// raised again, so it has the effect it would have had without Signals.
func (s *Signals) Release() {
	for _, c := range []chan os.Signal{s.term, s.hup, s.quit, s.pipe} {
		s.sys.Stop(c)
	}
	s.closeOnce.Do(func() { close(s.closed) })
	for _, c := range []chan os.Signal{s.term, s.hup, s.quit} {
	drain:
		for {
			select {
			case sig := <-c:
				_ = s.sys.Raise(sig)
			default:
				break drain
			}
		}
	}
}

// Name implements Actor.
func (s *Signals) Name() string { return "signals" }

// StopReason names the signal that ended Run ("SIGTERM"), or "" when Run
// ended for another reason. The group uses it to describe the shutdown.
func (s *Signals) StopReason() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reason
}

// Run implements Actor: it returns nil on the first SIGTERM or SIGINT, or
// when Shutdown is called or ctx ends; meanwhile a goroutine of its own
// runs a reload for each SIGHUP, so a reload that hangs (a config file on a
// dead mount) never delays a shutdown. Signals that follow are logged until
// Close.
func (s *Signals) Run(ctx context.Context) error {
	defer s.lateOnce.Do(func() { go s.logLater() })
	stopped := make(chan struct{})
	defer close(stopped)
	go s.reloadLoop(ctx, stopped)
	for {
		select {
		case sig := <-s.term:
			name := SignalName(sig)
			s.mu.Lock()
			s.reason = name
			s.mu.Unlock()
			s.log.Infof("received %s, shutting down gracefully", name)
			return nil
		case <-s.stop:
			return nil
		case <-ctx.Done():
			return nil
		}
	}
}

// reloadLoop runs the reloads, one at a time, until Run returns.
func (s *Signals) reloadLoop(ctx context.Context, stopped <-chan struct{}) {
	for {
		select {
		case <-s.hup:
			select {
			case <-stopped:
				s.log.Warnf("received SIGHUP during shutdown; not reloading")
				return
			default:
			}
			if s.reload == nil {
				s.log.Warnf("received SIGHUP, but this process cannot reload; ignoring it")
				continue
			}
			s.log.Infof("received SIGHUP, reloading the configuration")
			s.reload(ctx)
		case <-stopped:
			return
		}
	}
}

// logLater logs the signals that arrive during the shutdown.
func (s *Signals) logLater() {
	for {
		select {
		case sig := <-s.term:
			s.log.Warnf("received %s again; shutdown already in progress", SignalName(sig))
		case <-s.hup:
			s.log.Warnf("received SIGHUP during shutdown; not reloading")
		case <-s.closed:
			return
		}
	}
}

// Shutdown implements Actor: Run returns, but later signals are still
// logged (until Close), since the shutdown is only beginning.
func (s *Signals) Shutdown(context.Context) error {
	s.stopOnce.Do(func() { close(s.stop) })
	return nil
}

// Close stops logging signals. The subscription stays, so a signal that
// arrives while the process finishes its exit is ignored rather than
// killing it: there is one shutdown, and it ends with the process's own
// exit code.
func (s *Signals) Close() {
	s.stopOnce.Do(func() { close(s.stop) })
	s.closeOnce.Do(func() { close(s.closed) })
}

// SignalName returns the conventional name of sig, such as "SIGTERM"
// (os.Signal's String says "terminated").
func SignalName(sig os.Signal) string {
	switch sig {
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGHUP:
		return "SIGHUP"
	case syscall.SIGQUIT:
		return "SIGQUIT"
	case syscall.SIGPIPE:
		return "SIGPIPE"
	default:
		return sig.String()
	}
}

// discard is the Logger used until SetLog.
type discard struct{}

func (discard) Infof(string, ...any)  {}
func (discard) Warnf(string, ...any)  {}
func (discard) Errorf(string, ...any) {}
