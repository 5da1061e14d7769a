// Package logging builds the logrus logger used by the vpo daemon.
//
// New turns Options (level, format, output, journald mode) into a ready
// *logrus.Logger; nothing is registered globally and the logrus standard
// logger is never touched, so callers pass the logger (or an entry from
// Component) explicitly.
//
// Two formats are supported:
//
//   - "text": one human-readable line per entry, without colours, in the
//     order time=… level=… logger=… msg="…" key=value.
//   - "json": one JSON object per line with the keys timestamp (RFC 3339,
//     nanoseconds, UTC), level, logger (when set), message and every
//     context field.
//
// In journal mode (see StderrIsJournal) every line starts with the syslog
// priority "<N>" that journald understands, and the text format drops its
// timestamp because journald records one itself. Caller information (the
// func and file of the log call) is added only at debug level.
package logging
