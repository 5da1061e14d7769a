package server

import (
	"context"
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"unicode"

	"github.com/vpo-project/vpo/libs/config"
	"github.com/vpo-project/vpo/services/vpo/internal/web"
)

// guard holds the request rules that keep web pages the operator opens
// from using the daemon (README, "Network exposure and authentication"):
//
//   - without a token (vpo then listens on loopback only) the Host header
//     must name the daemon, else 421: this stops DNS rebinding;
//   - with a token every request except the three health endpoints, the
//     login page and the dashboard's static files needs it, else 401
//     (a dashboard page redirects to the login page instead), before any
//     404 or 405; a dashboard session cookie stands for the token;
//   - a state-changing request to an existing route must carry
//     "Content-Type: application/json" (else 415), which a cross-site page
//     cannot send without a CORS preflight, and an Origin header, when
//     present, must be the daemon's own origin (else 403); a request
//     that a session cookie authenticates must also carry the session's
//     CSRF token in X-CSRF-Token (else 403). The login and logout forms
//     are exempt from the Content-Type rule (logout checks the token in
//     its form).
//
// The first two run before routing (outer), the last after it (route).
type guard struct {
	token    tokenCheck // nil: no token configured
	hosts    []string   // extra allowed host names, normalised
	sessions *web.Sessions
	// lastHost is the last Host header hostAllowed accepted: probes and
	// clients send the same one again and again.
	lastHost atomic.Pointer[string]
	// pages is true when the dashboard is mounted: a browser asking for
	// one of its pages without credentials goes to the login page.
	pages bool
}

// sessionKey marks, in a request's context, the CSRF token of the
// dashboard session that authenticated it.
type sessionKey struct{}

func newGuard(token string, allowedHosts []string) *guard {
	g := &guard{}
	if token != "" {
		g.token = newTokenCheck(token)
	}
	for _, h := range allowedHosts {
		if n, ok := config.NormalizeHost(h); ok {
			g.hosts = append(g.hosts, n)
		}
	}
	return g
}

// healthPath reports whether p is one of the health endpoints, which stay
// open to probes: no token needed, and any Host accepted (/health then
// answers only its status, see redactedHealth).
func healthPath(p string) bool {
	return p == "/health" || p == "/health/live" || p == "/health/ready"
}

// outer applies the Host and token rules before routing.
func (g *guard) outer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case healthPath(r.URL.Path):
		case g.token == nil && !g.hostAllowed(r.Host):
			writeError(w, http.StatusMisdirectedRequest, fmt.Sprintf(
				"host %q does not name this vpo daemon: use localhost, 127.0.0.1 or [::1], or add the name to [server] allowed_hosts (VPO_SERVER_ALLOWED_HOSTS)", r.Host))
			return
		case g.token != nil && !g.token.allows(r):
			if csrf, ok := g.sessions.Check(r); ok {
				r = r.WithContext(context.WithValue(r.Context(), sessionKey{}, csrf))
				break
			}
			if web.Public(r.URL.Path) {
				break
			}
			if g.pages && web.Page(r.URL.Path) && r.Header.Get("Authorization") == "" &&
				(r.Method == http.MethodGet || r.Method == http.MethodHead) {
				http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			writeUnauthorized(w)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// trusted reports whether a /health caller may see the full document.
func (g *guard) trusted(r *http.Request) bool {
	if g.token != nil {
		return g.token.allows(r)
	}
	return g.hostAllowed(r.Host)
}

// hostAllowed reports whether a Host header names this daemon: localhost,
// a loopback address, or an allowed host, with or without a port.
func (g *guard) hostAllowed(hostport string) bool {
	if last := g.lastHost.Load(); last != nil && *last == hostport {
		return true
	}
	if !g.hostAllowedSlow(hostport) {
		return false
	}
	g.lastHost.Store(&hostport)
	return true
}

func (g *guard) hostAllowedSlow(hostport string) bool {
	if strings.ContainsFunc(hostport, func(r rune) bool { return r <= ' ' || r == 0x7f || unicode.IsSpace(r) }) {
		return false // no valid Host holds white space or control characters ("[::1 ]", "[::1\f]")
	}
	host := hostport
	if h, port, err := net.SplitHostPort(hostport); err == nil {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != port {
			return false // a port that is not one
		}
		host = h
	} else if inner, ok := strings.CutPrefix(hostport, "["); ok {
		// "[::1]" without a port.
		if host, ok = strings.CutSuffix(inner, "]"); !ok {
			return false
		}
	} else if strings.Contains(hostport, ":") {
		// An IPv6 address without brackets is not a valid Host.
		return false
	}
	name, ok := config.NormalizeHost(host)
	if !ok {
		return false
	}
	if name == "localhost" || slices.Contains(g.hosts, name) {
		return true
	}
	ip := net.ParseIP(name)
	return ip != nil && ip.IsLoopback()
}

// stateChanging reports whether method may change state.
func stateChanging(method string) bool {
	switch method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		return true
	}
	return false
}

// route applies the Origin and Content-Type rules to requests that matched
// a route, so that unknown paths and methods still answer 404 and 405.
func (g *guard) route(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !stateChanging(r.Method) {
			next.ServeHTTP(w, r)
			return
		}
		if origins := r.Header.Values("Origin"); len(origins) > 0 && !sameOrigin(origins, r.Host) {
			writeError(w, http.StatusForbidden, fmt.Sprintf(
				"cross-origin %s refused: Origin %q is not this daemon (http://%s)", r.Method, strings.Join(origins, ", "), r.Host))
			return
		}
		if r.URL.Path == "/login" || r.URL.Path == "/logout" {
			next.ServeHTTP(w, r)
			return
		}
		if csrf, ok := r.Context().Value(sessionKey{}).(string); ok && !web.CheckCSRF(csrf, r.Header.Get(web.CSRFHeader)) {
			writeError(w, http.StatusForbidden, fmt.Sprintf(
				"%s refused: a request made with a dashboard session needs the session's %s header", r.Method, web.CSRFHeader))
			return
		}
		cts := r.Header.Values("Content-Type")
		ct := strings.Join(cts, ", ")
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" || len(cts) != 1 {
			writeError(w, http.StatusUnsupportedMediaType, fmt.Sprintf(
				"%s needs one \"Content-Type: application/json\", even without a body (got %q)", r.Method, ct))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// sameOrigin reports whether the Origin header (one value) is the origin
// the request was sent to: http or https and exactly the Host header.
func sameOrigin(origins []string, host string) bool {
	if len(origins) != 1 || host == "" {
		return false
	}
	u, err := url.Parse(origins[0])
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return false
	}
	return strings.EqualFold(u.Host, host)
}
