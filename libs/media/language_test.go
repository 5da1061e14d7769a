package media_test

import (
	"testing"

	"github.com/vpo-project/vpo/libs/media"
)

func TestNormalizeLanguage(t *testing.T) {
	tests := []struct{ in, want string }{
		{"de", "ger"}, {"deu", "ger"}, {"ger", "ger"}, {"fr", "fre"}, {"fra", "fre"}, {"zh", "chi"}, {"zho", "chi"},
		{"nl", "dut"}, {"nld", "dut"}, {"cs", "cze"}, {"ces", "cze"}, {"el", "gre"}, {"ell", "gre"},
		{"fa", "per"}, {"fas", "per"}, {"hy", "arm"}, {"hye", "arm"}, {"ka", "geo"}, {"kat", "geo"},
		{"is", "ice"}, {"isl", "ice"}, {"mk", "mac"}, {"mkd", "mac"}, {"mi", "mao"}, {"mri", "mao"},
		{"ms", "may"}, {"msa", "may"}, {"my", "bur"}, {"mya", "bur"}, {"ro", "rum"}, {"ron", "rum"},
		{"sk", "slo"}, {"slk", "slo"}, {"sq", "alb"}, {"sqi", "alb"}, {"eu", "baq"}, {"eus", "baq"},
		{"cy", "wel"}, {"cym", "wel"}, {"bo", "tib"}, {"bod", "tib"},
		{"en", "eng"}, {"ja", "jpn"}, {"es", "spa"}, {"pt", "por"}, {"he", "heb"}, {"iw", "heb"}, {"zu", "zul"},
		{"fil", "fil"}, {"haw", "haw"},
		{"EN", "eng"}, {"  Ger\n", "ger"}, {"DEU", "ger"},
		{"en-US", "eng"}, {"pt-BR", "por"}, {"zh-Hans", "chi"}, {"zh_TW", "chi"}, {"sr-Latn-RS", "srp"},
		{"mul", "mul"}, {"zxx", "zxx"},
		{"", "und"}, {"und", "und"}, {"unk", "und"}, {"xx", "und"}, {"mis", "und"}, {"UND", "und"},
		{"english", "und"}, {"e", "und"}, {"qaa", "und"}, {"-en", "und"}, {"é", "und"}, {"en\x00", "und"},
	}
	for _, tt := range tests {
		if got := media.NormalizeLanguage(tt.in); got != tt.want {
			t.Errorf("NormalizeLanguage(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestLanguageTable(t *testing.T) {
	table := media.LanguageTable()
	if len(table) < 184+20 {
		t.Fatalf("table has %d entries, want all ISO 639-1 codes and the ISO 639-2/T ones", len(table))
	}
	lower := func(s string) bool {
		for _, r := range s {
			if r < 'a' || r > 'z' {
				return false
			}
		}
		return true
	}
	twoLetter := 0
	for i, e := range table {
		key, value := e[0], e[1]
		if i > 0 && table[i-1][0] >= key {
			t.Errorf("entry %d %q is not after %q: the table must be sorted, without duplicate keys", i, key, table[i-1][0])
		}
		if (len(key) != 2 && len(key) != 3) || !lower(key) {
			t.Errorf("key %q is not a 2- or 3-letter lower-case code", key)
		}
		if len(value) != 3 || !lower(value) {
			t.Errorf("value %q of %q is not a 3-letter lower-case code", value, key)
		}
		if len(key) == 2 {
			twoLetter++
		}
		// Every value is itself a bibliographic code mapping to itself.
		if got := media.NormalizeLanguage(value); got != value {
			t.Errorf("%q maps to %q, which maps to %q", key, value, got)
		}
		if key == "und" || key == "mis" {
			t.Errorf("%q must not be in the table", key)
		}
	}
	// 184 ISO 639-1 codes (bh included) and the withdrawn iw, in, ji.
	if twoLetter != 187 {
		t.Errorf("%d two-letter codes, want 187", twoLetter)
	}
}
