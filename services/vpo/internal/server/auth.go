package server

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"net/http"
)

// bearer is the Authorization header value a request must carry when an
// auth token is configured.
type bearer []byte

func newBearer(token string) bearer { return bearer("Bearer " + token) }

// allows compares the request's Authorization header with the expected
// value in constant time (the length of a wrong value is not hidden, its
// content is).
func (b bearer) allows(r *http.Request) bool {
	return subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), b) == 1
}

// redactedHealth serves the full /health document to callers that present
// the bearer token, and to everyone else only "status" and "shutting_down"
// with the same HTTP status code: version, uptime, queue sizes and the
// database state are internals. /health/live and /health/ready are not
// wrapped; probes need no token.
func redactedHealth(token string, full http.Handler) http.Handler {
	want := newBearer(token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if want.allows(r) {
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
