package logging

import (
	"errors"
	"fmt"
	"syscall"

	"github.com/sirupsen/logrus"
)

// syncer is an output that can flush what it buffered, such as *os.File.
type syncer interface {
	Sync() error
}

// Flush syncs the output of l when it supports Sync, for the last step of
// shutdown. logrus itself writes synchronously, so this only matters for
// files. Errors that merely say the output cannot be synced (a pipe, a
// terminal or the journal socket behind stderr: EINVAL, ENOTSUP) are not
// errors here and yield nil.
func Flush(l *logrus.Logger) error {
	s, ok := l.Out.(syncer)
	if !ok {
		return nil
	}
	if err := s.Sync(); err != nil && !unsyncable(err) {
		return fmt.Errorf("flush log output: %w", err)
	}
	return nil
}

// unsyncable reports whether err only says that the output has nothing
// that could be synced.
func unsyncable(err error) bool {
	return errors.Is(err, syscall.EINVAL) || errors.Is(err, errors.ErrUnsupported)
}
