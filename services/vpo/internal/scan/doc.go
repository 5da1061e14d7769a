// Package scan is the `scan` job kind: it walks a media directory (or looks
// at one video file) and records every video file in the library's files
// table, with stream details from ffprobe when ffprobe is installed.
// Rescans are idempotent and write only what changed: a rescan of an
// unchanged tree writes nothing. Hooks added with OnFinished run after each
// completed scan.
package scan
