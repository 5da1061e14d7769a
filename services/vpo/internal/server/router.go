package server

import (
	"fmt"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"github.com/sirupsen/logrus"

	"github.com/vpo-project/vpo/services/vpo/internal/web"
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
	// Policies mounts the policies, plans and file-detail API; nil leaves
	// it out.
	Policies *PoliciesAPI
	// Hooks mounts the Sonarr and Radarr webhooks; nil leaves them out.
	Hooks *HooksAPI
	// Queue mounts /api/queue (pause, resume, status); nil leaves it out.
	Queue *QueueAPI
	// Libraries mounts /api/libraries; nil leaves it out.
	Libraries *LibrariesAPI
	// Nodes mounts /api/nodes; nil leaves it out.
	Nodes *NodesAPI
	// Events serves GET /api/events (Server-Sent Events); nil leaves it
	// out.
	Events http.Handler
	// Metrics serves GET /metrics; nil leaves it out.
	Metrics http.Handler
	// Dashboard are the web pages, their static files and the login
	// (web.Dashboard.Routes); nil leaves them out.
	Dashboard []web.Route
	// Sessions, with AuthToken, lets a dashboard login stand for the
	// token (state changes then need the session's CSRF token too).
	Sessions *web.Sessions
	// Observe, when set, is told of every request: its route pattern
	// ("unmatched" when no route matched), method, status code and
	// duration (metrics).
	Observe func(route, method string, code int, d time.Duration)
	Log     *logrus.Entry
	// AuthToken, when set, is required on every request except the three
	// health endpoints, as "Authorization: Bearer TOKEN" or as the password
	// of HTTP Basic auth; /health then shows only "status" and
	// "shutting_down" to callers without it (same status code).
	// /health/live and /health/ready always stay open.
	AuthToken string
	// AllowedHosts are host names, besides localhost and loopback
	// addresses, that the Host header may carry when AuthToken is empty
	// (config server.allowed_hosts).
	AllowedHosts []string
}

// NewRouter returns vpo's HTTP handler with the request rules of guard.
// Unknown paths answer 404 and wrong methods 405 with an Allow header, both
// as JSON.
func NewRouter(opts RouterOptions) http.Handler {
	g := newGuard(opts.AuthToken, opts.AllowedHosts)
	g.sessions, g.pages = opts.Sessions, len(opts.Dashboard) > 0
	r := mux.NewRouter()
	r.StrictSlash(false)
	if opts.Observe != nil {
		r.Use(nameRoute)
	}
	r.Use(g.route)
	health := redactedHealth(g.trusted, opts.Health.HealthHandler())
	r.Handle("/health", health).Methods(http.MethodGet, http.MethodHead)
	r.Handle("/health/live", opts.Health.LiveHandler()).Methods(http.MethodGet, http.MethodHead)
	r.Handle("/health/ready", opts.Health.ReadyHandler()).Methods(http.MethodGet, http.MethodHead)
	if opts.Jobs != nil {
		opts.Jobs.mount(r)
	}
	if opts.Policies != nil {
		opts.Policies.mount(r)
	}
	if opts.Hooks != nil {
		opts.Hooks.mount(r)
	}
	if opts.Queue != nil {
		opts.Queue.mount(r)
	}
	if opts.Libraries != nil {
		opts.Libraries.mount(r)
	}
	if opts.Nodes != nil {
		opts.Nodes.mount(r)
	}
	if opts.Events != nil {
		r.Handle("/api/events", opts.Events).Methods(http.MethodGet, http.MethodHead)
	}
	if opts.Metrics != nil {
		r.Handle("/metrics", opts.Metrics).Methods(http.MethodGet, http.MethodHead)
	}
	dashboard := make([]route, 0, len(opts.Dashboard))
	for _, rt := range opts.Dashboard {
		dashboard = append(dashboard, route{rt.Path, rt.Method, rt.Handler.ServeHTTP})
	}
	mountRoutes(r, dashboard)
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no such endpoint: %s %s", req.Method, req.URL.Path))
	})
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		allow := allowedMethods(r, req)
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed on %s (allowed: %s)", req.Method, req.URL.Path, strings.Join(allow, ", ")))
	})

	routed := recoverer(opts.Log, accessLog(opts.Log, g.outer(r)))
	// /health is what probes and load balancers hit most: straight to its
	// handler. The guard has no rule for it (no token, any Host) and no
	// other route shares its path, so this answers as routing would.
	health = recoverer(opts.Log, accessLog(opts.Log, health))
	if opts.Observe != nil {
		// Outermost, so that what the guard refuses (401, 421) and what
		// no route serves are counted too, as "unmatched".
		routed = observed(opts.Observe, "")(routed)
		health = observed(opts.Observe, "/health")(health)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path == "/health" && (req.Method == http.MethodGet || req.Method == http.MethodHead) {
			health.ServeHTTP(w, req)
			return
		}
		routed.ServeHTTP(w, req)
	})
}

// observed is the middleware that tells observe of each request, under
// route, or when route is "" under the pattern of the route that served
// it (set by nameRoute), "unmatched" when none did.
func observed(observe func(route, method string, code int, d time.Duration), route string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			ow := &observedWriter{statusWriter: statusWriter{ResponseWriter: w, code: http.StatusOK}, route: route}
			if route == "" {
				ow.route = "unmatched"
			}
			next.ServeHTTP(ow, r)
			observe(ow.route, r.Method, ow.code, time.Since(start))
		})
	}
}

// observedWriter is a statusWriter that also carries the route of a
// request, for observed.
type observedWriter struct {
	statusWriter
	route string
}

// nameRoute is the router middleware that tells observed which route
// pattern serves the request.
func nameRoute(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for inner := w; inner != nil; {
			if ow, ok := inner.(*observedWriter); ok {
				if cur := mux.CurrentRoute(r); cur != nil {
					if tpl, err := cur.GetPathTemplate(); err == nil {
						ow.route = tpl
					}
				}
				break
			}
			u, ok := inner.(interface{ Unwrap() http.ResponseWriter })
			if !ok {
				break
			}
			inner = u.Unwrap()
		}
		next.ServeHTTP(w, r)
	})
}

// allowedMethods lists the methods some route of r serves on req's path.
func allowedMethods(r *mux.Router, req *http.Request) []string {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		probe := req.Clone(req.Context())
		probe.Method = m
		var match mux.RouteMatch
		if r.Match(probe, &match) && match.MatchErr == nil {
			allow = append(allow, m)
		}
	}
	return allow
}

// statusWriter remembers the status code for the access log.
type statusWriter struct {
	http.ResponseWriter
	code int
}

// Unwrap lets http.ResponseController (event streams flush and set write
// deadlines through it) and nameRoute reach through.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

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
