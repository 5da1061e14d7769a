package config

import (
	"strconv"
	"strings"
)

// lineIndex maps dotted TOML keys to the line that first defines them; the
// tables of an array of tables are numbered from 1 ("library.2.path"). The
// toml package keeps key positions private, so the file is scanned here. The
// scan understands table headers, dotted and quoted keys, and skips comments
// and multi-line strings; keys inside inline tables resolve to the line of
// the enclosing key.
type lineIndex map[string]int

func newLineIndex(text string) lineIndex {
	idx := lineIndex{}
	var table []string
	arrays := map[string]int{} // array of tables → tables so far
	closing := ""              // delimiter of an open multi-line string
	for i, line := range strings.Split(text, "\n") {
		n := i + 1
		if closing != "" {
			if strings.Contains(line, closing) {
				closing = ""
			}
			continue
		}
		t := strings.TrimSpace(line)
		if t == "" || t[0] == '#' {
			continue
		}
		if t[0] == '[' {
			inner := strings.TrimPrefix(t, "[")
			array := strings.HasPrefix(inner, "[")
			inner = strings.TrimPrefix(inner, "[")
			end := indexUnquoted(inner, ']')
			if end < 0 {
				continue
			}
			table = splitKey(inner[:end])
			idx.add(table, n)
			if array {
				// The Nth table of an array is indexed as NAME.N (N
				// from 1): "library.2.path".
				name := strings.Join(table, ".")
				arrays[name]++
				table = append(table, strconv.Itoa(arrays[name]))
				idx.add(table, n)
			}
			continue
		}
		if !isKeyStart(t[0]) {
			continue
		}
		eq := indexUnquoted(t, '=')
		if eq < 0 {
			continue
		}
		key := append(append([]string{}, table...), splitKey(t[:eq])...)
		idx.add(key, n)
		value := strings.TrimSpace(t[eq+1:])
		for _, delim := range []string{`"""`, `'''`} {
			if strings.HasPrefix(value, delim) && !strings.Contains(value[len(delim):], delim) {
				closing = delim
			}
		}
	}
	return idx
}

// add records the line of key and of its implicitly defined parents.
func (idx lineIndex) add(key []string, line int) {
	for i := 1; i <= len(key); i++ {
		k := strings.Join(key[:i], ".")
		if _, ok := idx[k]; !ok {
			idx[k] = line
		}
	}
}

// line returns the line of key, falling back to its nearest recorded
// parent, or 0 if unknown.
func (idx lineIndex) line(key []string) int {
	for i := len(key); i > 0; i-- {
		if n, ok := idx[strings.Join(key[:i], ".")]; ok {
			return n
		}
	}
	return 0
}

func isKeyStart(c byte) bool {
	return c == '"' || c == '\'' || c == '_' || c == '-' ||
		(c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
}

// indexUnquoted returns the index of the first c in s outside quotes.
func indexUnquoted(s string, c byte) int {
	var quote byte
	for i := 0; i < len(s); i++ {
		switch {
		case quote == '"' && s[i] == '\\':
			i++
		case quote != 0:
			if s[i] == quote {
				quote = 0
			}
		case s[i] == '"' || s[i] == '\'':
			quote = s[i]
		case s[i] == c:
			return i
		}
	}
	return -1
}

// splitKey splits a TOML key such as `a."b.c" . d` into its parts.
func splitKey(s string) []string {
	var parts []string
	for {
		s = strings.TrimSpace(s)
		dot := indexUnquoted(s, '.')
		part := s
		if dot >= 0 {
			part = s[:dot]
		}
		parts = append(parts, unquoteKey(strings.TrimSpace(part)))
		if dot < 0 {
			return parts
		}
		s = s[dot+1:]
	}
}

func unquoteKey(s string) string {
	if len(s) >= 2 && s[0] == '\'' && s[len(s)-1] == '\'' {
		return s[1 : len(s)-1]
	}
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		if u, err := strconv.Unquote(s); err == nil {
			return u
		}
		return s[1 : len(s)-1]
	}
	return s
}
