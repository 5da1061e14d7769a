package store

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// ErrForeignWAL reports a write-ahead log next to the database file that
// was written for a different file (one that was deleted or replaced, for
// example by a restored backup). SQLite would replay it into the file and
// corrupt it, so Open refuses and changes nothing.
var ErrForeignWAL = errors.New("write-ahead log belongs to a different database file")

// The write-ahead log guard. SQLite replays whatever valid log it finds at
// path+"-wal" into the file at path; it has no way to know that the log was
// written for another file that used to live at that path. vpo therefore
// records, in an owner file next to the database, the identity (inode and
// birth time) of the database file and of the log file SQLite created for
// it; a later start refuses a log with committed frames that is that very
// log file while the database file is another one. At shutdown, when the path no longer holds the file vpo
// opened, vpo checkpoints what it can into the file it holds and removes the
// log and shared-memory files it created, so that nothing is left to be
// replayed into whatever is put at the path next.

const (
	walSuffix   = "-wal"
	shmSuffix   = "-shm"
	ownerSuffix = "-wal-owner"

	walHeaderSize      = 32
	walFrameHeaderSize = 24
	walMagicLE         = 0x377f0682
	walMagicBE         = 0x377f0683
	walFormatVersion   = 3007000
)

// fileID identifies a file across renames: device, inode and, where the
// file system records it, the birth time (which tells a new file that
// reuses a freed inode number from the old one).
type fileID struct {
	dev, ino uint64
	birth    int64 // nanoseconds since the epoch; 0 when unknown
}

// statID returns the identity of the file at path (following symlinks).
func statID(path string) (fileID, error) {
	var stx unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, path, 0, unix.STATX_INO|unix.STATX_BTIME, &stx); err != nil {
		return fileID{}, &fs.PathError{Op: "statx", Path: path, Err: err}
	}
	id := fileID{dev: unix.Mkdev(stx.Dev_major, stx.Dev_minor), ino: stx.Ino}
	if stx.Mask&unix.STATX_BTIME != 0 {
		id.birth = stx.Btime.Sec*1e9 + int64(stx.Btime.Nsec)
	}
	return id, nil
}

// sameFile reports whether a and b are the same file as seen within one
// boot (device numbers are compared).
func (a fileID) sameFile(b fileID) bool {
	return a.dev == b.dev && a.sameOwner(b)
}

// sameOwner compares identities recorded possibly before a reboot: device
// numbers may change between boots, inode numbers and birth times do not.
func (a fileID) sameOwner(b fileID) bool {
	if a.ino != b.ino {
		return false
	}
	return a.birth == 0 || b.birth == 0 || a.birth == b.birth
}

func (a fileID) String() string {
	return fmt.Sprintf("inode %d, born %d", a.ino, a.birth)
}

// walOwner is the owner file's record: the database file a write-ahead log
// was written for and, once SQLite created it, the log file itself.
type walOwner struct {
	db  fileID
	wal fileID // zero when not known
}

const ownerFormat = "vpo write-ahead log owner v1\ndatabase %d %d %d\nlog %d %d %d\n"

// readOwner reads the owner file of the database at path; ok is false when
// there is none.
func readOwner(path string) (o walOwner, ok bool, err error) {
	owner := path + ownerSuffix
	b, err := readRecord(owner)
	if errors.Is(err, fs.ErrNotExist) {
		return walOwner{}, false, nil
	}
	if err == nil {
		_, err = fmt.Sscanf(string(b), ownerFormat, &o.db.dev, &o.db.ino, &o.db.birth,
			&o.wal.dev, &o.wal.ino, &o.wal.birth)
		if err != nil {
			err = fmt.Errorf("malformed owner record: %w", err)
		}
	}
	if err != nil {
		return walOwner{}, false, fmt.Errorf("read %q: %w (vpo writes this small file itself; remove it to start "+
			"without it: a write-ahead log next to the database is then replayed, with a warning)", owner, err)
	}
	return o, true, nil
}

// maxRecordSize bounds what is read of an owner file; vpo's own record is
// under 100 bytes.
const maxRecordSize = 4096

