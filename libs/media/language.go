package media

import (
	"sort"
	"strings"
)

// Undetermined is the ISO 639-2 code for a missing or unknown language.
const Undetermined = "und"

// languageCode is one entry of languageTable.
type languageCode struct {
	key, bibliographic string
}

// NormalizeLanguage returns the ISO 639-2/B (bibliographic) code of the
// language s names, or Undetermined ("und").
//
// s is trimmed and matched without regard to case. An ISO 639-1 code
// ("de"), an ISO 639-2/T terminology code ("deu") or an ISO 639-2/B code
// ("ger") all give "ger". An IETF language tag ("en-US", "pt_BR",
// "zh-Hans") is read by its primary subtag. The special ISO 639-2 codes
// "mul" (multiple languages) and "zxx" (no linguistic content) are valid
// codes that say something about the track and are kept; the empty
// string, "und", "mis" (uncoded languages), placeholders that are not
// ISO 639 codes ("unk", "xx") and anything else not in the table give
// "und".
func NormalizeLanguage(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, "-_"); i >= 0 {
		s = s[:i]
	}
	if len(s) < 2 || len(s) > 3 {
		return Undetermined
	}
	s = strings.ToLower(s)
	i := sort.Search(len(languageTable), func(i int) bool { return languageTable[i].key >= s })
	if i < len(languageTable) && languageTable[i].key == s {
		return languageTable[i].bibliographic
	}
	return Undetermined
}
