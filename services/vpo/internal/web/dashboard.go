package web

import (
	"bytes"
	"context"
	"embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/vpo-project/vpo/libs/logging"
	"github.com/vpo-project/vpo/libs/store"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFiles embed.FS

// Store is what the pages read.
type Store interface {
	ListJobs(ctx context.Context, f store.JobFilter) ([]store.Job, string, error)
	GetJob(ctx context.Context, id string) (store.Job, error)
	JobLog(ctx context.Context, id string, after int64, limit int) ([]store.LogLine, error)
	CountJobs(ctx context.Context) (map[string]int, error)
	SearchFiles(ctx context.Context, q store.FileQuery) ([]store.File, string, error)
	GetFileByID(ctx context.Context, id int64) (store.File, error)
	ListHistory(ctx context.Context, fileID int64) ([]store.HistoryEntry, error)
	ListPlans(ctx context.Context, f store.PlanFilter) ([]store.Plan, string, error)
}

// Options configures New.
type Options struct {
	Store Store
	// Health returns the /health document (marshalled to JSON) for the
	// overview.
	Health func(ctx context.Context) any
	// Kinds lists the job kinds (the jobs filter).
	Kinds func() []string
	// PolicyDir returns the policies directory now.
	PolicyDir func() string
	// Sessions, when set (an auth token is configured), makes the pages
	// need a login; nil serves them to every caller the guard lets in.
	Sessions *Sessions
	Log      *logrus.Entry
}

// Dashboard serves the pages.
type Dashboard struct {
	opts  Options
	pages map[string]*template.Template
}

// Route is one path the dashboard serves.
type Route struct {
	Path, Method string
	Handler      http.Handler
}

// New parses the templates and returns the dashboard.
func New(opts Options) (*Dashboard, error) {
	if opts.Log == nil {
		opts.Log = logging.Discard()
	}
	d := &Dashboard{opts: opts, pages: map[string]*template.Template{}}
	names, err := fs.Glob(templateFiles, "templates/*.html")
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		name := n[len("templates/") : len(n)-len(".html")]
		if name == "layout" {
			continue
		}
		t, err := template.New(name).Funcs(templateFuncs()).ParseFS(templateFiles, "templates/layout.html", n)
		if err != nil {
			return nil, fmt.Errorf("dashboard template %s: %w", n, err)
		}
		d.pages[name] = t
	}
	return d, nil
}

// Routes lists the dashboard's paths. The static files and the login
// page are public (the guard lets them through without a token).
func (d *Dashboard) Routes() []Route {
	static, _ := fs.Sub(staticFiles, "static")
	files := http.StripPrefix("/static/", staticHandler(http.FileServerFS(static)))
	return []Route{
		{"/", http.MethodGet, d.page(d.overview)},
		{"/jobs", http.MethodGet, d.page(d.jobs)},
		{"/jobs/{id}", http.MethodGet, d.page(d.job)},
		{"/library", http.MethodGet, d.page(d.library)},
		{"/library/{id}", http.MethodGet, d.page(d.file)},
		{"/plans", http.MethodGet, d.page(d.plans)},
		{"/policies", http.MethodGet, d.page(d.policies)},
		{"/policies/{name}", http.MethodGet, d.page(d.policySource)},
		{"/login", http.MethodGet, http.HandlerFunc(d.loginForm)},
		{"/login", http.MethodPost, http.HandlerFunc(d.login)},
		{"/logout", http.MethodPost, http.HandlerFunc(d.logout)},
		{"/static/{file}", http.MethodGet, files},
	}
}

// Public reports whether a path is served without a token: the login
// page and the static files.
func Public(path string) bool {
	return path == "/login" || (strings.HasPrefix(path, "/static/") && path != "/static/")
}

// Page reports whether path is a dashboard page (a browser asking for it
// without a session is sent to the login page rather than answered 401).
func Page(path string) bool {
	switch {
	case path == "/", path == "/jobs", path == "/library", path == "/plans", path == "/policies":
		return true
	}
	for _, prefix := range []string{"/jobs/", "/library/", "/policies/"} {
		if strings.HasPrefix(path, prefix) && path != prefix {
			return true
		}
	}
	return false
}

// securityHeaders are set on every dashboard answer. The policy allows
// the daemon's own scripts, styles and connections only: no inline
// script, no other origin.
func securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "+
		"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	// same-origin, not no-referrer: with no-referrer a browser sends
	// "Origin: null" on form posts, which the origin rule refuses.
	h.Set("Referrer-Policy", "same-origin")
}

