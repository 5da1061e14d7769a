package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/vpo-project/vpo/libs/durable"
)

// SessionCookie is the name of the dashboard's session cookie.
const SessionCookie = "vpo_session"

// SessionTTL is how long a dashboard login lasts.
const SessionTTL = 12 * time.Hour

// KeyFile is the name of the session signing key in the state directory.
const KeyFile = "session.key"

const keySize = 32

// Sessions signs and checks the dashboard's session cookies. A cookie
// holds its expiry and the session's CSRF token, signed with HMAC-SHA256
// under a key derived from the key file and the auth token: a new key file
// or a new token ends every session, and so does EndAll (logout).
type Sessions struct {
	dir   string // where the key file is ("": the key lives in memory only)
	token string
	key   atomic.Pointer[[]byte] // the derived signing key
	now   func() time.Time
}

// LoadKey reads the session key from dir/session.key, creating the file
// (mode 0600, 32 random bytes) when it does not exist. A file of the
// wrong size is replaced: the key only signs sessions, which then end.
func LoadKey(dir string) (key []byte, replaced bool, err error) {
	path := filepath.Join(dir, KeyFile)
	// What a writeKey killed half-way left behind.
	stale, _ := filepath.Glob(filepath.Join(dir, tempKeyPattern))
	for _, f := range stale {
		_ = os.Remove(f)
	}
	// Never read a FIFO or a device: that could block start-up for good.
	if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
		return nil, false, fmt.Errorf("session key %q is not a regular file (%s): remove it, vpo writes a new one", path, fi.Mode().Type())
	}
	b, err := os.ReadFile(path)
	switch {
	case err == nil && len(b) == keySize:
		return b, false, nil
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return nil, false, fmt.Errorf("read session key %q: %w", path, err)
	}
	replaced = err == nil
	key, err = writeKey(dir)
	return key, replaced, err
}

// writeKey writes a new random key to dir/session.key (atomically, mode
// 0600) and returns it.
func writeKey(dir string) ([]byte, error) {
	path := filepath.Join(dir, KeyFile)
	key := make([]byte, keySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("make session key: %w", err)
	}
	tmp, err := os.CreateTemp(dir, tempKeyPattern)
	if err != nil {
		return nil, fmt.Errorf("write session key in %q: %w", dir, err)
	}
	defer os.Remove(tmp.Name())
	if _, err = tmp.Write(key); err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err == nil {
		// The rename itself must survive a power cut: an old key coming
		// back would revive the sessions a logout ended.
		err = durable.SyncDir(dir)
	}
	if err != nil {
		return nil, fmt.Errorf("write session key %q: %w", path, err)
	}
	return key, nil
}

// tempKeyPattern names the files writeKey writes before renaming them.
const tempKeyPattern = ".session.key-*"

// OpenSessions returns the sessions of a daemon whose auth token is token,
// with the key file in dir (see LoadKey); replaced tells that a file that
// was not a key was replaced.
func OpenSessions(dir, token string) (s *Sessions, replaced bool, err error) {
	key, replaced, err := LoadKey(dir)
	if err != nil {
		return nil, false, err
	}
	s = NewSessions(key, token)
	s.dir = dir
	return s, replaced, nil
}

// NewSessions returns sessions signed under key and token, whose key
// lives in memory only.
func NewSessions(key []byte, token string) *Sessions {
	s := &Sessions{token: token, now: time.Now}
	s.setKey(key)
	return s
}

func (s *Sessions) setKey(key []byte) {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("vpo dashboard session\x00"))
	mac.Write([]byte(s.token))
	derived := mac.Sum(nil)
	s.key.Store(&derived)
}

// EndAll ends every session: a new key (written to the key file, so that
// a restart does not bring the old sessions back). Logout calls it: there
// is one token, so one operator, and a cookie copied elsewhere must not
// outlive the logout.
func (s *Sessions) EndAll() error {
	var key []byte
	if s.dir != "" {
		k, err := writeKey(s.dir)
		if err != nil {
			return err
		}
		key = k
	} else {
		key = make([]byte, keySize)
		if _, err := rand.Read(key); err != nil {
			return fmt.Errorf("make session key: %w", err)
		}
	}
	s.setKey(key)
	return nil
}

// payload: 8 bytes of expiry (Unix seconds, big endian), 16 of CSRF token.
const payloadSize = 8 + 16

func (s *Sessions) sign(payload []byte) []byte {
	mac := hmac.New(sha256.New, *s.key.Load())
	mac.Write(payload)
	return mac.Sum(nil)
}

// Start sets a new session cookie on w and returns its CSRF token.
func (s *Sessions) Start(w http.ResponseWriter, r *http.Request) (string, error) {
	payload := make([]byte, payloadSize)
	expires := s.now().Add(SessionTTL)
	binary.BigEndian.PutUint64(payload, uint64(expires.Unix()))
	if _, err := rand.Read(payload[8:]); err != nil {
		return "", fmt.Errorf("make session: %w", err)
	}
	value := base64.RawURLEncoding.EncodeToString(payload) + "." + base64.RawURLEncoding.EncodeToString(s.sign(payload))
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie, Value: value, Path: "/", Expires: expires, MaxAge: int(SessionTTL / time.Second),
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: secure(r),
	})
	return base64.RawURLEncoding.EncodeToString(payload[8:]), nil
}

// End clears the session cookie.
func (s *Sessions) End(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: secure(r),
	})
}

// secure tells whether the browser reached the daemon over HTTPS: its
// own TLS, or a TLS proxy in front that says so. A false claim only keeps
// the cookie from being sent over plain HTTP.
func secure(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

// Check reports whether r carries a valid, unexpired session cookie and
// returns the session's CSRF token.
func (s *Sessions) Check(r *http.Request) (csrf string, ok bool) {
	if s == nil {
		return "", false
	}
	c, err := r.Cookie(SessionCookie)
	if err != nil {
		return "", false
	}
	enc, sig, found := strings.Cut(c.Value, ".")
	if !found {
		return "", false
	}
	payload, err1 := base64.RawURLEncoding.DecodeString(enc)
	mac, err2 := base64.RawURLEncoding.DecodeString(sig)
	if err1 != nil || err2 != nil || len(payload) != payloadSize || !hmac.Equal(mac, s.sign(payload)) {
		return "", false
	}
	// An expiry further away than a new session's is not one Start made.
	if exp, now := int64(binary.BigEndian.Uint64(payload)), s.now(); exp <= now.Unix() || exp > now.Add(SessionTTL+time.Minute).Unix() {
		return "", false
	}
	return base64.RawURLEncoding.EncodeToString(payload[8:]), true
}

// TokenOK reports whether given is the auth token the sessions stand for
// (the login page), comparing in constant time.
func (s *Sessions) TokenOK(given string) bool {
	return subtle.ConstantTimeCompare([]byte(given), []byte(s.token)) == 1
}

// CSRFHeader carries the session's CSRF token on state-changing requests
// made by the dashboard.
const CSRFHeader = "X-CSRF-Token"

// CheckCSRF reports whether given is the session's CSRF token.
func CheckCSRF(csrf, given string) bool {
	return csrf != "" && subtle.ConstantTimeCompare([]byte(csrf), []byte(given)) == 1
}
