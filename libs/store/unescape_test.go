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
	// DisplayPath escapes control characters too; UnescapePath reverses it.
	for p, want := range map[string]string{
		"/m/nl\nname.mkv":       `/m/nl\x0aname.mkv`,
		"/m/\x1b[31mred.mkv":    `/m/\x1b[31mred.mkv`,
		"/m/c1\u0085.mkv":       `/m/c1\xc2\x85.mkv`,
		"/m/del\x7f \xff é.mkv": `/m/del\x7f \xff é.mkv`,
		"/m/plain é.mkv":        "/m/plain é.mkv",
		`/m/a\b.mkv`:            `/m/a\\b.mkv`,
	} {
		got := store.DisplayPath(p)
		back, err := store.UnescapePath(got)
		if got != want || err != nil || back != p {
			t.Errorf("DisplayPath(%q) = %q (back %q, %v), want %q", p, got, back, err, want)
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
