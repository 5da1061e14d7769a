// Package inplace edits the metadata of MKV files in place with
// mkvpropedit (track flags, names, languages; no copy of the file), so that
// a crash or a SIGKILL of vpo at any moment leaves the file, once vpo has
// started again, either byte for byte as it was or completely edited and
// verified.
//
// Why this is safe. mkvpropedit rewrites only the file's header elements:
// it overwrites an element it changes (Tracks, Info, Tags, ...) where it
// is when the new one fits, with a Void element filling what is left;
// otherwise it turns the old place into a Void element and writes the
// element at the end of the file, then updates the SeekHead and the
// Segment's size. It never moves or rewrites the audio and video data,
// which lives in Cluster elements. Those are several separate writes, and
// a kill between two of them would leave a mix of old and new headers. So
// before mkvpropedit runs, Edit reads the file's layout (the EBML header,
// the Segment header, every top-level element that is not a Cluster, and
// every Cluster's header) and writes all those bytes, with the file's
// size, modification time and device and inode numbers, into an undo
// record: a checksummed file in the journal directory, written to a
// temporary name, fsynced, renamed into place, and the directory fsynced.
// Every byte mkvpropedit can change is then either in the record or past
// the file's original end. Putting the saved bytes back and cutting the
// file to its original size gives the original, byte for byte, whatever
// mkvpropedit had or had not written yet.
//
// Edit then runs mkvpropedit and the caller's verification. It opens the
// file once, saves it from that open file, and hands that same open file
// to mkvpropedit (as its file descriptor 3, named "/proc/self/fd/3" on its
// command line): mkvpropedit edits the inode that was saved, whatever its
// path leads to by then. A file renamed over the path meanwhile is never
// written to; once mkvpropedit has run, Edit checks that the path still
// leads to the opened file, and undoes the edit (on the opened file) when
// it does not. Restoring writes to the opened file too, mtime included. If either
// fails, or the context ends, Edit restores the file at once. If both
// succeed, the file is fsynced and only then is the record removed (and
// the directory fsynced): from that moment the edited file is durable and
// nothing will undo it. If vpo dies before that moment, the record is
// still there and Recover, called at the next start, restores the file
// (and drops records of files that are gone or were replaced, and never
// acts on a record whose checksum fails). Restoring is idempotent, so a
// crash during Recover is handled by the next Recover. A record's name
// also carries the pid and boot id of the vpo that wrote it: Recover
// leaves alone the records of another vpo that still runs (a second
// daemon on the same state directory). Records are named after their
// file, and a file that has a record is not edited again until
// that record is gone: a file left half edited is never taken for an
// original.
//
// The undo record holds only headers and metadata (a few KiB to a few MiB
// for a film, more with large attachments such as fonts; bounded by
// Editor.MaxSaved, 64 MiB by default). A file whose
// layout cannot be saved this way is refused before anything is written,
// with an error wrapping ErrLayout: not Matroska, truncated, a Cluster of
// unknown size (its end, and so the elements after it, cannot be found
// without reading every block; such files come from live recordings and
// are remuxed instead), or more header bytes than the bound.
package inplace
