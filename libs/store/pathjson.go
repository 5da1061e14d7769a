package store

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// PathB64 returns the standard base64 of path's bytes when EscapePath
// escapes path, and "" when path is shown as it is: what the API puts in
// "path_b64" next to the escaped "path".
func PathB64(path string) string {
	if _, exact := EscapePath(path); exact {
		return ""
	}
	return base64.StdEncoding.EncodeToString([]byte(path))
}

// UnescapePath reverses EscapePath: a value without a backslash is a path
// as it is; in any other, `\\` stands for a backslash and `\xNN` for the
// byte NN. Any other backslash sequence is an error naming its position.
func UnescapePath(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		switch {
		case i+1 < len(s) && s[i+1] == '\\':
			b.WriteByte('\\')
			i++
		case i+3 < len(s) && s[i+1] == 'x':
			n, err := strconv.ParseUint(s[i+2:i+4], 16, 8)
			if err != nil {
				return "", fmt.Errorf("escaped path %q: %q at byte %d is not \\xNN with two hex digits", s, s[i:i+4], i)
			}
			b.WriteByte(byte(n))
			i += 3
		default:
			return "", fmt.Errorf("escaped path %q: backslash at byte %d starts neither \\\\ nor \\xNN (a path holding a backslash is written with \\\\)", s, i)
		}
	}
	return b.String(), nil
}

// MarshalJSON writes the plan as the API shows it: "path" by the files
// API's rule (escaped by EscapePath, with the exact bytes in "path_b64"
// when it is not valid UTF-8 or holds a backslash).
func (p Plan) MarshalJSON() ([]byte, error) {
	type plain Plan
	j := struct {
		plain
		PathB64 string `json:"path_b64,omitempty"`
	}{plain: plain(p), PathB64: PathB64(p.Path)}
	j.Path, _ = EscapePath(p.Path)
	return json.Marshal(j)
}

// MarshalJSON writes the entry as the API shows it, "path" by the files
// API's rule (see Plan.MarshalJSON).
func (h HistoryEntry) MarshalJSON() ([]byte, error) {
	type plain HistoryEntry
	j := struct {
		plain
		PathB64 string `json:"path_b64,omitempty"`
	}{plain: plain(h), PathB64: PathB64(h.Path)}
	j.Path, _ = EscapePath(h.Path)
	return json.Marshal(j)
}
