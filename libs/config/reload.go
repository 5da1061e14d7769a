package config

// Change is one key whose value differs between two configurations.
type Change struct {
	// Key is the dotted key, such as "logging.level".
	Key string
	// Old and New are the values as TOML literals; secrets are masked.
	// A library (key "library", one Change per library added, removed or
	// changed) is an inline table; Old is "" for an added library, New ""
	// for a removed one.
	Old, New string
	// Live reports whether a running daemon can apply the new value (see
	// Key.Live); otherwise it takes a restart.
	Live bool
}

// Diff returns the keys whose values differ between old and new, in the
// order of Keys; the libraries (last) are matched by path.
func Diff(old, new Config) []Change {
	var changes []Change
	for _, s := range settings() {
		if _, ok := s.(librarySetting); ok {
			changes = append(changes, libraryChanges(old.Libraries, new.Libraries)...)
			continue
		}
		o, n := s.literal(&old), s.literal(&new)
		if o == n {
			continue
		}
		if s.secret() {
			o, n = maskedLiteral(o), maskedLiteral(n)
		}
		o, n = s.redacted(o), s.redacted(n)
		if o == n {
			n += " (a password changed)"
		}
		k := s.key()
		changes = append(changes, Change{Key: k.Name, Old: o, New: n, Live: k.Live})
	}
	return changes
}

// maskedLiteral hides a secret but still tells an empty value apart.
func maskedLiteral(lit string) string {
	if lit == `""` {
		return lit
	}
	return secretMask
}

// Reload compares the running configuration with a newly loaded one. It
// returns the configuration to run with (next's live keys, running's value
// for every other key), the live changes to apply, and the changes that
// need a restart and were therefore not taken.
func Reload(running, next Config) (effective Config, live, restart []Change) {
	effective = next
	for _, c := range Diff(running, next) {
		if c.Live {
			live = append(live, c)
			continue
		}
		restart = append(restart, c)
	}
	for _, s := range settings() {
		if !s.key().Live {
			s.copyValue(&effective, &running)
		}
	}
	return effective, live, restart
}
