package policy

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"
)

// ErrNotFound is wrapped by Find when there is no such policy.
var ErrNotFound = errors.New("policy not found")

// Listing is what a policies directory holds.
type Listing struct {
	Dir string
	// Exists is false when the directory does not exist.
	Exists  bool
	Entries []Entry
}

// Entry is one policy file of a Listing.
type Entry struct {
	// Name is the file name without .yaml or .yml.
	Name     string
	Filename string
	Path     string
	ModTime  time.Time
	// Policy is nil when the file cannot be read or parsed, or when
	// another file has the same name (NAME.yaml and NAME.yml: ambiguous);
	// Err says why. Problems Check reports are not in Err.
	Policy *Policy
	Err    error
}

// ReadFile reads and parses the policy file at path: a regular file of
// at most MaxFileSize bytes.
func ReadFile(path string) (*Policy, error) {
	data, _, err := readPolicyFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// readPolicyFile returns the bytes and modification time of the regular
// file at path, refusing other files and files larger than MaxFileSize.
// Nothing but a regular file is opened, and the open does not block: a
// FIFO (or a device) at path is "not a regular file" at once instead of a
// read that waits for a writer forever.
func readPolicyFile(path string) ([]byte, time.Time, error) {
	before, err := os.Stat(path)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("read policy: %w", err)
	}
	if !before.Mode().IsRegular() {
		return nil, time.Time{}, notRegular(path, before)
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("read policy: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("read policy: %w", err)
	}
	if !info.Mode().IsRegular() {
		// Replaced between the stat and the open.
		return nil, time.Time{}, notRegular(path, info)
	}
	if info.Size() > MaxFileSize {
		return nil, time.Time{}, &Error{File: path, Msg: fmt.Sprintf("the file is %d bytes, larger than the %d a policy may be", info.Size(), MaxFileSize)}
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("read policy: %w", err)
	}
	if len(data) > MaxFileSize {
		return nil, time.Time{}, &Error{File: path, Msg: fmt.Sprintf("the file grew past the %d bytes a policy may be", MaxFileSize)}
	}
	return data, info.ModTime(), nil
}

// notRegular is the error for a policy path that is not a regular file.
func notRegular(path string, info fs.FileInfo) error {
	return &Error{File: path, Msg: fmt.Sprintf("not a regular file (%s)", info.Mode().Type())}
}

// policyFile reports whether a file name is a policy's (*.yaml, *.yml),
// hidden files left out.
func policyFile(name string) bool {
	return !strings.HasPrefix(name, ".") && (strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml")) && nameOf(name) != name
}

// List reads every *.yaml and *.yml file of dir, sorted by name. A file
// that cannot be read or parsed is an Entry with Err. A missing dir is a
// Listing with Exists false; only a dir that cannot be read is an error.
func List(dir string) (Listing, error) {
	l := Listing{Dir: dir}
	des, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return l, nil
	case err != nil:
		return l, fmt.Errorf("list policies in %s: %w", dir, err)
	}
	l.Exists = true
	for _, de := range des {
		name := de.Name()
		if !policyFile(name) || de.IsDir() {
			continue
		}
		path := filepath.Join(dir, name)
		e := Entry{Name: nameOf(name), Filename: name, Path: path}
		data, mtime, err := readPolicyFile(path)
		e.ModTime = mtime
		if err == nil {
			e.Policy, err = Parse(path, data)
		} else if info, serr := os.Stat(path); serr == nil {
			e.ModTime = info.ModTime()
		}
		e.Err = err
		l.Entries = append(l.Entries, e)
	}
	sort.Slice(l.Entries, func(i, j int) bool {
		a, b := l.Entries[i], l.Entries[j]
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return a.Filename < b.Filename
	})
	markAmbiguous(l.Entries)
	return l, nil
}

// markAmbiguous gives the entries of a name held by two files (NAME.yaml
// and NAME.yml, sorted next to each other) the error FindName reports:
// neither is the policy NAME until one is removed.
func markAmbiguous(es []Entry) {
	for i := 0; i < len(es); {
		j := i + 1
		for j < len(es) && es[j].Name == es[i].Name {
			j++
		}
		if j-i > 1 {
			for k := i; k < j; k++ {
				es[k].Policy = nil
				es[k].Err = &Error{File: es[k].Path, Msg: fmt.Sprintf("policy %q is ambiguous: both %s and %s exist; remove one",
					es[k].Name, es[i].Filename, es[i+1].Filename)}
			}
		}
		i = j
	}
}

// ErrAmbiguous is wrapped by FindName and Find when both NAME.yaml and
// NAME.yml exist.
var ErrAmbiguous = errors.New("is ambiguous")

// MaxNameLen is the longest policy name, in bytes: NAME.yaml must fit in
// a file name.
const MaxNameLen = 250

// ErrBadName is wrapped by CheckName and FindName for a value that cannot
// be a policy's name.
var ErrBadName = errors.New("is not a policy name")

// CheckName returns nil when name can be the name of a policy in a
// policies directory: a file name without .yaml or .yml, at most
// MaxNameLen bytes of UTF-8, that does not start with "." and holds no
// "/", NUL or other control character. It never names a file elsewhere.
// The error wraps ErrBadName and quotes (the start of) the value.
func CheckName(name string) error {
	why := ""
	switch {
	case name == "":
		why = "it is empty"
	case len(name) > MaxNameLen:
		why = fmt.Sprintf("it is %d bytes long, more than the %d a name may be", len(name), MaxNameLen)
	case !utf8.ValidString(name):
		why = "it is not valid UTF-8"
	case strings.ContainsRune(name, '/') || strings.ContainsRune(name, os.PathSeparator):
		why = `it contains "/" (a policy is named, not given as a path)`
	case strings.HasPrefix(name, "."):
		why = `it starts with "."`
	case strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml"):
		why = fmt.Sprintf("it ends in %s (the name is the file name without it: %q)", filepath.Ext(name), nameOf(name))
	default:
		for i, r := range name {
			if r == 0 {
				why = fmt.Sprintf("it contains a NUL byte (at byte %d)", i)
				break
			}
			if unicode.IsControl(r) {
				why = fmt.Sprintf("it contains the control character %U (at byte %d)", r, i)
				break
			}
		}
	}
	if why == "" {
		return nil
	}
	return fmt.Errorf("%s %w: %s", quoteStart(name), ErrBadName, why)
}

// quoteStart quotes s, cut after 64 bytes.
func quoteStart(s string) string {
	const max = 64
	if len(s) <= max {
		return strconv.Quote(s)
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strconv.Quote(s[:cut]) + "…"
}

// FindName returns the policy called name in dir: dir/NAME.yaml or
// dir/NAME.yml. It never reads a file outside dir: a name CheckName
// refuses is an error wrapping ErrBadName and ErrNotFound. A missing
// policy is an error wrapping ErrNotFound; a name with both files is
// ambiguous.
func FindName(dir, name string) (*Policy, error) {
	if err := CheckName(name); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	var found []string
	for _, ext := range []string{".yaml", ".yml"} {
		path := filepath.Join(dir, name+ext)
		if _, err := os.Lstat(path); err == nil {
			found = append(found, path)
		}
	}
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("%w: no %s.yaml or %s.yml in %s", ErrNotFound, name, name, dir)
	case 1:
		return ReadFile(found[0])
	default:
		return nil, fmt.Errorf("policy %q %w: both %s and %s exist; remove one", name, ErrAmbiguous, found[0], found[1])
	}
}

// Find returns the policy nameOrPath names: a NAME is found by FindName
// in dir; a value with a "/" or a .yaml/.yml suffix is the path of a
// policy file anywhere (for the command line, where the file is the
// user's own: the daemon calls FindName). A missing policy is an error
// wrapping ErrNotFound.
func Find(dir, nameOrPath string) (*Policy, error) {
	if nameOrPath == "" {
		return nil, fmt.Errorf("%w: no policy name given", ErrNotFound)
	}
	if strings.Contains(nameOrPath, "/") || strings.HasSuffix(nameOrPath, ".yaml") || strings.HasSuffix(nameOrPath, ".yml") {
		p, err := ReadFile(nameOrPath)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s does not exist", ErrNotFound, nameOrPath)
		}
		return p, err
	}
	return FindName(dir, nameOrPath)
}
