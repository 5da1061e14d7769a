package integration_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// browser is a headless Debian chromium driven through chromedp, recording
// every request its pages make and every script error.
type browser struct {
	t        *testing.T
	ctx      context.Context
	shots    string
	mu       sync.Mutex
	requests []string
	problems []string
}

// newBrowser starts chromium (headless, no sandbox since tests may run as
// root, no background networking: the browser itself calls no service).
func newBrowser(t *testing.T) *browser {
	t.Helper()
	needTools(t, "chromium")
	exe, _ := exec.LookPath("chromium")
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.Flag("disable-features", "Translate,OptimizationHints,MediaRouter,InterestFeedContentSuggestions"),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTime := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() { cancelTime(); cancelCtx(); cancelAlloc() })

	shots := os.Getenv("TEST_UNDECLARED_OUTPUTS_DIR")
	if s := os.Getenv("VPO_SCREENSHOTS"); s != "" {
		shots = s
	}
	if shots == "" {
		shots = t.TempDir()
	}
	b := &browser{t: t, ctx: ctx, shots: shots}
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	err := chromedp.Listen(ctx, func(ev any) {
		b.mu.Lock()
		defer b.mu.Unlock()
		switch e := ev.(type) {
		case *network.EventRequestWillBeSent:
			b.requests = append(b.requests, e.Request.URL)
		case *runtime.EventExceptionThrown:
			b.problems = append(b.problems, fmt.Sprintf("script error: %s at %s:%d", e.ExceptionDetails.Text, e.ExceptionDetails.URL, e.ExceptionDetails.LineNumber))
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError {
				b.problems = append(b.problems, fmt.Sprintf("console error: %v", e.Args))
			}
		}
	})
	if err != nil {
		t.Fatalf("listen to chromium: %v", err)
	}
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatalf("chromium network domain: %v", err)
	}
	if _, err := chromedp.Call(ctx, runtime.Enable, struct{}{}); err != nil {
		t.Fatalf("chromium runtime domain: %v", err)
	}
	t.Logf("screenshots go to %s", shots)
	return b
}

// run runs chromedp actions, failing the test with what on error.
func (b *browser) run(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	for i, a := range actions {
		ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
		err := chromedp.Do(ctx, a)
		cancel()
		if err != nil {
			b.t.Fatalf("browser: %s (step %d): %v", what, i+1, err)
		}
	}
}

// unlabelled lists the page's controls that have no accessible name: an
// input or select without a label (for=, wrapping, aria-label or
// aria-labelledby), a button without text or aria-label.
const unlabelled = `Array.from(document.querySelectorAll('input:not([type=hidden]), select, textarea, button')).filter(function (el) {
  if (el.tagName === 'BUTTON') { return !(el.textContent.trim() || el.getAttribute('aria-label')); }
  return !((el.id && document.querySelector('label[for="' + el.id + '"]')) || el.closest('label') ||
    el.getAttribute('aria-label') || el.getAttribute('aria-labelledby'));
}).map(function (el) { return el.outerHTML; })`

// shot saves a full-page screenshot as NAME.png, after checking that
// every control of the page has a label.
func (b *browser) shot(name string) {
	b.t.Helper()
	if bad := get(b, "find unlabelled controls", chromedp.Evaluate[[]string](unlabelled)); len(bad) > 0 {
		b.t.Errorf("%s page: controls without a label: %v", name, bad)
	}
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(b.shots, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// text returns the text of the first node sel matches.
func (b *browser) text(sel string) string {
	b.t.Helper()
	return get(b, "read "+sel, chromedp.Text(chromedp.CSS(sel)))
}

// waitText waits until the text of sel contains want (the page updating
// itself), failing after 30 s with what it shows.
func (b *browser) waitText(sel, want string) {
	b.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var got string
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(b.ctx, 2*time.Second)
		var err error
		got, err = chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		cancel()
		if err == nil && strings.Contains(got, want) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.t.Fatalf("%s never showed %q (last: %q)", sel, want, got)
}

// path is the path of the page the browser shows.
func (b *browser) path() string {
	b.t.Helper()
	loc := get(b, "location", chromedp.Location())
	u, err := url.Parse(loc)
	if err != nil {
		b.t.Fatal(err)
	}
	return u.Path
}

// mark sets a flag on the page's window; reloaded pages lose it.
func (b *browser) mark() {
	b.t.Helper()
	get(b, "mark page", chromedp.Evaluate[int](`window.vpoTestMark = 1`))
}

// marked reports whether the page still is the one mark was called on.
func (b *browser) marked() bool {
	b.t.Helper()
	return get(b, "read mark", chromedp.Evaluate[bool](`window.vpoTestMark === 1`))
}

// get runs an action that returns a value, failing the test on error.
func get[T any](b *browser, what string, a chromedp.Action[T]) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, a)
	if err != nil {
		b.t.Fatalf("browser: %s: %v", what, err)
	}
	return v
}

