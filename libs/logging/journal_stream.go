package logging

import (
	"os"
	"strconv"
	"strings"
)

// StderrIsJournal reports whether f is the stream systemd connected to the
// journal. journalStream is the value of $JOURNAL_STREAM, "DEV:INODE" in
// decimal; the result is true only when it parses and both numbers equal
// the device and inode of f. Anything else, including an empty or garbled
// value, a nil f or a failed stat, yields false.
func StderrIsJournal(f *os.File, journalStream string) bool {
	if f == nil {
		return false
	}
	devStr, inoStr, ok := strings.Cut(strings.TrimSpace(journalStream), ":")
	if !ok {
		return false
	}
	dev, err := strconv.ParseUint(devStr, 10, 64)
	if err != nil {
		return false
	}
	ino, err := strconv.ParseUint(inoStr, 10, 64)
	if err != nil {
		return false
	}
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	fdev, fino, ok := devIno(fi)
	return ok && fdev == dev && fino == ino
}
