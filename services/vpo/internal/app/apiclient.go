package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// apiClient talks to a running daemon's HTTP API.
type apiClient struct {
	base  string
	token string
	http  *http.Client
}

func newAPIClient(base, token string) *apiClient {
	return &apiClient{base: base, token: token, http: &http.Client{Timeout: 30 * time.Second}}
}

func urlQuery(s string) string { return url.QueryEscape(s) }

// do sends a request; non-2xx answers become errors carrying the daemon's
// message and ExitUnavailable.
func (c *apiClient) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	resp, err := c.send(ctx, c.http, method, path, rd, body != nil, "")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return withCode(ExitUnavailable, fmt.Errorf("read answer from %s: %w", c.base, err))
	}
	if resp.StatusCode/100 != 2 {
		return answerError(resp.StatusCode, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return withCode(ExitUnavailable, fmt.Errorf("decode answer from %s: %w", c.base, err))
		}
	}
	return nil
}

// send sends a request through hc with the token, and accept as the Accept
// header when not empty; a daemon it cannot reach is ExitUnavailable.
func (c *apiClient) send(ctx context.Context, hc *http.Client, method, path string, body io.Reader, hasBody bool, accept string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, withCode(ExitUsage, fmt.Errorf("bad daemon URL %q: %w", c.base, err))
	}
	if hasBody || method != http.MethodGet {
		// The daemon refuses state-changing requests without this
		// header, with or without a body (cancel and retry have none).
		req.Header.Set("Content-Type", "application/json")
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, withCode(ExitUnavailable, fmt.Errorf("cannot reach the vpo daemon at %s (is 'vpo serve' running? see --url/--config): %w", c.base, err))
	}
	return resp, nil
}

// answerError is the error of a non-2xx answer with body data: the
// daemon's JSON message, else the body itself.
func answerError(status int, data []byte) error {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(data, &e) != nil || e.Error == "" {
		e.Error = string(data)
	}
	return withCode(ExitUnavailable, &daemonError{Status: status, Msg: e.Error})
}

// daemonError is a non-2xx answer of the daemon.
type daemonError struct {
	Status int
	Msg    string
}

func (e *daemonError) Error() string { return fmt.Sprintf("daemon answered %d: %s", e.Status, e.Msg) }
