package policy

import (
	"errors"
	"strconv"
	"strings"
)

// noFile names the input in messages when Parse is given bytes without a
// file name.
const noFile = "<policy>"

// errorStyle says how an Error is printed.
type errorStyle int

const (
	// styleKey prints "FILE:LINE: KEY: MSG".
	styleKey errorStyle = iota
	// styleSyntax prints "FILE: MSG"; the message carries the line.
	styleSyntax
)

// Error is one problem with a policy file: where it is and what is wrong.
type Error struct {
	// File is the path of the policy file, "" when Parse was given bytes
	// without one (messages then say "<policy>").
	File string
	// Line is the 1-based line of the offending key or value, 0 when the
	// problem has no line (an empty file, a file too large).
	Line int
	// Key is the path of the offending key, as in "phases[0].keep_audio.minimum";
	// empty for problems of the whole file.
	Key string
	// Msg says what is wrong.
	Msg   string
	style errorStyle
}

// Error returns "FILE:LINE: KEY: MSG", for parse errors and for the
// features Check reports alike; a YAML syntax error is "FILE: MSG", its
// message saying the line.
func (e *Error) Error() string {
	var b strings.Builder
	file := e.File
	if file == "" {
		file = noFile
	}
	b.WriteString(file)
	if e.style != styleSyntax {
		if e.Line > 0 {
			b.WriteString(":")
			b.WriteString(strconv.Itoa(e.Line))
		}
		if e.Key != "" {
			b.WriteString(": ")
			b.WriteString(e.Key)
		}
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

// Errors are several problems with one policy file, in the order of the
// file. Parse and Check return it when there is more than one problem.
type Errors []*Error

// Error returns the problems one per line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns the problems, so errors.As finds each *Error.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// asError returns es as an error: nil for none, the *Error itself for one.
func (es Errors) asError() error {
	switch len(es) {
	case 0:
		return nil
	case 1:
		return es[0]
	default:
		return es
	}
}

// Problems returns the problems err holds: the *Error or each of Errors;
// nil when err is neither.
func Problems(err error) []*Error {
	var es Errors
	if errors.As(err, &es) {
		return es
	}
	var e *Error
	if errors.As(err, &e) {
		return []*Error{e}
	}
	return nil
}
