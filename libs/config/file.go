package config

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// utf8BOM is the UTF-8 encoding of U+FEFF, the byte-order mark.
const utf8BOM = "\ufeff"

// applyFile decodes the config file and applies every key it sets. Syntax
// errors stop decoding; other problems are collected per key.
func (ld *loader) applyFile(path string, data []byte) {
	// A UTF-8 byte-order mark (as some Windows editors write) is not part
	// of the TOML text; dropping it keeps line and column numbers exact
	// and lets the first line's table header or key be indexed.
	text := strings.TrimPrefix(string(data), utf8BOM)
	var raw map[string]any
	md, err := toml.Decode(text, &raw)
	if err != nil {
		e := &Error{Source: SourceFile, File: path, Msg: "invalid TOML: " + err.Error(), Err: err}
		var pe toml.ParseError
		if errors.As(err, &pe) {
			e.Line, e.Column = pe.Position.Line, pe.Position.Col
			e.Msg = "invalid TOML: " + pe.Message
		}
		ld.errs = append(ld.errs, e)
		return
	}

	lines := newLineIndex(text)
	fileErr := func(key []string, value, msg string, cause error) {
		ld.errs = append(ld.errs, &Error{
			Source: SourceFile, File: path, Line: lines.line(key),
			Key: strings.Join(key, "."), Value: value, Msg: msg, Err: cause,
		})
	}

	sections := map[string][]string{} // section → its leaf names
	var sectionNames []string
	for _, s := range ld.settings {
		name := s.key().Name
		sec := section(name)
		if _, ok := sections[sec]; !ok {
			sectionNames = append(sectionNames, sec)
		}
		sections[sec] = append(sections[sec], strings.TrimPrefix(name, sec+"."))
	}

	bad := map[string]bool{}  // top-level names already reported
	done := map[string]bool{} // keys already applied or reported
	for _, key := range md.Keys() {
		top := key[0]
		if bad[top] {
			continue
		}
		if top == libraryKey {
			bad[top] = true // decoded once, as a whole
			ld.applyLibraries(path, raw[top], lines)
			continue
		}
		leaves, known := sections[top]
		if !known {
			bad[top] = true
			fileErr(key[:1], "", unknownTopLevel(top, md.Type(top), sections, sectionNames), nil)
			continue
		}
		table, isTable := raw[top].(map[string]any)
		if !isTable {
			bad[top] = true
			fileErr(key[:1], tomlLiteral(raw[top]), fmt.Sprintf("must be a table ([%s]), not %s", top, tomlType(raw[top])), nil)
			continue
		}
		if len(key) == 1 {
			continue
		}
		name := top + "." + key[1]
		if done[name] {
			continue
		}
		done[name] = true
		s, ok := ld.find(name)
		if !ok {
			msg := "unknown key in [" + top + "]"
			if guess, ok := closest(key[1], leaves); ok {
				msg += fmt.Sprintf(" (did you mean %s.%s?)", top, guess)
			}
			fileErr(key, "", msg, nil)
			continue
		}
		value := table[key[1]]
		if err := s.fromTOML(&ld.loaded.Config, value, ld.home); err != nil {
			if ee := (*entryError)(nil); errors.As(err, &ee) {
				// A bad entry of a table (jobs.limits): its own line and key.
				fileErr(append(slices.Clone(key[:2]), ee.entry), ee.value, ee.msg, err)
				continue
			}
			fileErr(key[:2], shownLiteral(s, value), err.Error(), err)
			continue
		}
		o := origin{source: SourceFile, file: path, line: lines.line(key[:2])}
		if prev := ld.loaded.origins[name]; prev.source == SourceEnv {
			ld.loaded.Warnings = append(ld.loaded.Warnings, fmt.Sprintf(
				"%s:%d sets %s, which overrides environment variable %s (the config file takes precedence over the environment)",
				path, o.line, name, prev.name))
		}
		ld.record(name, o)
	}
}

// applyLibraries decodes the [[library]] tables; each problem is reported
// at its table's line (or its key's) as library[N].KEY, N counting from 1.
func (ld *loader) applyLibraries(path string, v any, lines lineIndex) {
	lineOf := func(index int, field string) int {
		key := []string{libraryKey}
		if index > 0 {
			key = append(key, strconv.Itoa(index))
			if field != "" {
				key = append(key, field)
			}
		}
		return lines.line(key)
	}
	libs, problems := decodeLibraries(v, ld.home, lineOf)
	for _, p := range problems {
		ld.errs = append(ld.errs, &Error{
			Source: SourceFile, File: path, Line: lineOf(p.index, p.field),
			Key: p.key(), Value: p.value, Msg: p.msg,
		})
	}
	if len(problems) > 0 {
		return
	}
	ld.loaded.Config.Libraries = libs
	ld.loaded.libraryLines = make([]libraryLines, len(libs))
	for i := range libs {
		ld.loaded.libraryLines[i] = libraryLines{
			header: lineOf(i+1, ""), path: lineOf(i+1, "path"), policy: lineOf(i+1, "policy"),
		}
	}
	ld.record(libraryKey, origin{source: SourceFile, file: path, line: lineOf(0, "")})
}

// unknownTopLevel explains an unknown top-level key or table.
func unknownTopLevel(name, typ string, sections map[string][]string, sectionNames []string) string {
	if typ == "Hash" || typ == "ArrayHash" {
		msg := "unknown section [" + name + "]"
		if guess, ok := closest(name, sectionNames); ok && guess == libraryKey {
			msg += " (did you mean [[library]]?)"
		} else if ok {
			msg += fmt.Sprintf(" (did you mean [%s]?)", guess)
		}
		return msg
	}
	for _, sec := range sectionNames {
		for _, leaf := range sections[sec] {
			if leaf == name {
				return fmt.Sprintf("unknown key (%s belongs in section [%s])", name, sec)
			}
		}
	}
	return "unknown key (settings belong in a section: [" + strings.Join(sectionNames, "], [") + "])"
}

func shownLiteral(s setting, v any) string {
	if s.secret() {
		return secretMask
	}
	return s.redacted(tomlLiteral(v))
}

// tomlLiteral renders a decoded TOML value for messages.
func tomlLiteral(v any) string {
	switch v := v.(type) {
	case string:
		return strconv.Quote(v)
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	case time.Time:
		return v.Format(time.RFC3339Nano)
	case []any:
		parts := make([]string, len(v))
		for i, e := range v {
			parts[i] = tomlLiteral(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case []map[string]any:
		parts := make([]string, len(v))
		for i, e := range v {
			parts[i] = tomlLiteral(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = k + " = " + tomlLiteral(v[k])
		}
		return "{" + strings.Join(parts, ", ") + "}"
	default:
		return fmt.Sprint(v)
	}
}
