package apply_test

import (
	"strings"
	"testing"

	"github.com/vpo-project/vpo/services/vpo/internal/apply"
)

func TestTempNames(t *testing.T) {
	for _, tc := range []struct {
		path string
		want string // "" when only the length and pattern are checked
	}{
		{"/lib/Movie (2020).mkv", "/lib/.Movie (2020).vpo-tmp-0123456789abcdef.mkv"},
		{"/lib/show.s01e02.mp4", "/lib/.show.s01e02.vpo-tmp-0123456789abcdef.mp4"},
		{"/lib/no extension", "/lib/.no extension.vpo-tmp-0123456789abcdef.tmp"},
		{"/lib/" + strings.Repeat("é", 126) + ".mkv", ""},
	} {
		got := apply.TempName(tc.path, "0123456789abcdef")
		base := got[strings.LastIndex(got, "/")+1:]
		if tc.want != "" && got != tc.want {
			t.Errorf("TempName(%q) = %q, want %q", tc.path, got, tc.want)
		}
		if len(base) > 255 || !apply.IsTempName(base) || !strings.HasPrefix(got, "/lib/.") {
			t.Errorf("TempName(%q) = %q (%d bytes): not a temporary name", tc.path, got, len(base))
		}
	}
	for name, want := range map[string]bool{
		".a.vpo-tmp-0123456789abcdef.mkv":   true,
		"a.vpo-tmp-0123456789abcdef.mkv":    false, // not hidden
		".a.vpo-tmp-0123456789abcde.mkv":    false, // 15 digits
		".a.vpo-tmp-0123456789ABCDEF.mkv":   false,
		".a.vpo-tmp-0123456789abcdef.mkv.x": false,
		".a.vpo-tmp-0123456789abcdef":       false,
		".a.vpo-tmp-0123456789abcdef.m/v":   false,
		".a.mkv":                            false,
	} {
		if got := apply.IsTempName(name); got != want {
			t.Errorf("IsTempName(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestIsKeptOriginal(t *testing.T) {
	for name, want := range map[string]bool{
		"a.original.mkv": true, "a.original.2.mkv": true, "a.original.999.mp4": true,
		"a.mkv": false, "a.original.1.mkv": false, "a.original.02.mkv": false, "a.original.x.mkv": false,
		"original.mkv": false, "a.originally.mkv": false, "a.2.mkv": false, ".original.2.mkv": true,
	} {
		if got := apply.IsKeptOriginal(name); got != want {
			t.Errorf("IsKeptOriginal(%q) = %v, want %v", name, got, want)
		}
	}
}
