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
	"time"
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
// or a new token ends every session.
type Sessions struct {
	key []byte
	now func() time.Time
}

// LoadKey reads the session key from dir/session.key, creating the file
// (mode 0600, 32 random bytes) when it does not exist. A file of the
// wrong size is replaced: the key only signs sessions, which then end.
func LoadKey(dir string) (key []byte, replaced bool, err error) {
	path := filepath.Join(dir, KeyFile)
	b, err := os.ReadFile(path)
	switch {
	case err == nil && len(b) == keySize:
		return b, false, nil
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return nil, false, fmt.Errorf("read session key %q: %w", path, err)
	}
	replaced = err == nil
	key = make([]byte, keySize)
	if _, err := rand.Read(key); err != nil {
		return nil, false, fmt.Errorf("make session key: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".session.key-*")
	if err != nil {
		return nil, false, fmt.Errorf("write session key in %q: %w", dir, err)
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
	if err != nil {
		return nil, false, fmt.Errorf("write session key %q: %w", path, err)
	}
	return key, replaced, nil
}

// NewSessions returns the sessions of a daemon whose auth token is token,
// signed under key (see LoadKey).
func NewSessions(key []byte, token string) *Sessions {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("vpo dashboard session\x00"))
	mac.Write([]byte(token))
	return &Sessions{key: mac.Sum(nil), now: time.Now}
}

// payload: 8 bytes of expiry (Unix seconds, big endian), 16 of CSRF token.
const payloadSize = 8 + 16

func (s *Sessions) sign(payload []byte) []byte {
	mac := hmac.New(sha256.New, s.key)
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
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil,
	})
	return base64.RawURLEncoding.EncodeToString(payload[8:]), nil
}

// End clears the session cookie.
func (s *Sessions) End(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil,
	})
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
	if int64(binary.BigEndian.Uint64(payload)) <= s.now().Unix() {
		return "", false
	}
	return base64.RawURLEncoding.EncodeToString(payload[8:]), true
}

// CSRFHeader carries the session's CSRF token on state-changing requests
// made by the dashboard.
const CSRFHeader = "X-CSRF-Token"

// CheckCSRF reports whether given is the session's CSRF token.
func CheckCSRF(csrf, given string) bool {
	return csrf != "" && subtle.ConstantTimeCompare([]byte(csrf), []byte(given)) == 1
}
