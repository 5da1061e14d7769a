package web_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vpo-project/vpo/services/vpo/internal/web"
)

func login(t *testing.T, s *web.Sessions) (*http.Cookie, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	csrf, err := s.Start(rec, httptest.NewRequest(http.MethodPost, "/login", nil))
	if err != nil {
		t.Fatal(err)
	}
	cookies := rec.Result().Cookies()
	if len(cookies) != 1 {
		t.Fatalf("Start set %d cookies", len(cookies))
	}
	c := cookies[0]
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.MaxAge != int(web.SessionTTL/time.Second) || c.Path != "/" {
		t.Errorf("cookie attributes: %+v", c)
	}
	return c, csrf
}

func with(c *http.Cookie) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.AddCookie(c)
	return r
}

func TestSessions(t *testing.T) {
	key, _, err := web.LoadKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s := web.NewSessions(key, "token-0123456789abcdef")
	c, csrf := login(t, s)
	got, ok := s.Check(with(c))
	if !ok || got != csrf || csrf == "" {
		t.Fatalf("Check(own cookie) = %q, %v; want %q, true", got, ok, csrf)
	}
	if !web.CheckCSRF(csrf, csrf) || web.CheckCSRF(csrf, "") || web.CheckCSRF("", "") || web.CheckCSRF(csrf, csrf+"x") {
		t.Error("CheckCSRF accepts what it must not, or refuses the token")
	}
	_, csrf2 := login(t, s)
	if csrf2 == csrf {
		t.Error("two logins got the same CSRF token")
	}

	payload, sig, _ := strings.Cut(c.Value, ".")
	flip := func(s string) string {
		b := []byte(s)
		if b[3] == 'A' {
			b[3] = 'B'
		} else {
			b[3] = 'A'
		}
		return string(b)
	}
	for name, value := range map[string]string{
		"payload changed":   flip(payload) + "." + sig,
		"signature changed": payload + "." + flip(sig),
		"no signature":      payload,
		"empty":             "",
		"garbage":           "%%%.%%%",
	} {
		if _, ok := s.Check(with(&http.Cookie{Name: web.SessionCookie, Value: value})); ok {
			t.Errorf("%s: cookie accepted", name)
		}
	}
	if _, ok := s.Check(httptest.NewRequest(http.MethodGet, "/", nil)); ok {
		t.Error("no cookie: accepted")
	}
	// Another token (or another key file) ends every session.
	if _, ok := web.NewSessions(key, "token-0123456789abcdeX").Check(with(c)); ok {
		t.Error("a session survived a change of the auth token")
	}
	other, _, _ := web.LoadKey(t.TempDir())
	if _, ok := web.NewSessions(other, "token-0123456789abcdef").Check(with(c)); ok {
		t.Error("a session survived a new key file")
	}
	var nilSessions *web.Sessions
	if _, ok := nilSessions.Check(with(c)); ok {
		t.Error("no sessions configured: a cookie was accepted")
	}
}

func TestSessionExpires(t *testing.T) {
	key, _, _ := web.LoadKey(t.TempDir())
	now := time.Now()
	s := web.NewSessions(key, "token-0123456789abcdef")
	web.SetClock(s, func() time.Time { return now })
	c, _ := login(t, s)
	web.SetClock(s, func() time.Time { return now.Add(web.SessionTTL - time.Minute) })
	if _, ok := s.Check(with(c)); !ok {
		t.Error("session refused before its end")
	}
	web.SetClock(s, func() time.Time { return now.Add(web.SessionTTL + time.Second) })
	if _, ok := s.Check(with(c)); ok {
		t.Error("session accepted after its end")
	}
}

func TestLoadKey(t *testing.T) {
	dir := t.TempDir()
	key, replaced, err := web.LoadKey(dir)
	if err != nil || replaced || len(key) != 32 {
		t.Fatalf("first LoadKey: %d bytes, replaced %v, %v", len(key), replaced, err)
	}
	fi, err := os.Stat(filepath.Join(dir, web.KeyFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, mode %v", err, fi.Mode())
	}
	stale := filepath.Join(dir, ".session.key-123456")
	if err := os.WriteFile(stale, key, 0o600); err != nil {
		t.Fatal(err)
	}
	again, replaced, err := web.LoadKey(dir)
	if _, err := os.Stat(stale); err == nil {
		t.Error("a temporary key file left by a killed write is still there")
	}
	if err != nil || replaced || string(again) != string(key) {
		t.Fatalf("second LoadKey did not read the same key (replaced %v, %v)", replaced, err)
	}
	if err := os.WriteFile(filepath.Join(dir, web.KeyFile), []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	fresh, replaced, err := web.LoadKey(dir)
	if err != nil || !replaced || len(fresh) != 32 || string(fresh) == string(key) {
		t.Fatalf("LoadKey over a bad file: %d bytes, replaced %v, %v", len(fresh), replaced, err)
	}
	if _, _, err := web.LoadKey(filepath.Join(dir, "no", "such")); err == nil || !strings.Contains(err.Error(), "no/such") {
		t.Errorf("LoadKey in a missing directory: %v, want an error naming it", err)
	}
}

// TestEndAll: logout ends every session, also a copy of the cookie kept
// elsewhere and also after a restart (the key file is new).
func TestEndAll(t *testing.T) {
	dir := t.TempDir()
	s, _, err := web.OpenSessions(dir, "token-0123456789abcdef")
	if err != nil {
		t.Fatal(err)
	}
	c, _ := login(t, s)
	if err := s.EndAll(); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Check(with(c)); ok {
		t.Error("a session survived EndAll")
	}
	fresh, _ := login(t, s)
	restarted, _, err := web.OpenSessions(dir, "token-0123456789abcdef")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := restarted.Check(with(c)); ok {
		t.Error("a session ended by EndAll came back after a restart")
	}
	if _, ok := restarted.Check(with(fresh)); !ok {
		t.Error("a session started after EndAll did not survive a restart")
	}
}

// TestSessionExpiryTooFar: a signed expiry further away than a session's
// lifetime is refused (only Start makes cookies).
func TestSessionExpiryTooFar(t *testing.T) {
	key, _, _ := web.LoadKey(t.TempDir())
	now := time.Now()
	s := web.NewSessions(key, "token-0123456789abcdef")
	web.SetClock(s, func() time.Time { return now.Add(2 * web.SessionTTL) })
	c, _ := login(t, s)
	web.SetClock(s, func() time.Time { return now })
	if _, ok := s.Check(with(c)); ok {
		t.Error("a cookie expiring beyond a session's lifetime was accepted")
	}
}

func TestLoadKeyRefusesFIFO(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(dir, web.KeyFile), 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, _, err := web.LoadKey(dir); done <- err }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("LoadKey over a FIFO: %v, want an error saying it is not a regular file", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("LoadKey blocked on a FIFO")
	}
}
