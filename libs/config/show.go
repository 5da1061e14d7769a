package config

import (
	"io"
	"strings"
)

// secretMask replaces secret values in output and errors.
const secretMask = `"********"`

// Show writes the effective configuration, one key per line in the style
//
//	server.port = 8321  # default
//
// grouped by section, each annotated with where its value came from. The
// first line names the config file or says "(no config file)". Secrets are
// masked. The libraries come last, as [[library]] tables (or "library =
// []" when there are none). Apart from masked secrets, the output is valid
// TOML.
func (l *Loaded) Show(w io.Writer) error {
	var b strings.Builder
	if l.File != "" {
		b.WriteString("# config file: " + l.File + "\n")
	} else {
		b.WriteString("# (no config file)\n")
	}
	prev := ""
	for _, s := range settings() {
		name := s.key().Name
		if _, ok := s.(librarySetting); ok && len(l.Config.Libraries) > 0 {
			l.showLibraries(&b)
			continue
		}
		if sec := section(name); sec != prev {
			b.WriteString("\n")
			prev = sec
		}
		value := s.literal(&l.Config)
		if s.secret() && value != `""` {
			value = secretMask
		}
		value = s.redacted(value)
		b.WriteString(name + " = " + value + "  # " + l.describe(name) + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// showLibraries writes each library as a [[library]] table, its header
// annotated with where it was set.
func (l *Loaded) showLibraries(b *strings.Builder) {
	for i, lib := range l.Config.Libraries {
		o := origin{source: SourceFile, file: l.File}
		if i < len(l.libraryLines) {
			o.line = l.libraryLines[i].header
		}
		b.WriteString("\n[[library]]  # " + o.String() + "\n")
		for _, f := range libraryFields() {
			b.WriteString(f + " = " + lib.fieldLiteral(f) + "\n")
		}
	}
}

// describe names where key's value came from.
func (l *Loaded) describe(key string) string {
	if o, ok := l.origins[key]; ok {
		return o.String()
	}
	if src, ok := l.Sources[key]; ok {
		return string(src)
	}
	return string(SourceDefault)
}
