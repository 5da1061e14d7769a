// Package scan is the `scan` job kind: it walks a media directory and
// records every video file in the library's files table, with stream details
// from ffprobe when ffprobe is installed. Re-scans are idempotent.
package scan
