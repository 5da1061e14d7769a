package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"syscall"
	"time"
)

// Timeouts and limits of the HTTP server.
const (
	ReadHeaderTimeout = 5 * time.Second
	ReadTimeout       = 30 * time.Second
	WriteTimeout      = 60 * time.Second
	IdleTimeout       = 120 * time.Second
	MaxHeaderBytes    = 64 << 10
)

// ErrAddrInUse marks a bind failure because another process owns the port.
var ErrAddrInUse = errors.New("address already in use")

// Listen binds addr. Failures name the address and say why in words an
// operator can act on.
func Listen(ctx context.Context, addr string) (net.Listener, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("listen on %s: %w (is another vpo or another program using this port? set [server] port or --port)", addr, ErrAddrInUse)
		}
		if errors.Is(err, syscall.EADDRNOTAVAIL) {
			return nil, fmt.Errorf("listen on %s: address not available on this machine (check [server] bind or --bind): %w", addr, err)
		}
		if errors.Is(err, syscall.EACCES) {
			return nil, fmt.Errorf("listen on %s: permission denied (ports below 1024 need privileges): %w", addr, err)
		}
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	return ln, nil
}

// HTTPServer is the lifecycle actor that serves HTTP on a bound listener.
type HTTPServer struct {
	ln  net.Listener
	srv *http.Server
}

// NewHTTPServer wraps handler in an http.Server with vpo's timeouts.
func NewHTTPServer(ln net.Listener, handler http.Handler, errorLog func(string)) *HTTPServer {
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		WriteTimeout:      WriteTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
	}
	if errorLog != nil {
		srv.ErrorLog = newStdLogger(errorLog)
	}
	return &HTTPServer{ln: ln, srv: srv}
}

// Name implements lifecycle.Actor.
func (s *HTTPServer) Name() string { return "http" }

// Addr is the bound address.
func (s *HTTPServer) Addr() net.Addr { return s.ln.Addr() }

// Run implements lifecycle.Actor.
func (s *HTTPServer) Run(context.Context) error {
	if err := s.srv.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve http on %s: %w", s.ln.Addr(), err)
	}
	return nil
}

// Shutdown implements lifecycle.Actor: it stops accepting, lets in-flight
// requests finish until ctx ends, then closes what is left.
func (s *HTTPServer) Shutdown(ctx context.Context) error {
	s.srv.SetKeepAlivesEnabled(false)
	if err := s.srv.Shutdown(ctx); err != nil {
		_ = s.srv.Close()
		return fmt.Errorf("drain http: %w", err)
	}
	return nil
}
