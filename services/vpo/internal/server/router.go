package server

import (
	"fmt"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/gorilla/mux"
	"github.com/sirupsen/logrus"
)

// HealthHandlers are the three health endpoints (libs/health provides them).
type HealthHandlers interface {
	HealthHandler() http.Handler
	LiveHandler() http.Handler
	ReadyHandler() http.Handler
}

// RouterOptions configures NewRouter.
type RouterOptions struct {
	Health HealthHandlers
	// Jobs mounts the jobs and files API; nil leaves it out.
	Jobs *JobsAPI
	Log  *logrus.Entry
	// AuthToken, when set, limits /health to "status" and "shutting_down"
	// for callers without "Authorization: Bearer TOKEN" (same status code).
	// /health/live and /health/ready always stay open.
	AuthToken string
}

// NewRouter returns vpo's HTTP handler. Unknown paths answer 404 and wrong
// methods 405, both as JSON.
func NewRouter(opts RouterOptions) http.Handler {
	r := mux.NewRouter()
	r.StrictSlash(false)
	healthHandler := opts.Health.HealthHandler()
	if opts.AuthToken != "" {
		healthHandler = redactedHealth(opts.AuthToken, healthHandler)
	}
	r.Handle("/health", healthHandler).Methods(http.MethodGet, http.MethodHead)
	r.Handle("/health/live", opts.Health.LiveHandler()).Methods(http.MethodGet, http.MethodHead)
	r.Handle("/health/ready", opts.Health.ReadyHandler()).Methods(http.MethodGet, http.MethodHead)
	if opts.Jobs != nil {
		opts.Jobs.mount(r)
	}
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no such endpoint: %s %s", req.Method, req.URL.Path))
	})
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed on %s", req.Method, req.URL.Path))
	})
	return recoverer(opts.Log, accessLog(opts.Log, r))
}

// statusWriter remembers the status code for the access log.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

func accessLog(log *logrus.Entry, next http.Handler) http.Handler {
	if log == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !log.Logger.IsLevelEnabled(logrus.DebugLevel) {
			next.ServeHTTP(w, r)
			return
		}
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		next.ServeHTTP(sw, r)
		log.WithFields(logrus.Fields{
			"method":      r.Method,
			"path":        r.URL.Path,
			"status":      sw.code,
			"duration_ms": float64(time.Since(start).Microseconds()) / 1000,
			"remote":      r.RemoteAddr,
		}).Debug("http request")
	})
}

func recoverer(log *logrus.Entry, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				if log != nil {
					log.WithField("path", r.URL.Path).Errorf("panic serving request: %v", v)
					log.Debugf("%s", debug.Stack())
				}
				writeError(w, http.StatusInternalServerError, "internal error")
			}
		}()
		next.ServeHTTP(w, r)
	})
}
