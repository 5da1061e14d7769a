package config

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// entryError is a bad entry of a table setting (jobs.limits and the like):
// the file loader reports it at the entry's own line and key.
type entryError struct {
	entry string // the entry's key, such as "transcode"
	value string // the value as written (TOML literal or raw string); "" if none
	msg   string
}

func (e *entryError) Error() string {
	return strconv.Quote(e.entry) + ": " + e.msg
}

// kindTableSpec is a table from job kind to a value checked like entry: a
// TOML table (`[jobs.limits]` with `transcode = 1`, or an inline table), or
// in the environment and flags comma-separated "kind=value" pairs
// ("transcode=1,scan=2"). Kind names are lower-case identifiers, possibly
// dotted ("test.sleep"). An empty table is stored as nil.
func kindTableSpec[V any](k Key, field func(*Config) *map[string]V, entry spec[V]) spec[map[string]V] {
	store := func(out map[string]V, kind, value string, v V) error {
		if err := checkKindName(kind); err != nil {
			return &entryError{entry: kind, value: value, msg: err.Error()}
		}
		if entry.check != nil {
			var err error
			if v, err = entry.check(v, ""); err != nil {
				return &entryError{entry: kind, value: value, msg: err.Error()}
			}
		}
		out[kind] = v
		return nil
	}
	return spec[map[string]V]{
		k: k,
		parse: func(raw string) (map[string]V, error) {
			out := map[string]V{}
			for part := range strings.SplitSeq(raw, ",") {
				if part = strings.TrimSpace(part); part == "" {
					continue
				}
				kind, value, ok := strings.Cut(part, "=")
				kind, value = strings.TrimSpace(kind), strings.TrimSpace(value)
				if !ok {
					return nil, fmt.Errorf("entry %q is not kind=value", part)
				}
				if _, dup := out[kind]; dup {
					return nil, &entryError{entry: kind, value: value, msg: "set twice"}
				}
				v, err := entry.parse(value)
				if err != nil {
					return nil, &entryError{entry: kind, value: value, msg: err.Error()}
				}
				if err := store(out, kind, value, v); err != nil {
					return nil, err
				}
			}
			return nilIfEmpty(out), nil
		},
		decode: func(v any) (map[string]V, error) {
			table, ok := v.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("must be a table of job kind = value, not %s", tomlType(v))
			}
			kinds := slices.Sorted(maps.Keys(table))
			out := map[string]V{}
			for _, kind := range kinds {
				raw := table[kind]
				v, err := entry.decode(raw)
				if err != nil {
					return nil, &entryError{entry: kind, value: tomlLiteral(raw), msg: err.Error() + dottedKindHint(kind, raw)}
				}
				if err := store(out, kind, tomlLiteral(raw), v); err != nil {
					return nil, err
				}
			}
			return nilIfEmpty(out), nil
		},
		field: field,
		text: func(m map[string]V) string {
			if len(m) == 0 {
				return "{}"
			}
			kinds := slices.Sorted(maps.Keys(m))
			parts := make([]string, len(kinds))
			for i, kind := range kinds {
				key := kind
				if strings.Contains(kind, ".") {
					key = strconv.Quote(kind)
				}
				value := entry.text(m[kind])
				if entry.quoted {
					value = strconv.Quote(value)
				}
				parts[i] = key + " = " + value
			}
			return "{ " + strings.Join(parts, ", ") + " }"
		},
	}
}

// dottedKindHint explains an entry that TOML read as a table because its
// dotted kind was not quoted (`test.sleep = 1` is the table test with key
// sleep): it returns "; kind names with a dot must be quoted: "test.sleep"
// = 1", naming the first such kind, or "" when raw is no table.
func dottedKindHint(kind string, raw any) string {
	for {
		table, ok := raw.(map[string]any)
		if !ok {
			break
		}
		if len(table) == 0 {
			return ""
		}
		keys := slices.Sorted(maps.Keys(table))
		kind, raw = kind+"."+keys[0], table[keys[0]]
	}
	if !strings.Contains(kind, ".") {
		return ""
	}
	return fmt.Sprintf("; kind names with a dot must be quoted: %s = %s", strconv.Quote(kind), tomlLiteral(raw))
}

func nilIfEmpty[V any](m map[string]V) map[string]V {
	if len(m) == 0 {
		return nil
	}
	return m
}

// checkKindName accepts job kind names: lower-case identifiers
// ([a-z][a-z0-9_]*), possibly joined by dots ("test.sleep").
func checkKindName(kind string) error {
	bad := errors.New("job kind names are lower-case identifiers ([a-z][a-z0-9_]*, dotted for test kinds), such as transcode or scan")
	if kind == "" {
		return bad
	}
	for part := range strings.SplitSeq(kind, ".") {
		if part == "" || part[0] < 'a' || part[0] > 'z' {
			return bad
		}
		for i := 1; i < len(part); i++ {
			c := part[i]
			if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
				return bad
			}
		}
	}
	return nil
}