// readRecord reads the owner file at owner: only a regular file (a FIFO
// would block the start-up, a device never ends) of at most
// maxRecordSize bytes.
func readRecord(owner string) ([]byte, error) {
	f, err := os.OpenFile(owner, os.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, unwrapPathError(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("not a regular file (%s)", fi.Mode().Type())
	}
	b, err := io.ReadAll(io.LimitReader(f, maxRecordSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxRecordSize {
		return nil, fmt.Errorf("larger than %d bytes", maxRecordSize)
	}
	return b, nil
}

// writeOwner records o in the owner file of the database at path
// (atomically: a crash leaves the old or the new record).
func writeOwner(path string, o walOwner) error {
	owner := path + ownerSuffix
	want := fmt.Sprintf(ownerFormat, o.db.dev, o.db.ino, o.db.birth, o.wal.dev, o.wal.ino, o.wal.birth)
	if b, err := readRecord(owner); err == nil && string(b) == want {
		return nil
	}
	tmp := owner + ".tmp"
	if err := writeSynced(tmp, want); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write %q: %w", tmp, unwrapPathError(err))
	}
	if err := os.Rename(tmp, owner); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write %q: %w", owner, unwrapPathError(err))
	}
	if d, err := os.Open(filepath.Dir(owner)); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}

func writeSynced(path, text string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, fileMode)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(text); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// guardWAL runs before SQLite opens the database at path, whose identity
// is db: it refuses a write-ahead log with committed frames that is the very
// log file recorded as written for another database file, and records db
// as the owner of the log SQLite is about to use. It changes nothing when it
// refuses.
//
// A log is trusted, as SQLite would trust it, when there is no record (a
// log written by another program or an older vpo) or when the log is not
// the recorded file either (the database, its log and the record were
// restored together, for example from a file system snapshot). unvouched
// reports the first case: a log with committed transactions and no record
// at all, which the caller should mention.
func guardWAL(path string, db fileID, dbSize int64) (unvouched bool, err error) {
	wal := path + walSuffix
	// SQLite discards the log of an empty database file, so it cannot be
	// replayed into one.
	if dbSize > 0 {
		committed, err := walHasCommit(wal)
		if err != nil {
			return false, err
		}
		if committed {
			owner, ok, err := readOwner(path)
			if err != nil {
				return false, err
			}
			unvouched = !ok
			if ok && !owner.db.sameOwner(db) && owner.isLog(wal) {
				return false, fmt.Errorf("write-ahead log %q was written for another file (%s) that was deleted or replaced, "+
					"not for %q (%s); replaying it would corrupt the database, so nothing was changed. "+
					"If %q is a restored backup, delete %q and %q and start vpo again: %w",
					wal, owner.db, path, db, path, wal, path+shmSuffix, ErrForeignWAL)
			}
		}
	}
	return unvouched, writeOwner(path, walOwner{db: db})
}

// isLog reports whether the file at wal is the log file the record names,
// or the record names none.
func (o walOwner) isLog(wal string) bool {
	if o.wal.ino == 0 {
		return true
	}
	cur, err := statID(wal)
	return err == nil && cur.sameOwner(o.wal)
}

// walHasCommit reports whether the write-ahead log at wal holds at least
// one valid committed transaction, that is what SQLite would replay: a
// well-formed header and a run of frames with the header's salts and
// matching running checksums that ends in a commit frame.
func walHasCommit(wal string) (bool, error) {
	f, err := os.Open(wal)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read write-ahead log %q: %w", wal, unwrapPathError(err))
	}
	defer f.Close()
	ok, err := scanWAL(bufio.NewReaderSize(f, 1<<16))
	if err != nil {
		return false, fmt.Errorf("read write-ahead log %q: %w", wal, err)
	}
	return ok, nil
}

// scanWAL implements walHasCommit on the log's bytes.
func scanWAL(r io.Reader) (bool, error) {
	hdr := make([]byte, walHeaderSize)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return false, ignoreShort(err)
	}
	magic := binary.BigEndian.Uint32(hdr[0:])
	if magic != walMagicLE && magic != walMagicBE {
		return false, nil
	}
	bigEndian := magic == walMagicBE
	pageSize := int(binary.BigEndian.Uint32(hdr[8:]))
	if pageSize == 1 {
		pageSize = 65536
	}
	if binary.BigEndian.Uint32(hdr[4:]) != walFormatVersion ||
		pageSize < 512 || pageSize > 65536 || pageSize&(pageSize-1) != 0 {
		return false, nil
	}
	s1, s2 := walChecksum(bigEndian, hdr[:24], 0, 0)
	if s1 != binary.BigEndian.Uint32(hdr[24:]) || s2 != binary.BigEndian.Uint32(hdr[28:]) {
		return false, nil
	}
	frame := make([]byte, walFrameHeaderSize+pageSize)
	for {
		if _, err := io.ReadFull(r, frame); err != nil {
			return false, ignoreShort(err)
		}
		if string(frame[8:16]) != string(hdr[16:24]) { // salts
			return false, nil
		}
		s1, s2 = walChecksum(bigEndian, frame[:8], s1, s2)
		s1, s2 = walChecksum(bigEndian, frame[walFrameHeaderSize:], s1, s2)
		if s1 != binary.BigEndian.Uint32(frame[16:]) || s2 != binary.BigEndian.Uint32(frame[20:]) {
			return false, nil
		}
		if binary.BigEndian.Uint32(frame[4:]) != 0 { // commit frame
			return true, nil
		}
	}
}

func ignoreShort(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return nil
	}
	return err
}

// walChecksum continues SQLite's write-ahead log checksum over b (a
// multiple of 8 bytes) from s1, s2.
func walChecksum(bigEndian bool, b []byte, s1, s2 uint32) (uint32, uint32) {
	order := binary.ByteOrder(binary.LittleEndian)
	if bigEndian {
		order = binary.BigEndian
	}
	for i := 0; i+8 <= len(b); i += 8 {
		s1 += order.Uint32(b[i:]) + s2
		s2 += order.Uint32(b[i+4:]) + s1
	}
	return s1, s2
}

// sideFiles returns the identities of the log and shared-memory files of
// the database at path, as far as they exist.
func sideFiles(path string) map[string]fileID {
	ids := make(map[string]fileID, 2)
	for _, suffix := range []string{walSuffix, shmSuffix} {
		if id, err := statID(path + suffix); err == nil {
			ids[path+suffix] = id
		}
	}
	return ids
}

// removeSideFiles removes those of the recorded files that are still the
// same files at their paths.
func removeSideFiles(ids map[string]fileID) error {
	var errs []error
	for p, id := range ids {
		cur, err := statID(p)
		if err != nil || !cur.sameFile(id) {
			continue
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove %q: %w", p, unwrapPathError(err)))
		}
	}
	return errors.Join(errs...)
}
