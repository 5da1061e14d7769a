package server

import (
	"log"
	"strings"
)

// lineWriter turns the standard logger's output into calls of one function.
type lineWriter func(string)

func (w lineWriter) Write(p []byte) (int, error) {
	w(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func newStdLogger(f func(string)) *log.Logger { return log.New(lineWriter(f), "", 0) }
