package config

import "strings"

// Key describes one configuration setting, for --help output and docs.
type Key struct {
	// Name is the dotted TOML key, such as "server.port".
	Name string
	// Env is the environment variable, such as "VPO_SERVER_PORT".
	Env string
	// Flag is the command-line flag, such as "--port", or "" if none.
	Flag string
	// Default is the default value in human-readable form; for defaults
	// that depend on the host it is a description.
	Default string
	// Help is a one-line explanation.
	Help string
	// Live reports that a running daemon applies a new value on reload
	// (SIGHUP); a change of any other key needs a restart.
	Live bool
}

// Keys returns every setting in a stable order (grouped by section, in the
// order of Sample).
func Keys() []Key {
	all := settings()
	keys := make([]Key, len(all))
	for i, s := range all {
		keys[i] = s.key()
	}
	return keys
}

// FlagKey returns the config key set by a command-line flag, accepting the
// flag with or without its leading dashes ("--port" or "port" →
// "server.port"). It reports false for flags that set no config key.
func FlagKey(flag string) (string, bool) {
	name := strings.TrimLeft(flag, "-")
	if name == "" {
		return "", false
	}
	for _, s := range settings() {
		k := s.key()
		if k.Flag != "" && strings.TrimLeft(k.Flag, "-") == name {
			return k.Name, true
		}
	}
	return "", false
}

// section returns the TOML table of a dotted key: "server" for "server.port".
func section(name string) string {
	sec, _, _ := strings.Cut(name, ".")
	return sec
}