func staticHandler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		securityHeaders(w.Header())
		w.Header().Set("Cache-Control", "no-cache")
		next.ServeHTTP(w, r)
	})
}

// view is what every page template gets.
type view struct {
	Title string
	Nav   string
	// CSRF is the session's token, sent back by the script on state
	// changes ("" without sessions).
	CSRF string
	// Live lists the event types (prefixes) whose arrival refreshes the
	// page; "" for none. LiveJob narrows them to one job.
	Live, LiveJob string
	LoggedIn      bool
	Data          any
}

// pageError is a page handler's failure: its status and a message for
// the operator.
type pageError struct {
	code int
	msg  string
}

func (e *pageError) Error() string { return e.msg }

func failf(code int, format string, args ...any) error {
	return &pageError{code: code, msg: fmt.Sprintf(format, args...)}
}

// pageFunc fills v for a request (Title, Nav, Live and Data).
type pageFunc func(r *http.Request, v *view) (template string, err error)

func (d *Dashboard) page(fn pageFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := view{LoggedIn: d.opts.Sessions != nil}
		if csrf, ok := d.opts.Sessions.Check(r); ok {
			v.CSRF = csrf
		}
		var name string
		// r.URL.Query drops what it cannot parse; a page must not show
		// everything when a filter was meant.
		_, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			err = failf(http.StatusBadRequest, "malformed query string: %v", err)
		} else {
			name, err = fn(r, &v)
		}
		code := http.StatusOK
		if err != nil {
			code = http.StatusInternalServerError
			pe, ok := err.(*pageError)
			if ok {
				code = pe.code
			} else {
				d.opts.Log.WithField("path", r.URL.Path).Errorf("dashboard page: %v", err)
			}
			v.Title = http.StatusText(code)
			name, v.Data, v.Live = "error", err.Error(), ""
		}
		d.render(w, r, code, name, v)
	})
}

func (d *Dashboard) render(w http.ResponseWriter, r *http.Request, code int, name string, v view) {
	var buf bytes.Buffer
	t, ok := d.pages[name]
	if !ok {
		d.opts.Log.Errorf("dashboard: no template %q", name)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		d.opts.Log.WithField("path", r.URL.Path).Errorf("dashboard template %s: %v", name, err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	securityHeaders(h)
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	if r.Method != http.MethodHead {
		_, _ = w.Write(buf.Bytes())
	}
}

// templateFuncs are the template helpers.
func templateFuncs() template.FuncMap {
	return template.FuncMap{
		"when": func(t any) string {
			switch v := t.(type) {
			case time.Time:
				if v.IsZero() {
					return "—"
				}
				return v.Local().Format("2006-01-02 15:04:05")
			case *time.Time:
				if v == nil || v.IsZero() {
					return "—"
				}
				return v.Local().Format("2006-01-02 15:04:05")
			}
			return "—"
		},
		"iso":  func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"size": humanSize,
		"seconds": func(s float64) string {
			return (time.Duration(s*float64(time.Second)) / time.Second * time.Second).String()
		},
		"eta": func(s *int64) string {
			if s == nil {
				return ""
			}
			return (time.Duration(*s) * time.Second).String()
		},
		"pretty": func(raw json.RawMessage) string {
			var buf bytes.Buffer
			if len(raw) == 0 || json.Indent(&buf, raw, "", "  ") != nil {
				return string(raw)
			}
			return buf.String()
		},
		"short": func(id string) string { return shortID(id) },
		// shown is a path as the API prints it, control characters
		// escaped too (store.DisplayPath): two names never look alike.
		"shown":     store.DisplayPath,
		"target":    jobTarget,
		"retryable": func(status string) bool { return status == store.StatusFailed || status == store.StatusCancelled },
		"pct":       func(p float64) string { return fmt.Sprintf("%.0f%%", p) },
		"add":       func(a, b int) int { return a + b },
	}
}

func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// jobTarget is the path a job's payload names ("" when none).
func jobTarget(payload json.RawMessage) string {
	var p struct {
		Path    string `json:"path"`
		PathB64 string `json:"path_b64"`
		Policy  string `json:"policy"`
	}
	if json.Unmarshal(payload, &p) != nil {
		return ""
	}
	if p.Path == "" && p.PathB64 != "" {
		if b, err := base64.StdEncoding.DecodeString(p.PathB64); err == nil {
			return store.DisplayPath(string(b))
		}
		return "(path in base64) " + p.PathB64
	}
	return store.DisplayPath(p.Path)
}

func humanSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
