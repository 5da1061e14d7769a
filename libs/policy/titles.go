package policy

import "strings"

// The words of a track title that make an audio track a music track or a
// sound-effects track, as upstream VPO recognises them by metadata. A
// word matches at word boundaries, so "ost" does not match "Lost".
var (
	musicWords = []string{"music", "score", "isolated score", "soundtrack", "ost", "m&e", "music and effects",
		"instrumental", "orchestra", "orchestral", "songs only"}
	sfxWords = []string{"sfx", "sound effects", "effects only", "foley", "ambient", "ambience", "sounds only"}
)

// isMusic reports whether an audio title names a music track.
func isMusic(title string) bool { return hasWord(title, musicWords) }

// isSFX reports whether an audio title names a sound-effects track.
func isSFX(title string) bool { return hasWord(title, sfxWords) }

// hasWord reports whether title holds one of words, ignoring case, at
// word boundaries.
func hasWord(title string, words []string) bool {
	if title == "" {
		return false
	}
	lower := strings.ToLower(title)
	for _, w := range words {
		for from := 0; from <= len(lower)-len(w); {
			i := strings.Index(lower[from:], w)
			if i < 0 {
				break
			}
			i += from
			end := i + len(w)
			if (i == 0 || !wordByte(lower[i-1])) && (end == len(lower) || !wordByte(lower[end])) {
				return true
			}
			from = i + 1
		}
	}
	return false
}

// wordByte reports whether b is part of a word.
func wordByte(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b >= 0x80
}