// TestDashboardInBrowser drives the dashboard in a real browser against the
// real binary and database: login (refused without the token), the
// overview, a scan submitted from the library page whose job page updates
// by itself, the job's log, live progress and cancel of a running job on
// the jobs page, a file's tracks, a dry-run plan from the policies page,
// CSRF refusal, logout; no request leaves loopback and no script fails.
func TestDashboardInBrowser(t *testing.T) {
	const token = "browser-test-token-0123456789"
	dir := t.TempDir()
	lib := filepath.Join(dir, "media")
	for _, name := range []string{"Alpha (2001).mkv", "Beta (2002).mkv", "Gamma (2003).mkv"} {
		mkvFixture(t, filepath.Join(lib, name))
	}
	pdir := filepath.Join(dir, "policies")
	writePolicy(t, pdir, "english.yaml", "schema_version: 13\ndescription: Keep English audio only\n"+
		"config:\n  audio_languages: [eng]\nphases:\n  - name: filter\n    keep_audio:\n      languages: [eng]\n")
	writePolicy(t, pdir, "broken.yaml", "schema_version: 13\nphases: [\n")
	b := newBrowser(t)
	d := start(t, startOpts{dir: dir, wait: true, env: []string{"VPO_AUTH_TOKEN=" + token}, extra: fmt.Sprintf(
		"\n[policies]\ndir = %q\nmin_file_age = \"0s\"\n\n[jobs]\ntest_kinds = true\n", pdir)})
	base := d.url("")

	// Without the token: pages send to the login page, the API answers 401.
	noRedirect := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Get(d.url("/jobs"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
		t.Fatalf("GET /jobs without a session: %d Location %q, want 303 to /login", resp.StatusCode, resp.Header.Get("Location"))
	}
	if code, _, _ := d.call(http.MethodGet, "/api/jobs", "", ""); code != http.StatusUnauthorized {
		t.Fatalf("GET /api/jobs without a token: %d, want 401", code)
	}
	resp, err = client.Get(d.url("/static/app.js"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	csp := resp.Header.Get("Content-Security-Policy")
	if resp.StatusCode != http.StatusOK || !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "default-src 'none'") {
		t.Fatalf("GET /static/app.js: %d, CSP %q", resp.StatusCode, csp)
	}

	// Login: a wrong token is refused, the right one opens the overview.
	b.run("open overview", chromedp.Navigate(base+"/"))
	if p := b.path(); p != "/login" {
		t.Fatalf("overview without a session shows %s, want /login", p)
	}
	b.shot("login")
	b.run("wrong token", chromedp.SendKeys(chromedp.CSS("#token"), "not-the-token"),
		chromedp.Click(chromedp.CSS(`main form button[type="submit"]`)))
	b.waitText("main", "not the auth token")
	if got := b.text(".error"); !strings.Contains(got, "not the auth token") {
		t.Fatalf("wrong token: page says %q", got)
	}
	b.run("right token", chromedp.SetValue(chromedp.CSS("#token"), token),
		chromedp.Click(chromedp.CSS(`main form button[type="submit"]`)), chromedp.WaitVisible(chromedp.CSS("#h-daemon")))
	if p, h := b.path(), b.text("h1"); p != "/" || h != "Overview" {
		t.Fatalf("after login: %s with heading %q", p, h)
	}
	b.waitText("#live-status", "Live")
	b.shot("overview")

	// A scan submitted from the library page, while the queue is paused:
	// its page shows it queued, then completed once the queue resumes,
	// without being reloaded.
	if code, _, body := d.call(http.MethodPost, "/api/queue/pause", "", token); code != http.StatusOK {
		t.Fatalf("pause: %d %s", code, body)
	}
	b.run("scan from the library page", chromedp.Navigate(base+"/library"),
		chromedp.SendKeys(chromedp.CSS("#scan-path"), lib),
		chromedp.Click(chromedp.CSS(`form[data-job-kind="scan"] button`)),
		chromedp.WaitVisible(chromedp.CSS("#live dl")))
	scanPage := b.path()
	if !strings.HasPrefix(scanPage, "/jobs/") {
		t.Fatalf("after submitting a scan the browser shows %s, want its job page", scanPage)
	}
	b.waitText("#live dl", "queued")
	b.waitText("#live-status", "Live")
	b.mark()
	if code, _, body := d.call(http.MethodPost, "/api/queue/resume", "", token); code != http.StatusOK {
		t.Fatalf("resume: %d %s", code, body)
	}
	b.waitText("#live dl", "completed")
	b.waitText("ol.log", "scan finished")
	if !b.marked() {
		t.Fatal("the job page was reloaded to show the scan finishing; it must update in place")
	}
	b.shot("job")

	// Live progress and cancel on the jobs page.
	sleeper := d.submitAs(token, "test.sleep", `{"seconds": 20}`)
	row := fmt.Sprintf(`tr[data-job-row="%s"]`, sleeper)
	b.run("open jobs", chromedp.Navigate(base+"/jobs"), chromedp.WaitVisible(chromedp.CSS(row)))
	b.waitText("#live-status", "Live")
	b.mark()
	b.waitText(row, "running")
	bar := fmt.Sprintf(`progress[data-progress-for="%s"]`, sleeper)
	b.run("find progress", chromedp.WaitVisible(chromedp.CSS(bar)))
	before := get(b, "read progress", chromedp.Evaluate[float64](fmt.Sprintf(`document.querySelector('%s').value`, bar)))
	after := before
	deadline := time.Now().Add(15 * time.Second)
	for after <= before && time.Now().Before(deadline) {
		time.Sleep(300 * time.Millisecond)
		after = get(b, "read progress", chromedp.Evaluate[float64](fmt.Sprintf(`document.querySelector('%s') ? document.querySelector('%s').value : -1`, bar, bar)))
	}
	if after <= before || !b.marked() {
		t.Fatalf("progress bar went from %v to %v (page kept: %v): it must move without a reload", before, after, b.marked())
	}
	b.shot("jobs")
	b.run("cancel from the jobs page", chromedp.Click(chromedp.CSS(row+` button[data-action$="/cancel"]`)))
	b.waitText(row, "cancelled")
	if code, _, body := d.call(http.MethodGet, "/api/jobs/"+sleeper, "", token); code != http.StatusOK || !strings.Contains(string(body), `"status":"cancelled"`) {
		t.Fatalf("job cancelled from the UI: %d %s", code, body)
	}

	// A file and its tracks.
	b.run("open library", chromedp.Navigate(base+"/library?q=Beta"), chromedp.WaitVisible(chromedp.CSS("#live table")))
	if got := b.text("#live tbody"); !strings.Contains(got, "Beta (2002).mkv") || strings.Contains(got, "Alpha") {
		t.Fatalf("library search for Beta lists %q", got)
	}
	b.shot("library")
	b.run("open file", chromedp.Click(chromedp.CSS(`#live tbody a`)))
	b.waitText("h1", "File ")
	tracks := b.text("main table")
	for _, want := range []string{"video", "audio", "eng", "fre", "mpeg4", "aac"} {
		if !strings.Contains(tracks, want) {
			t.Fatalf("file page tracks table lacks %q:\n%s", want, tracks)
		}
	}
	b.shot("file")

	// Policies: the title and heading, the broken policy's error, a dry
	// run rendered as changes per file.
	b.run("open policies", chromedp.Navigate(base+"/policies"))
	title := get(b, "title", chromedp.Title())
	if h := b.text("h1"); !strings.HasPrefix(title, "Policies") || h != "Policies" {
		t.Fatalf("policies page: title %q, heading %q", title, h)
	}
	if got := b.text("main table"); !strings.Contains(got, "broken") || !strings.Contains(got, "does not parse") {
		t.Fatalf("policies table does not show the broken policy:\n%s", got)
	}
	b.shot("policies")
	b.run("dry run", chromedp.SetValue(chromedp.CSS("#dry-policy"), "english"),
		chromedp.SendKeys(chromedp.CSS("#dry-path"), lib),
		chromedp.Click(chromedp.CSS(`form[data-job-kind="apply"] button`)))
	b.waitText("#live", "remove_track")
	files := get(b, "count plan rows", chromedp.Evaluate[int](`document.querySelectorAll('table.perfile > tbody > tr').length`))
	if files != 3 || !strings.HasPrefix(b.path(), "/plans") {
		t.Fatalf("dry run shows %d files at %s, want 3 at /plans", files, b.path())
	}
	b.waitText("#live", "dry run")
	for _, name := range []string{"Alpha", "Beta", "Gamma"} {
		st, err := os.Stat(filepath.Join(lib, name+fmt.Sprintf(" (%d).mkv", map[string]int{"Alpha": 2001, "Beta": 2002, "Gamma": 2003}[name])))
		if err != nil || time.Since(st.ModTime()) < 30*time.Minute {
			t.Fatalf("dry run touched %s: %v", name, err)
		}
	}
	b.shot("plans")

	// A state change with the session cookie but without its CSRF token
	// is refused.
	status := get(b, "post without CSRF token", chromedp.Evaluate[int](
		`fetch('/api/queue/pause', {method: 'POST', headers: {'Content-Type': 'application/json'}, body: '{}'}).then(r => r.status)`,
		func(p *runtime.EvaluateParams) { p.AwaitPromise = new(true) }))
	if status != http.StatusForbidden {
		t.Fatalf("POST with the session cookie and no CSRF token: %d, want 403", status)
	}

	// Without EventSource the pages fall back to refreshing themselves.
	if _, err := chromedp.Call(b.ctx, page.AddScriptToEvaluateOnNewDocument,
		page.AddScriptToEvaluateOnNewDocumentParams{Source: "delete window.EventSource;"}); err != nil {
		t.Fatal(err)
	}
	b.run("open jobs without EventSource", chromedp.Navigate(base+"/jobs"))
	b.waitText("#live-status", "refreshes every 10 seconds")
	b.mark()
	late := d.submitAs(token, "test.sleep", `{"seconds": 0.1}`)
	b.waitText("#live", shortID(late))
	if !b.marked() {
		t.Fatal("the fallback reloaded the whole page; it must refresh the live part only")
	}

	// Logout ends the session.
	b.run("log out", chromedp.Click(chromedp.CSS(`form.logout button`)), chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.Navigate(base+"/jobs"), chromedp.WaitVisible(chromedp.CSS("#token")))
	if p := b.path(); p != "/login" {
		t.Fatalf("after logout /jobs shows %s, want /login", p)
	}

	b.mu.Lock()
	defer b.mu.Unlock()
	for _, u := range b.requests {
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "data" && p.Host != "127.0.0.1:"+fmt.Sprint(d.port)) {
			t.Errorf("the page requested %s: nothing may leave the daemon", u)
		}
	}
	if len(b.requests) < 20 {
		t.Errorf("only %d requests recorded: the network listener does not work", len(b.requests))
	}
	for _, p := range b.problems {
		t.Errorf("%s", p)
	}
}

// submitAs submits a job with the token and returns its id.
func (d *daemon) submitAs(token, kind, payload string) string {
	d.t.Helper()
	code, _, body := d.call(http.MethodPost, "/api/jobs", fmt.Sprintf(`{"kind":%q,"payload":%s}`, kind, payload), token)
	if code != http.StatusCreated {
		d.t.Fatalf("submit %s: %d %s", kind, code, body)
	}
	return jsonField(d.t, string(body), "id")
}

func shortID(id string) string { return id[:8] }
