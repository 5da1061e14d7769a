package apply

import "errors"

// ErrPermanent is matched (errors.Is) by the errors of Apply and Probe
// that another attempt cannot mend until someone changes the file, its
// directory or the policy: a path that is not a regular file (a symbolic
// link, a directory, a pipe) or not absolute, a read-only file, directory
// or file system, a file or directory vpo may not write to, a result's
// name (NAME.mkv for NAME.mp4, or NAME.original.EXT) that is taken, a file
// that ffprobe does not read as media, and a plan no executor can carry
// out. A caller that retries failures should not retry these. ErrChanged,
// ErrStillChanging, ErrBusy and ErrNoSpace never match it. It adds nothing
// to the message of the error it marks.
var ErrPermanent = errors.New("permanent failure")

// permanentError marks err as permanent (see ErrPermanent).
type permanentError struct{ err error }

// permanent marks err as permanent; nil stays nil.
func permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

func (p *permanentError) Error() string { return p.err.Error() }

func (p *permanentError) Unwrap() error { return p.err }

// Is reports whether target is ErrPermanent.
func (p *permanentError) Is(target error) bool { return target == ErrPermanent }
