package applyjob

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/vpo-project/vpo/libs/policy"
	"github.com/vpo-project/vpo/libs/store"
)

// Payload is the JSON an apply job takes:
// {"policy": "NAME", "path": "/abs", "recursive": true, "dry_run": false}.
// A job that applies an approved plan carries its "plan_id" instead (it
// may repeat policy and path, for reading). A path that is not valid UTF-8
// is given as "path_b64" (standard base64 of its bytes) instead of "path":
// exactly one of them. ParsePayload puts the decoded bytes in Path, and
// MarshalJSON writes a Path that store.EscapePath would escape (not UTF-8,
// or holding a backslash) as "path_b64", so that children and retries of
// such a file name it exactly.
type Payload struct {
	Policy string `json:"policy,omitempty"`
	Path   string `json:"path,omitempty"`
	// PathB64 is the "path_b64" given; after ParsePayload, Path holds
	// its bytes.
	PathB64   string `json:"path_b64,omitempty"`
	Recursive *bool  `json:"recursive,omitempty"`
	DryRun    bool   `json:"dry_run,omitempty"`
	PlanID    int64  `json:"plan_id,omitempty"`
	// Deferrals counts how many times the file was already skipped for
	// now and tried again later (set by vpo, see MaxDeferrals).
	Deferrals int `json:"deferrals,omitempty"`

	// from is the field Path was given in ("path" or "path_b64"), for
	// error messages.
	from string
}

// field returns the payload field the path was given in.
func (p Payload) field() string {
	if p.from == "" {
		return "path"
	}
	return p.from
}

// recursive defaults to true.
func (p Payload) recursive() bool { return p.Recursive == nil || *p.Recursive }

// payloadFields are the keys of Payload's JSON, spelled exactly.
var payloadFields = []string{"policy", "path", "path_b64", "recursive", "dry_run", "plan_id", "deferrals"}

// MarshalJSON writes the payload with its path as "path", or as
// "path_b64" when store.EscapePath would escape it.
func (p Payload) MarshalJSON() ([]byte, error) {
	type plain Payload
	if b64 := store.PathB64(p.Path); b64 != "" {
		p.Path, p.PathB64 = "", b64
	}
	return json.Marshal(plain(p))
}

// ParsePayload decodes and checks an apply payload; errors name the field.
// Keys are matched exactly (not case-insensitively, as encoding/json
// would) and each may be given once; the policy is a NAME in policies.dir
// (policy.CheckName), never a path.
func ParsePayload(raw json.RawMessage) (Payload, error) {
	var p Payload
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "{}" {
		return p, errors.New(`apply payload is required: {"policy": "NAME", "path": "/media/library"}`)
	}
	if err := checkKeys(raw); err != nil {
		return p, fmt.Errorf("apply payload: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return p, fmt.Errorf("apply payload: %w", err)
	}
	if p.PlanID < 0 {
		return p, fmt.Errorf("apply payload: plan_id %d must be positive", p.PlanID)
	}
	if p.Deferrals < 0 || p.Deferrals > MaxDeferrals {
		return p, fmt.Errorf("apply payload: deferrals %d must be between 0 and %d", p.Deferrals, MaxDeferrals)
	}
	if err := decodePathB64(&p); err != nil {
		return p, err
	}
	if p.PlanID > 0 {
		return p, nil
	}
	if p.Policy == "" {
		return p, errors.New("apply payload: policy is required (the name of a policy in policies.dir)")
	}
	if err := policy.CheckName(p.Policy); err != nil {
		return p, fmt.Errorf("apply payload: policy %w", err)
	}
	if p.Path == "" {
		return p, errors.New("apply payload: path is required (or path_b64, the standard base64 of a path that is not UTF-8)")
	}
	if i := strings.IndexByte(p.Path, 0); i >= 0 {
		return p, fmt.Errorf("apply payload: %s %q contains a NUL byte (at byte %d)", p.field(), p.Path, i)
	}
	if !filepath.IsAbs(p.Path) {
		return p, fmt.Errorf("apply payload: %s %q must be absolute", p.field(), p.Path)
	}
	p.Path = filepath.Clean(p.Path)
	return p, nil
}

// decodePathB64 puts the bytes of p.PathB64, if given, in p.Path.
func decodePathB64(p *Payload) error {
	if p.PathB64 == "" {
		return nil
	}
	if p.Path != "" {
		return errors.New("apply payload: give either path or path_b64, not both")
	}
	b, err := base64.StdEncoding.Strict().DecodeString(p.PathB64)
	if err != nil {
		return fmt.Errorf("apply payload: path_b64 %q is not standard base64: %w", p.PathB64, err)
	}
	p.Path, p.PathB64, p.from = string(b), "", "path_b64"
	return nil
}

// checkKeys reads the top-level object of raw and refuses a key that is
// not one of payloadFields exactly, or that comes twice.
func checkKeys(raw json.RawMessage) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil {
		return err
	} else if d, ok := t.(json.Delim); !ok || d != '{' {
		return errors.New("must be a JSON object")
	}
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		key, _ := t.(string)
		if !slices.Contains(payloadFields, key) {
			return fmt.Errorf("unknown field %q (fields: %s; names are case-sensitive)", key, strings.Join(payloadFields[:5], ", "))
		}
		if seen[key] {
			return fmt.Errorf("field %q is given twice", key)
		}
		seen[key] = true
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return fmt.Errorf("field %q: %w", key, err)
		}
		if string(v) == "null" {
			// A null would leave the default, which for dry_run means a
			// real change: say what is meant instead.
			return fmt.Errorf("field %q is null: give a value or leave the field out", key)
		}
	}
	return nil
}

// ValidatePayload is what the API checks when an apply job is submitted:
// ParsePayload, that the path exists and that there is no plan_id (only
// POST /api/plans/{id}/approve makes a job of a plan, after checking it),
// so that an obvious mistake is refused at once (400) instead of failing
// the job.
func ValidatePayload(raw json.RawMessage) (Payload, error) {
	p, err := ParsePayload(raw)
	if err != nil {
		return p, err
	}
	if p.Deferrals != 0 {
		return p, errors.New("apply payload: deferrals is set by vpo, not given")
	}
	if p.PlanID != 0 {
		return p, fmt.Errorf("apply payload: plan_id is set by vpo, not given: approve plan %d with POST /api/plans/%d/approve", p.PlanID, p.PlanID)
	}
	if _, err := os.Stat(p.Path); errors.Is(err, fs.ErrNotExist) {
		return p, fmt.Errorf("apply payload: %s %q does not exist", p.field(), p.Path)
	} else if err != nil {
		return p, fmt.Errorf("apply payload: %s %q: %w", p.field(), p.Path, err)
	}
	return p, nil
}
