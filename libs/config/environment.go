package config

import "strings"

// envPrefix marks environment variables that belong to vpo.
const envPrefix = "VPO_"

// environment is a parsed os.Environ()-style list.
type environment struct {
	names  []string // in order of first appearance
	values map[string]string
}

// newEnvironment parses "KEY=value" entries; the first entry of a name wins,
// as with os.Getenv.
func newEnvironment(entries []string) environment {
	e := environment{values: make(map[string]string, len(entries))}
	for _, kv := range entries {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || name == "" {
			continue
		}
		if _, seen := e.values[name]; seen {
			continue
		}
		e.names = append(e.names, name)
		e.values[name] = value
	}
	return e
}

// get returns the value of name, "" if unset or empty.
func (e environment) get(name string) string {
	return e.values[name]
}
