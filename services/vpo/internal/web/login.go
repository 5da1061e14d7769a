package web

import (
	"net/http"
	"net/url"
	"strings"
	"time"
)

// loginDelay slows down each wrong token typed on the login page.
const loginDelay = 500 * time.Millisecond

type loginData struct {
	Next, Error string
}

// safeNext returns next when it is a path of this daemon, else "/": the
// login page never sends a browser elsewhere. Browsers drop tabs and line
// breaks from URLs and read a backslash as a slash, so "/\t/host" would be
// "//host": any control character or backslash is refused.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") ||
		strings.ContainsFunc(next, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '\\' }) {
		return "/"
	}
	if u, err := url.Parse(next); err != nil || u.Scheme != "" || u.Host != "" {
		return "/"
	}
	return next
}

func (d *Dashboard) loginForm(w http.ResponseWriter, r *http.Request) {
	next := safeNext(r.URL.Query().Get("next"))
	if d.opts.Sessions == nil {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	d.render(w, r, http.StatusOK, "login", view{Title: "Log in", Data: loginData{Next: next}})
}

func (d *Dashboard) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		d.render(w, r, http.StatusBadRequest, "login", view{Title: "Log in", Data: loginData{Next: "/", Error: "unreadable form: " + err.Error()}})
		return
	}
	next := safeNext(r.PostForm.Get("next"))
	if d.opts.Sessions == nil {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	if !d.opts.Sessions.TokenOK(r.PostForm.Get("token")) {
		d.opts.Log.WithField("remote", r.RemoteAddr).Warn("dashboard login refused: wrong token")
		select {
		case <-time.After(loginDelay):
		case <-r.Context().Done():
		}
		d.render(w, r, http.StatusUnauthorized, "login", view{Title: "Log in", Data: loginData{Next: next, Error: "That is not the auth token of this daemon."}})
		return
	}
	if _, err := d.opts.Sessions.Start(w, r); err != nil {
		d.opts.Log.Errorf("dashboard login: %v", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (d *Dashboard) logout(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	_ = r.ParseForm()
	if csrf, ok := d.opts.Sessions.Check(r); ok && !CheckCSRF(csrf, r.PostForm.Get("csrf")) {
		d.render(w, r, http.StatusForbidden, "error", view{Title: http.StatusText(http.StatusForbidden),
			Data: "Logout refused: the form's CSRF token is not this session's (reload the page and try again)."})
		return
	}
	if d.opts.Sessions != nil {
		if err := d.opts.Sessions.EndAll(); err != nil {
			d.opts.Log.Errorf("dashboard logout: %v", err)
			d.render(w, r, http.StatusInternalServerError, "error", view{Title: http.StatusText(http.StatusInternalServerError),
				Data: "Logout failed, the sessions were not ended (every one is still valid): " + err.Error()})
			return
		}
		d.opts.Sessions.End(w, r)
		d.opts.Log.WithField("remote", r.RemoteAddr).Info("dashboard logout: every session ended")
	}
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}
