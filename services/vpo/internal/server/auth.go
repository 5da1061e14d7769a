package server

import (
	"bytes"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
)

// tokenCheck decides whether a request carries the configured auth token,
// either as "Authorization: Bearer TOKEN" or as the password of HTTP Basic
// auth with any user name (how upstream VPO clients send it). Scheme names
// are case-insensitive (RFC 7235).
type tokenCheck []byte

func newTokenCheck(token string) tokenCheck { return tokenCheck(token) }

// allows reports whether r presents the token. The comparison runs in
// constant time (the length of a wrong token is not hidden, its content is).
func (t tokenCheck) allows(r *http.Request) bool {
	given, ok := presentedToken(r.Header.Get("Authorization"))
	return ok && subtle.ConstantTimeCompare(given, t) == 1
}

// presentedToken extracts the token from an Authorization header value:
// the credentials of the Bearer scheme, or the password of the Basic scheme.
func presentedToken(header string) ([]byte, bool) {
	scheme, creds, ok := strings.Cut(strings.TrimSpace(header), " ")
	if !ok {
		return nil, false
	}
	creds = strings.TrimLeft(creds, " ")
	switch {
	case strings.EqualFold(scheme, "Bearer"):
		return []byte(creds), creds != ""
	case strings.EqualFold(scheme, "Basic"):
		decoded, err := base64.StdEncoding.DecodeString(creds)
		if err != nil {
			return nil, false
		}
		_, password, ok := bytes.Cut(decoded, []byte(":"))
		return password, ok && len(password) > 0
	}
	return nil, false
}

// writeUnauthorized answers 401 with both challenges vpo accepts.
func writeUnauthorized(w http.ResponseWriter) {
	w.Header().Add("WWW-Authenticate", `Bearer realm="vpo"`)
	w.Header().Add("WWW-Authenticate", `Basic realm="vpo", charset="UTF-8"`)
	writeError(w, http.StatusUnauthorized, "missing or wrong auth token: send \"Authorization: Bearer TOKEN\" or HTTP Basic auth with the token as the password")
}

// redactedHealth serves the full /health document to trusted callers (with
// the token when one is set; naming the daemon in Host when none is), and to
// everyone else only "status" and "shutting_down" with the same HTTP status
// code: version, uptime, queue sizes and the database state are internals.
// /health/live and /health/ready are not wrapped; probes need no token.
func redactedHealth(trusted func(*http.Request) bool, full http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if trusted(r) {
			full.ServeHTTP(w, r)
			return
		}
		inner := r.Clone(r.Context())
		inner.Method = http.MethodGet // HEAD would leave the body out
		rec := &recordedResponse{header: http.Header{}, code: http.StatusOK}
		full.ServeHTTP(rec, inner)

		var doc struct {
			Status       string `json:"status"`
			ShuttingDown bool   `json:"shutting_down"`
		}
		if err := json.Unmarshal(rec.body.Bytes(), &doc); err != nil || doc.Status == "" {
			// The health handler always answers JSON; anything else is
			// reported as unhealthy rather than passed through.
			doc.Status = "unhealthy"
		}
		body, _ := json.Marshal(doc) // two plain fields always encode
		hdr := w.Header()
		hdr.Set("Content-Type", "application/json")
		hdr.Set("Cache-Control", "no-store")
		hdr.Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(rec.code)
		if r.Method == http.MethodHead {
			return
		}
		_, _ = w.Write(append(body, '\n'))
	})
}

// recordedResponse keeps a handler's answer in memory.
type recordedResponse struct {
	header      http.Header
	code        int
	wroteHeader bool
	body        bytes.Buffer
}

func (r *recordedResponse) Header() http.Header { return r.header }

func (r *recordedResponse) WriteHeader(code int) {
	if !r.wroteHeader {
		r.code, r.wroteHeader = code, true
	}
}

func (r *recordedResponse) Write(p []byte) (int, error) {
	r.wroteHeader = true
	return r.body.Write(p)
}
