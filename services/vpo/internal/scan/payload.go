package scan

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
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
	if !filepath.IsAbs(p.Path) {
		return p, fmt.Errorf("scan payload: path %q must be absolute", p.Path)
	}
	p.Path = filepath.Clean(p.Path)
	return p, nil
}

// checkRoot verifies the scan root is a readable directory.
func checkRoot(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("scan root %q: %w", path, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("scan root %q is not a directory", path)
	}
	return nil
}
