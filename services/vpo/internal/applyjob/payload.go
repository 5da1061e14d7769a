package applyjob

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

// Payload is the JSON an apply job takes:
// {"policy": "NAME", "path": "/abs", "recursive": true, "dry_run": false}.
// A job that applies an approved plan carries its "plan_id" instead (it
// may repeat policy and path, for reading).
type Payload struct {
	Policy    string `json:"policy,omitempty"`
	Path      string `json:"path,omitempty"`
	Recursive *bool  `json:"recursive,omitempty"`
	DryRun    bool   `json:"dry_run,omitempty"`
	PlanID    int64  `json:"plan_id,omitempty"`
}

// recursive defaults to true.
func (p Payload) recursive() bool { return p.Recursive == nil || *p.Recursive }

// ParsePayload decodes and checks an apply payload; errors name the field.
func ParsePayload(raw json.RawMessage) (Payload, error) {
	var p Payload
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "{}" {
		return p, errors.New(`apply payload is required: {"policy": "NAME", "path": "/media/library"}`)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return p, fmt.Errorf("apply payload: %w", err)
	}
	if p.PlanID < 0 {
		return p, fmt.Errorf("apply payload: plan_id %d must be positive", p.PlanID)
	}
	if p.PlanID > 0 {
		return p, nil
	}
	if strings.TrimSpace(p.Policy) == "" {
		return p, errors.New("apply payload: policy is required (a policy name, or the path of a policy file)")
	}
	if p.Path == "" {
		return p, errors.New("apply payload: path is required")
	}
	if i := strings.IndexByte(p.Path, 0); i >= 0 {
		return p, fmt.Errorf("apply payload: path %q contains a NUL byte (at byte %d)", p.Path, i)
	}
	if !filepath.IsAbs(p.Path) {
		return p, fmt.Errorf("apply payload: path %q must be absolute", p.Path)
	}
	p.Path = filepath.Clean(p.Path)
	return p, nil
}

// ValidatePayload is what the API checks when an apply job is submitted:
// ParsePayload, and that the path exists, so that an obvious mistake is
// refused at once (400) instead of failing the job.
func ValidatePayload(raw json.RawMessage) (Payload, error) {
	p, err := ParsePayload(raw)
	if err != nil || p.PlanID > 0 {
		return p, err
	}
	if _, err := os.Stat(p.Path); errors.Is(err, fs.ErrNotExist) {
		return p, fmt.Errorf("apply payload: path %q does not exist", p.Path)
	} else if err != nil {
		return p, fmt.Errorf("apply payload: path %q: %w", p.Path, err)
	}
	return p, nil
}
