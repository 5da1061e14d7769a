package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/gorilla/mux"
	"github.com/sirupsen/logrus"

	"github.com/vpo-project/vpo/libs/logging"
)

// errorBody is the JSON shape of every error answer.
type errorBody struct {
	Error string `json:"error"`
}

// writeJSON encodes v into a buffer, then writes code and the body. When v
// cannot be encoded, nothing of it is sent: the answer is a 500 with a JSON
// error, and the encoding error is returned for the caller to log.
func writeJSON(w http.ResponseWriter, code int, v any) error {
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(v); err != nil {
		err = fmt.Errorf("encode response: %w", err)
		buf.Reset()
		// errorBody always encodes.
		_ = json.NewEncoder(&buf).Encode(errorBody{Error: "internal error: " + err.Error()})
		code = http.StatusInternalServerError
		send(w, code, buf.Bytes())
		return err
	}
	send(w, code, buf.Bytes())
	return nil
}

func send(w http.ResponseWriter, code int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(body)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	_ = writeJSON(w, code, errorBody{Error: msg})
}

// reply writes v as the JSON answer to r, and logs an encoding failure
// (answered with a 500).
func (a *JobsAPI) reply(w http.ResponseWriter, r *http.Request, code int, v any) {
	replyJSON(a.opts.Log, w, r, code, v)
}

// replyJSON writes v as the JSON answer to r, and logs to log an encoding
// failure (answered with a 500).
func replyJSON(log *logrus.Entry, w http.ResponseWriter, r *http.Request, code int, v any) {
	if err := writeJSON(w, code, v); err != nil {
		log.WithField("path", r.URL.Path).Errorf("%s %s: answered 500: %v", r.Method, r.URL.Path, err)
	}
}

// discardLog is the logger of an API built without one.
// optionDefaults fills the options the APIs share when they are left
// nil: no one to tell of new jobs (submitted may itself be nil when the API
// submits none), always accepting, a discarded log.
func optionDefaults(submitted *func(), accepting *func() bool, log **logrus.Entry) {
	if submitted != nil && *submitted == nil {
		*submitted = func() {}
	}
	if *accepting == nil {
		*accepting = func() bool { return true }
	}
	if *log == nil {
		*log = logging.Discard()
	}
}

// route is one path and method an API serves.
type route struct {
	path, method string
	h            http.HandlerFunc
}

// mountRoutes puts routes on the root router (not a subrouter), so that a
// wrong method answers 405, not 404; the router's guard checks the token.
// Every GET route answers HEAD too (RFC 9110).
func mountRoutes(r *mux.Router, routes []route) {
	for _, rt := range routes {
		methods := []string{rt.method}
		if rt.method == http.MethodGet {
			methods = append(methods, http.MethodHead)
		}
		r.Handle(rt.path, rt.h).Methods(methods...)
	}
}
