package policy

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
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
	// Policy is nil when the file cannot be read or parsed; Err says why.
	// Problems Check reports are not in Err.
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
func readPolicyFile(path string) ([]byte, time.Time, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("read policy: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("read policy: %w", err)
	}
	if !info.Mode().IsRegular() {
		return nil, time.Time{}, &Error{File: path, Msg: fmt.Sprintf("not a regular file (%s)", info.Mode().Type())}
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
	return l, nil
}

// Find returns the policy nameOrPath names: a NAME is dir/NAME.yaml or
// dir/NAME.yml; a value with a "/" or a .yaml/.yml suffix is a path. A
// missing policy is an error wrapping ErrNotFound.
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
	if strings.HasPrefix(nameOrPath, ".") || strings.ContainsRune(nameOrPath, os.PathSeparator) {
		return nil, fmt.Errorf("%w: %q is not a policy name", ErrNotFound, nameOrPath)
	}
	var found []string
	for _, ext := range []string{".yaml", ".yml"} {
		path := filepath.Join(dir, nameOrPath+ext)
		if _, err := os.Lstat(path); err == nil {
			found = append(found, path)
		}
	}
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("%w: no %s.yaml or %s.yml in %s", ErrNotFound, nameOrPath, nameOrPath, dir)
	case 1:
		return ReadFile(found[0])
	default:
		return nil, fmt.Errorf("policy %q is ambiguous: both %s and %s exist; remove one", nameOrPath, found[0], found[1])
	}
}
