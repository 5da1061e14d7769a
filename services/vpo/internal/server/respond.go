package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
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
	if err := writeJSON(w, code, v); err != nil {
		a.opts.Log.WithField("path", r.URL.Path).Errorf("%s %s: answered 500: %v", r.Method, r.URL.Path, err)
	}
}
