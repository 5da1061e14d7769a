package store

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestRebind(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"SELECT 1", "SELECT 1"},
		{"a = ? AND b = ?", "a = $1 AND b = $2"},
		{"a = ?2 AND b = ?1 AND c = ?2", "a = $2 AND b = $1 AND c = $2"},
		{"a = ?3 AND b = ?", "a = $3 AND b = $4"},
		{"x || '?' || ? -- what?\n AND y = ?", "x || '?' || $1 -- what?\n AND y = $2"},
		{`"we?ird" = ? AND z = 'it''s ?'`, `"we?ird" = $1 AND z = 'it''s ?'`},
	} {
		if got := rebind(tc.in); got != tc.want {
			t.Errorf("rebind(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestEncodeText(t *testing.T) {
	for _, s := range []string{"", "/srv/a.mkv", "é\\x", "/srv/\xff\xfe.mkv", "a\x00b", "x" + textEscape + "y",
		textEscape + "ff", "/d/\xc3", "\xc3/d"} {
		e := encodeText(s)
		if !utf8.ValidString(e) || strings.IndexByte(e, 0) >= 0 {
			t.Errorf("encodeText(%q) = %q: not storable as PostgreSQL text", s, e)
		}
		if d := decodeText(e); d != s {
			t.Errorf("decodeText(encodeText(%q)) = %q", s, d)
		}
		if utf8.ValidString(s) && !strings.ContainsRune(s, 0) && !strings.Contains(s, textEscape) && e != s {
			t.Errorf("encodeText(%q) = %q, want it unchanged", s, e)
		}
	}
	// Directory prefixes hold in the encoded form.
	dir, name := "/srv/\xff dir/", "f\xfe.mkv"
	if got := encodeText(dir + name); !strings.HasPrefix(got, encodeText(dir)) {
		t.Errorf("encodeText(%q) = %q does not start with encodeText(%q) = %q", dir+name, got, dir, encodeText(dir))
	}
	if encodeText("a\xff") == encodeText("a"+textEscape+"ff") {
		t.Error("a byte and the escape's text encode alike")
	}
}

func TestMigrationSetsEndTogether(t *testing.T) {
	lite, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	pg, err := loadMigrationsIn("pgmigrations", pgFirstVersion)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := lite[len(lite)-1].version, pg[len(pg)-1].version; a != b {
		t.Errorf("SQLite's migrations end at %d, PostgreSQL's at %d: every version needs a file in both", a, b)
	}
}

func TestRedactURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"postgres://vpo:s3cret@db:5432/vpo?sslmode=require", "postgres://vpo:xxxxx@db:5432/vpo?sslmode=require"},
		{"postgres://vpo@db/vpo?password=s3cret&sslmode=disable", "postgres://vpo@db/vpo?password=xxxxx&sslmode=disable"},
		{"postgres://db/vpo", "postgres://db/vpo"},
	} {
		if got := RedactURL(tc.in); got != tc.want {
			t.Errorf("RedactURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := RedactURL("postgres://u:p@[bad"); strings.Contains(got, "p@") {
		t.Errorf("RedactURL of an unparsable URL = %q, shows the password", got)
	}
}
