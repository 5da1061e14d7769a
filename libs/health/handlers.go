package health

import (
	"bytes"
	"encoding/json"
	"net/http"
	"sync"
	"time"
)

// renderedDoc is a /health answer kept for Options.RenderFor.
type renderedDoc struct {
	body []byte // the document and its newline; never written to
	code int
	at   time.Time
	gen  uint64 // Health.gen when the report was taken
}

// HealthHandler serves the Report as JSON (GET /health): 200 when healthy,
// 503 otherwise.
func (h *Health) HealthHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h.renderFor > 0 {
			if doc := h.rendered.Load(); doc != nil && doc.gen == h.gen.Load() && h.now().Sub(doc.at) < h.renderFor {
				writeBody(w, r, doc.code, doc.body)
				return
			}
		}
		// Read before the report: a change while it is taken makes the
		// next request write the document again.
		gen := h.gen.Load()
		rep := h.Report(r.Context())
		buf := reportBuffers.Get().(*bytes.Buffer)
		defer reportBuffers.Put(buf)
		buf.Reset()
		if err := rep.encode(buf); err != nil {
			// Only Extra can fail to encode; the probe must still answer.
			rep.Extra = nil
			buf.Reset()
			_ = rep.encode(buf) // the fixed fields always encode
		}
		buf.WriteByte('\n')
		code := rep.HTTPStatus()
		if h.renderFor > 0 {
			h.rendered.Store(&renderedDoc{body: bytes.Clone(buf.Bytes()), code: code, at: h.now(), gen: gen})
		}
		writeBody(w, r, code, buf.Bytes())
	})
}

// reportBuffers hold the documents of /health while they are written.
var reportBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// LiveHandler answers the liveness probe (GET /health/live): 200
// {"status":"alive"}, or 503 {"status":"shutting_down"} once shutdown has
// begun. It never touches the database.
func (h *Health) LiveHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h.shuttingDown.Load() {
			writeJSON(w, r, http.StatusServiceUnavailable, []byte(`{"status":"shutting_down"}`))
			return
		}
		writeJSON(w, r, http.StatusOK, []byte(`{"status":"alive"}`))
	})
}

// ReadyHandler answers the readiness probe (GET /health/ready): 200
// {"status":"ready"} when SetReady(true) was called, shutdown has not begun,
// Options.Ready holds and the database check passes; otherwise 503
// {"status":"not_ready","reason":…} with one of the Reason constants.
func (h *Health) ReadyHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reason := h.readiness(r.Context())
		if reason == "" {
			writeJSON(w, r, http.StatusOK, []byte(`{"status":"ready"}`))
			return
		}
		body, err := json.Marshal(struct {
			Status string `json:"status"`
			Reason string `json:"reason"`
		}{"not_ready", reason})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		writeJSON(w, r, http.StatusServiceUnavailable, body)
	})
}

// writeJSON writes a JSON response that no cache keeps; HEAD gets the
// headers only.
func writeJSON(w http.ResponseWriter, r *http.Request, code int, body []byte) {
	writeBody(w, r, code, append(body, '\n'))
}

// The header values of every answer, shared (never modified): setting
// them costs no allocation and no canonicalisation per request.
var (
	jsonType = []string{"application/json"}
	noStore  = []string{"no-store"}
	noSniff  = []string{"nosniff"}
)

// writeBody is writeJSON of a body that ends with its newline.
func writeBody(w http.ResponseWriter, r *http.Request, code int, body []byte) {
	hdr := w.Header()
	hdr["Content-Type"] = jsonType
	hdr["Cache-Control"] = noStore
	hdr["X-Content-Type-Options"] = noSniff
	w.WriteHeader(code)
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(body) // the client went away; nothing to do
}
