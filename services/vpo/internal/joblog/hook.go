package joblog

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/sirupsen/logrus"

	"github.com/vpo-project/vpo/libs/store"
)

// queueSize bounds the lines waiting to be stored; when the writer falls
// this far behind, lines are dropped (and counted), never waited for.
const queueSize = 8192

// Hook is the logrus hook that queues the lines of jobs. Create it with
// NewHook, add it to the logger, and run a Writer on it.
type Hook struct {
	lines   chan store.LogLine
	dropped atomic.Int64
}

// NewHook returns a hook with an empty queue.
func NewHook() *Hook {
	return &Hook{lines: make(chan store.LogLine, queueSize)}
}

// Levels: every level the logger lets through.
func (h *Hook) Levels() []logrus.Level { return logrus.AllLevels }

// omitted are the fields a job's own log does not repeat on every line.
var omitted = []string{"job_id", "job_kind", "attempt", "logger"}

// Fire queues e when it carries a job_id; it never blocks.
func (h *Hook) Fire(e *logrus.Entry) error {
	id, _ := e.Data["job_id"].(string)
	if id == "" {
		return nil
	}
	l := store.LogLine{JobID: id, At: e.Time, Level: e.Level.String(), Line: format(e)}
	if l.At.IsZero() {
		l.At = time.Now()
	}
	select {
	case h.lines <- l:
	default:
		h.dropped.Add(1)
	}
	return nil
}

// Dropped counts the lines dropped because the queue was full.
func (h *Hook) Dropped() int64 { return h.dropped.Load() }

// format is the message and the entry's other fields, key=value sorted by
// key, values quoted when they hold spaces or quotes. Control characters,
// characters that do not print and bytes that are not UTF-8 (a file name,
// a tool's output) are escaped, so that printing a job's log on a
// terminal can never drive the terminal.
func format(e *logrus.Entry) string {
	var b strings.Builder
	b.WriteString(escaped(e.Message))
	keys := make([]string, 0, len(e.Data))
	for k := range e.Data {
		if !slices.Contains(omitted, k) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := e.Data[k]
		if err, ok := v.(error); ok {
			v = err.Error()
		}
		s := fmt.Sprint(v)
		if s == "" || strings.ContainsAny(s, " \"=") || needsEscape(s) {
			s = strconv.Quote(s)
		}
		b.WriteString(" ")
		b.WriteString(k)
		b.WriteString("=")
		b.WriteString(s)
	}
	return b.String()
}

// needsEscape reports whether s holds a character that does not print
// (controls, bidirectional overrides and the like) or is not UTF-8.
func needsEscape(s string) bool {
	return !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsPrint(r) })
}

// escaped is s with what needsEscape finds written as Go escapes.
func escaped(s string) string {
	if !needsEscape(s) {
		return s
	}
	q := strconv.Quote(s)
	return q[1 : len(q)-1]
}
