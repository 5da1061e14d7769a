package server_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/vpo-project/vpo/services/vpo/internal/server"
	"github.com/vpo-project/vpo/services/vpo/internal/web"
)

// TestDashboardSessions: with a token, a dashboard session cookie stands
// for it; state changes made with the cookie need its CSRF token; pages
// send a browser without credentials to the login page; the login page
// and the static files need nothing.
func TestDashboardSessions(t *testing.T) {
	api, _, jobID := jobsAPIWithJob(t)
	key, _, err := web.LoadKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	sessions := web.NewSessions(key, guardToken)
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	h := server.NewRouter(server.RouterOptions{
		Health: fakeHealth{}, Jobs: api,
		AuthToken: guardToken, Sessions: sessions,
		Dashboard: []web.Route{
			{Path: "/", Method: http.MethodGet, Handler: ok},
			{Path: "/jobs/{id}", Method: http.MethodGet, Handler: ok},
			{Path: "/login", Method: http.MethodGet, Handler: ok},
			{Path: "/login", Method: http.MethodPost, Handler: ok},
			{Path: "/static/{file}", Method: http.MethodGet, Handler: ok},
		},
	})
	rec := httptest.NewRecorder()
	csrf, err := sessions.Start(rec, httptest.NewRequest(http.MethodPost, "/login", nil))
	if err != nil {
		t.Fatal(err)
	}
	cookie := rec.Result().Cookies()[0].String()
	otherSessions := web.NewSessions(key, guardToken+"x")
	rec = httptest.NewRecorder()
	if _, err := otherSessions.Start(rec, httptest.NewRequest(http.MethodPost, "/login", nil)); err != nil {
		t.Fatal(err)
	}
	foreign := rec.Result().Cookies()[0].String()
	cancel := "/api/jobs/" + jobID + "/cancel"
	bearer := "Bearer " + guardToken

	for _, c := range []struct {
		name, method, path string
		header             map[string]string
		want               int
		location           string
	}{
		{"page without credentials", "GET", "/jobs/" + jobID + "?a=b", nil, 303, "/login?next=%2Fjobs%2F" + jobID + "%3Fa%3Db"},
		{"page with a wrong token", "GET", "/", map[string]string{"Authorization": "Bearer nope"}, 401, ""},
		{"page with a session", "GET", "/", map[string]string{"Cookie": cookie}, 200, ""},
		{"page with another token's session", "GET", "/", map[string]string{"Cookie": foreign}, 303, "/login?next=%2F"},
		{"API with a session", "GET", "/api/jobs", map[string]string{"Cookie": cookie}, 200, ""},
		{"API without credentials", "GET", "/api/jobs", nil, 401, ""},
		{"change with a session, no CSRF token", "POST", cancel, map[string]string{"Cookie": cookie}, 403, ""},
		{"change with a session, wrong CSRF token", "POST", cancel, map[string]string{"Cookie": cookie, "X-CSRF-Token": csrf + "x"}, 403, ""},
		{"change with a session and its CSRF token", "POST", cancel, map[string]string{"Cookie": cookie, "X-CSRF-Token": csrf}, 200, ""},
		{"change with the token (API client)", "POST", "/api/jobs/" + jobID + "/retry", map[string]string{"Authorization": bearer}, 409, ""},
		{"login page", "GET", "/login", nil, 200, ""},
		{"login form post", "POST", "/login", map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Origin": "http://127.0.0.1:8321"}, 200, ""},
		{"cross-site login post", "POST", "/login", map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Origin": "http://evil.example"}, 403, ""},
		{"static file", "GET", "/static/app.js", nil, 200, ""},
		{"unknown path without credentials", "GET", "/nope", nil, 401, ""},
	} {
		req := httptest.NewRequest(c.method, c.path, strings.NewReader(""))
		req.Host = "127.0.0.1:8321"
		if c.method == "POST" {
			req.Header.Set("Content-Type", "application/json")
		}
		for k, v := range c.header {
			req.Header.Set(k, v)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != c.want || rec.Header().Get("Location") != c.location {
			t.Errorf("%s: %s %s = %d (Location %q), want %d (Location %q)\n%s", c.name, c.method, c.path,
				rec.Code, rec.Header().Get("Location"), c.want, c.location, rec.Body.String())
		}
	}
}
