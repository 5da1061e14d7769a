package config

import (
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Library is one [[library]] table of the config file: a directory vpo
// keeps processed on its own (watched, held until files are stable,
// rescanned). Libraries are set only in the config file: there is no
// environment variable or flag for them.
type Library struct {
	// Path is the library's directory: absolute and cleaned (a leading
	// "~/" already expanded). Required.
	Path string
	// Policy is the name of the policy applied to new and changed files
	// (a file NAME.yaml or NAME.yml in policies.dir); "" scans only.
	Policy string
	// Watch makes vpo react to file-system events (inotify); without it
	// only rescans find new files. Default true.
	Watch bool
	// Hold is how long a file's size and modification time must be
	// unchanged before vpo acts on it, 0..24h. Default 2m.
	Hold time.Duration
	// RescanInterval is the time between full rescans; 0 never rescans
	// (but at start-up), else at least 1m. Default 6h.
	RescanInterval time.Duration
}

// Defaults of a [[library]] table's optional keys.
const (
	DefaultLibraryHold           = 2 * time.Minute
	DefaultLibraryRescanInterval = 6 * time.Hour
)

// Bounds of a library's durations.
const (
	maxLibraryHold           = 24 * time.Hour
	minLibraryRescanInterval = time.Minute
	maxLibraryRescanInterval = 365 * 24 * time.Hour
)

// libraryKey is the name of the array of tables in the config file.
const libraryKey = "library"

// libraryFields returns the keys of a [[library]] table, in display order.
func libraryFields() []string {
	return []string{"path", "policy", "watch", "hold", "rescan_interval"}
}

// libraryName names the Nth library (counted from 1) or one of its keys
// in errors: "library[2]", "library[2].path".
func libraryName(n int, field string) string {
	name := libraryKey + "[" + strconv.Itoa(n) + "]"
	if field != "" {
		name += "." + field
	}
	return name
}

// literal renders the library as a TOML inline table.
func (l Library) literal() string {
	parts := make([]string, len(libraryFields()))
	for i, f := range libraryFields() {
		parts[i] = f + " = " + l.fieldLiteral(f)
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

func (l Library) fieldLiteral(field string) string {
	switch field {
	case "path":
		return strconv.Quote(l.Path)
	case "policy":
		return strconv.Quote(l.Policy)
	case "watch":
		return strconv.FormatBool(l.Watch)
	case "hold":
		return strconv.Quote(formatDuration(l.Hold))
	case "rescan_interval":
		return strconv.Quote(formatDuration(l.RescanInterval))
	}
	return ""
}

// libraryProblem is one bad input of the libraries: index counts from 1
// (0: the whole array), field is "" for a whole table or the array.
type libraryProblem struct {
	index int
	field string
	value string // the value as written, a TOML literal; "" if none
	msg   string
}

func (p libraryProblem) key() string {
	if p.index == 0 {
		return libraryKey
	}
	return libraryName(p.index, p.field)
}

// decodeLibraries checks the decoded value of the file's "library" key: an
// array of tables. lineOf, when not nil, gives the line of a library's
// key (field "" for its header), for messages that point at another
// library.
func decodeLibraries(v any, home string, lineOf func(index int, field string) int) ([]Library, []libraryProblem) {
	var tables []map[string]any
	switch v := v.(type) {
	case []map[string]any:
		tables = v
	case []any:
		for i, e := range v {
			t, ok := e.(map[string]any)
			if !ok {
				return nil, []libraryProblem{{index: i + 1, value: tomlLiteral(e),
					msg: fmt.Sprintf("must be a table, not %s (write each library as a [[library]] table)", tomlType(e))}}
			}
			tables = append(tables, t)
		}
	default:
		return nil, []libraryProblem{{value: tomlLiteral(v),
			msg: fmt.Sprintf("must be an array of tables, written as [[library]] headers, not %s", tomlType(v))}}
	}
	var problems []libraryProblem
	var libs []Library
	valid := map[int]bool{} // libraries whose path is usable for the overlap checks
	for i, table := range tables {
		n := i + 1
		lib, ps := decodeLibrary(n, table, home)
		problems = append(problems, ps...)
		if lib.Path != "" && !slices.ContainsFunc(ps, func(p libraryProblem) bool { return p.field == "path" }) {
			valid[n] = true
		}
		libs = append(libs, lib)
	}
	for i := range libs {
		if !valid[i+1] {
			continue
		}
		for j := range i {
			if !valid[j+1] {
				continue
			}
			if msg := libraryOverlap(libs[i].Path, libs[j].Path, j+1, lineOf); msg != "" {
				problems = append(problems, libraryProblem{index: i + 1, field: "path", value: strconv.Quote(libs[i].Path), msg: msg})
				break
			}
		}
	}
	if len(problems) > 0 {
		return nil, problems
	}
	return libs, nil
}

// libraryOverlap says why a library at path cannot be next to library
// other (number n) at otherPath, or "" when it can.
func libraryOverlap(path, otherPath string, n int, lineOf func(int, string) int) string {
	where := libraryName(n, "")
	if lineOf != nil {
		if line := lineOf(n, "path"); line > 0 {
			where += fmt.Sprintf(" (line %d)", line)
		}
	}
	switch {
	case path == otherPath:
		return "the same directory as " + where + "; a directory belongs to one library"
	case under(path, otherPath):
		return fmt.Sprintf("inside %s %q; a directory belongs to one library (give the outer library the policy, or split it)", where, otherPath)
	case under(otherPath, path):
		return fmt.Sprintf("contains %s %q; a directory belongs to one library (give the outer library the policy, or split it)", where, otherPath)
	}
	return ""
}

// under reports whether p is inside dir (not dir itself); both clean and
// absolute.
func under(p, dir string) bool {
	if dir == "/" {
		return p != "/"
	}
	return strings.HasPrefix(p, dir+"/")
}

// decodeLibrary checks one [[library]] table, the nth.
func decodeLibrary(n int, table map[string]any, home string) (Library, []libraryProblem) {
	lib := Library{Watch: true, Hold: DefaultLibraryHold, RescanInterval: DefaultLibraryRescanInterval}
	var problems []libraryProblem
	bad := func(field string, raw any, msg string) {
		value := ""
		if raw != nil {
			value = tomlLiteral(raw)
		}
		problems = append(problems, libraryProblem{index: n, field: field, value: value, msg: msg})
	}
	hold := zeroDurationSpec(Key{}, nil, 0, maxLibraryHold)
	rescan := zeroDurationSpec(Key{}, nil, minLibraryRescanInterval, maxLibraryRescanInterval)
	watch := boolSpec(Key{}, nil)
	for _, field := range slices.Sorted(maps.Keys(table)) {
		raw := table[field]
		var err error
		switch field {
		case "path":
			var s string
			if s, err = decodeString(raw); err == nil {
				lib.Path, err = checkLibraryPath(s, home)
			}
		case "policy":
			var s string
			if s, err = decodeString(raw); err == nil {
				err = checkPolicyName(s)
				lib.Policy = s
			}
		case "watch":
			lib.Watch, err = watch.decode(raw)
		case "hold":
			var d time.Duration
			if d, err = hold.decode(raw); err == nil {
				lib.Hold, err = hold.check(d, home)
			}
		case "rescan_interval":
			var d time.Duration
			if d, err = rescan.decode(raw); err == nil {
				lib.RescanInterval, err = rescan.check(d, home)
			}
		default:
			msg := "unknown key in [[library]]"
			if guess, ok := closest(field, libraryFields()); ok {
				msg += fmt.Sprintf(" (did you mean %s?)", guess)
			}
			msg += "; a library has " + strings.Join(libraryFields(), ", ")
			bad(field, nil, msg)
			continue
		}
		if err != nil {
			bad(field, raw, err.Error())
		}
	}
	if _, ok := table["path"]; !ok {
		bad("path", nil, `missing: every [[library]] needs the absolute path of its directory, e.g. path = "/srv/media/movies"`)
	}
	return lib, problems
}

// checkLibraryPath requires an absolute path (or one starting with "~/")
// and cleans it.
func checkLibraryPath(v, home string) (string, error) {
	if v == "" {
		return "", fmt.Errorf(`must not be empty (the absolute path of the library's directory, e.g. "/srv/media/movies")`)
	}
	p, err := checkPath(v, home)
	if err != nil {
		return "", err
	}
	if !filepath.IsAbs(p) {
		return "", fmt.Errorf(`must be an absolute path (starting with "/"), e.g. "/srv/media/movies"`)
	}
	return filepath.Clean(p), nil
}

// checkPolicyName accepts "" (scan only) and names of policy files in
// policies.dir: a file name without .yaml or .yml, not starting with ".",
// without "/" or control characters.
func checkPolicyName(name string) error {
	switch {
	case name == "":
		return nil
	case strings.ContainsRune(name, '/'):
		return fmt.Errorf(`must be the name of a policy in policies.dir, not a path (it contains "/")`)
	case strings.HasPrefix(name, "."):
		return fmt.Errorf(`must be the name of a policy in policies.dir (it starts with ".")`)
	case strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml"):
		return fmt.Errorf("must be the name of a policy without the extension: %q", strings.TrimSuffix(strings.TrimSuffix(name, ".yaml"), ".yml"))
	case strings.ContainsFunc(name, unicode.IsControl):
		return fmt.Errorf("must be the name of a policy (it contains a control character)")
	}
	return nil
}

// librarySetting is the "library" key: the file's [[library]] tables. It
// is a setting so that Keys, Diff, Reload, Show and Sample cover it; the
// file loader decodes it itself to give each table's own lines.
type librarySetting struct{}

func (librarySetting) key() Key {
	return Key{
		Name:    libraryKey,
		Default: "none",
		Help: "Directories vpo keeps processed on its own, one [[library]] table each (path, policy, watch, hold, rescan_interval); " +
			"set in the config file only (no environment variable or flag); a reload adds, removes and changes them.",
		Live: true,
	}
}

func (librarySetting) fromString(*Config, string, string) error {
	return fmt.Errorf("libraries are set only in the config file, as [[library]] tables")
}

func (librarySetting) fromTOML(c *Config, v any, home string) error {
	libs, problems := decodeLibraries(v, home, nil)
	if len(problems) > 0 {
		p := problems[0]
		return fmt.Errorf("%s: %s", p.key(), p.msg)
	}
	c.Libraries = libs
	return nil
}

func (librarySetting) literal(c *Config) string {
	parts := make([]string, len(c.Libraries))
	for i, l := range c.Libraries {
		parts[i] = l.literal()
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

func (librarySetting) secret() bool { return false }

func (librarySetting) redacted(text string) string { return text }

func (librarySetting) copyValue(dst, src *Config) { dst.Libraries = slices.Clone(src.Libraries) }

// libraryChanges returns one Change (key "library") per library added,
// removed or changed between old and new, matched by path: removed and
// changed ones in old's order, then added ones in new's. Old is "" for an
// added library, New "" for a removed one.
func libraryChanges(old, new []Library) []Change {
	var changes []Change
	find := func(libs []Library, path string) (Library, bool) {
		i := slices.IndexFunc(libs, func(l Library) bool { return l.Path == path })
		if i < 0 {
			return Library{}, false
		}
		return libs[i], true
	}
	for _, o := range old {
		n, ok := find(new, o.Path)
		switch {
		case !ok:
			changes = append(changes, Change{Key: libraryKey, Old: o.literal(), Live: true})
		case n != o:
			changes = append(changes, Change{Key: libraryKey, Old: o.literal(), New: n.literal(), Live: true})
		}
	}
	for _, n := range new {
		if _, ok := find(old, n.Path); !ok {
			changes = append(changes, Change{Key: libraryKey, New: n.literal(), Live: true})
		}
	}
	return changes
}
