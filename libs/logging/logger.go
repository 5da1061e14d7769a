package logging

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/sirupsen/logrus"
)

// Accepted values of Options.Level.
const (
	LevelDebug   = "debug"
	LevelInfo    = "info"
	LevelWarning = "warning"
	LevelError   = "error"
)

// Accepted values of Options.Format.
const (
	FormatText = "text"
	FormatJSON = "json"
)

// FieldLogger is the field that names the component that logged an entry.
const FieldLogger = "logger"

// ErrInvalidLevel is wrapped by the error New and SetLevel return for a
// level they do not know.
var ErrInvalidLevel = errors.New("must be one of debug, info, warning (or warn), error")

// ErrInvalidFormat is wrapped by the error New returns for a format it does
// not know.
var ErrInvalidFormat = errors.New("must be one of text, json")

// Options configures New.
type Options struct {
	// Level is the minimum level logged: debug, info, warning (or warn) or
	// error, case-insensitive. Empty means info.
	Level string
	// Format is text or json. Empty means text.
	Format string
	// Output receives the log lines, usually os.Stderr. Nil means os.Stderr.
	Output io.Writer
	// Journal prefixes every line with its syslog priority "<N>" so that
	// journald records the right severity, and drops the text timestamp.
	Journal bool
}

// New returns a logger configured by opts. It fails with a clear error for an
// unknown level or format.
func New(opts Options) (*logrus.Logger, error) {
	level, err := parseLevel(opts.Level)
	if err != nil {
		return nil, err
	}
	formatter, err := newFormatter(opts.Format, opts.Journal)
	if err != nil {
		return nil, err
	}
	out := opts.Output
	if out == nil {
		out = os.Stderr
	}

	l := logrus.New()
	l.SetOutput(out)
	l.SetFormatter(formatter)
	applyLevel(l, level)
	return l, nil
}

// SetLevel changes the level of l, for example on a configuration reload.
// Caller information is reported at debug level only. On error the level of
// l is left unchanged.
func SetLevel(l *logrus.Logger, level string) error {
	lvl, err := parseLevel(level)
	if err != nil {
		return err
	}
	applyLevel(l, lvl)
	return nil
}

// SetFormat changes the line format of l ("text" or "json"), for example
// on a configuration reload; journal must be what New was given. Lines
// written concurrently come out whole in one format or the other. On error
// the format of l is left unchanged.
func SetFormat(l *logrus.Logger, format string, journal bool) error {
	f, err := newFormatter(format, journal)
	if err != nil {
		return err
	}
	l.SetFormatter(f)
	return nil
}

// Component returns an entry of l that carries the field logger=name, for
// a component (such as "http" or "jobs") to log with.
func Component(l *logrus.Logger, name string) *logrus.Entry {
	return l.WithField(FieldLogger, name)
}

// Discard returns an entry that writes nowhere, for a component given no
// logger.
func Discard() *logrus.Entry {
	l := logrus.New()
	l.SetOutput(io.Discard)
	return logrus.NewEntry(l)
}

func applyLevel(l *logrus.Logger, level logrus.Level) {
	l.SetLevel(level)
	l.SetReportCaller(level >= logrus.DebugLevel)
}

func parseLevel(s string) (logrus.Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case LevelDebug:
		return logrus.DebugLevel, nil
	case LevelInfo, "":
		return logrus.InfoLevel, nil
	case LevelWarning, "warn":
		return logrus.WarnLevel, nil
	case LevelError:
		return logrus.ErrorLevel, nil
	default:
		return 0, fmt.Errorf("log level %q: %w", s, ErrInvalidLevel)
	}
}

func newFormatter(format string, journal bool) (logrus.Formatter, error) {
	var f logrus.Formatter
	switch strings.ToLower(strings.TrimSpace(format)) {
	case FormatText, "":
		f = newTextFormatter(journal)
	case FormatJSON:
		f = &jsonFormatter{}
	default:
		return nil, fmt.Errorf("log format %q: %w", format, ErrInvalidFormat)
	}
	if journal {
		f = &journalFormatter{next: f}
	}
	return f, nil
}
