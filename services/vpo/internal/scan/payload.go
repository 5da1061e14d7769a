package scan

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Payload is the JSON a scan job takes:
// {"path": "/media/library", "recursive": true}.
type Payload struct {
	Path      string `json:"path"`
	Recursive *bool  `json:"recursive,omitempty"`
}

// recursive defaults to true.
func (p Payload) recursive() bool { return p.Recursive == nil || *p.Recursive }

// ParsePayload decodes and checks a scan payload; errors name the field.
func ParsePayload(raw json.RawMessage) (Payload, error) {
	var p Payload
	if len(bytes.TrimSpace(raw)) == 0 {
		return p, errors.New(`scan payload is required: {"path": "/media/library"}`)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return p, fmt.Errorf("scan payload: %w", err)
	}
	if p.Path == "" {
		return p, errors.New("scan payload: path is required")
	}
	if i := strings.IndexByte(p.Path, 0); i >= 0 {
		return p, fmt.Errorf("scan payload: path %q contains a NUL byte (at byte %d)", p.Path, i)
	}
	if !filepath.IsAbs(p.Path) {
		return p, fmt.Errorf("scan payload: path %q must be absolute", p.Path)
	}
	p.Path = filepath.Clean(p.Path)
	return p, nil
}

// ValidatePayload is what the API checks when a scan is submitted:
// ParsePayload, and that the path exists and is a directory or a regular
// video file (by its extension, see Container), so that an obviously wrong
// path is refused at once instead of failing the job through all its
// attempts. Errors name the field.
func ValidatePayload(raw json.RawMessage) (Payload, error) {
	p, err := ParsePayload(raw)
	if err != nil {
		return p, err
	}
	if _, err := checkPath(p.Path); err != nil {
		return p, fmt.Errorf("scan payload: %w", err)
	}
	return p, nil
}

// checkPath tells whether the scan path is a directory (followed when it
// is a symbolic link) or a regular video file (not a link: a scan records
// regular files only); errors name the path field, and one for a path that
// does not exist wraps fs.ErrNotExist.
func checkPath(path string) (isDir bool, err error) {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, fmt.Errorf("path %q does not exist: %w", path, fs.ErrNotExist)
	case err != nil:
		return false, fmt.Errorf("path %q: %w", path, err)
	case fi.IsDir():
		return true, nil
	}
	if li, err := os.Lstat(path); err != nil || !li.Mode().IsRegular() {
		return false, fmt.Errorf("path %q is neither a directory nor a regular file", path)
	}
	if !isVideo(path) {
		return false, fmt.Errorf("path %q is not a directory, nor a video file by its extension (%s)", path, VideoExtensions)
	}
	return false, nil
}

// isVideo tells whether path names a video file by its extension.
func isVideo(path string) bool {
	_, ok := Container(path)
	return ok
}
