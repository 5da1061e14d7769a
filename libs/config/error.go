package config

import (
	"strconv"
	"strings"
)

// Error describes one invalid configuration input and where it came from.
// Load returns errors that can be inspected with errors.As(err, new(*Error)).
type Error struct {
	// File is the config file involved, if any.
	File string
	// Line and Column locate the problem in File; 0 when unknown.
	Line   int
	Column int
	// Source is the layer the bad input came from.
	Source Source
	// Name is the environment variable (Source env) or flag (Source flag)
	// that supplied the value.
	Name string
	// Key is the dotted config key, such as "server.port"; empty for
	// problems not tied to a key (syntax errors, unreadable files).
	Key string
	// Value is the offending value as written: a TOML literal for the file
	// (`70000`, `"abc"`), the raw string for environment and flags. Secrets
	// are masked.
	Value string
	// Msg says what is wrong.
	Msg string
	// Err is the underlying cause, if any.
	Err error
}

// Error formats the problem with its location, for example
//
//	/etc/vpo/config.toml:7: server.port = 70000: must be between 1 and 65535
//	environment VPO_SERVER_PORT="abc": server.port: not an integer
//	flag --log-level="loud": logging.level: must be one of debug, info, warning, error
func (e *Error) Error() string {
	var b strings.Builder
	switch e.Source {
	case SourceEnv:
		b.WriteString("environment ")
		b.WriteString(e.Name)
		b.WriteString("=")
		b.WriteString(strconv.Quote(e.Value))
	case SourceFlag:
		b.WriteString("flag ")
		b.WriteString(e.Name)
		b.WriteString("=")
		b.WriteString(strconv.Quote(e.Value))
	case SourceDefault:
		b.WriteString("default value")
	default:
		b.WriteString(e.File)
		if e.Line > 0 {
			b.WriteString(":")
			b.WriteString(strconv.Itoa(e.Line))
			if e.Column > 0 {
				b.WriteString(":")
				b.WriteString(strconv.Itoa(e.Column))
			}
		}
		if e.Key != "" {
			b.WriteString(": ")
			b.WriteString(e.Key)
			if e.Value != "" {
				b.WriteString(" = ")
				b.WriteString(e.Value)
			}
		}
		b.WriteString(": ")
		b.WriteString(e.Msg)
		return b.String()
	}
	if e.Key != "" {
		b.WriteString(": ")
		b.WriteString(e.Key)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }
