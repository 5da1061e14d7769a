package store_test

import (
	"strings"
	"testing"

	"github.com/vpo-project/vpo/libs/store"
)

// TestUnescapePath: UnescapePath reverses EscapePath, and a backslash
// that starts neither `\\` nor `\xNN` is an error naming where it is.
func TestUnescapePath(t *testing.T) {
	for _, p := range []string{"/m/plain é.mkv", "/m/bad\xff\xfe.mkv", `/m/a\b.mkv`, `/m/a\xff.mkv`, "\\\xff\\", ""} {
		esc, _ := store.EscapePath(p)
		got, err := store.UnescapePath(esc)
		if err != nil || got != p {
			t.Errorf("UnescapePath(%q) = %q, %v; want %q", esc, got, err, p)
		}
	}
	for _, tc := range []struct{ in, want string }{
		{`/m/a\b.mkv`, "backslash at byte 4"},
		{`/m/a\xZZ.mkv`, `"\\xZZ" at byte 4`},
		{`/m/a\x`, "backslash at byte 4"},
		{`/m/a\`, "backslash at byte 4"},
	} {
		_, err := store.UnescapePath(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("UnescapePath(%q) error = %v, want one saying %q", tc.in, err, tc.want)
		}
	}
}
