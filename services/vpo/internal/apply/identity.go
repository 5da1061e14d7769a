package apply

import (
	"fmt"
	"io/fs"
	"os"
	"strings"
	"syscall"
	"time"
)

// identity is what tells one file at a path from another: its device and
// inode numbers, size, modification time and inode change time (ctime).
// A file replaced by another with the same size and mtime (cp -p, rsync
// -a, then mv over the path) differs in inode and ctime; a file written
// to in place differs in ctime.
type identity struct {
	dev, ino uint64
	size     int64
	mtime    time.Time
	ctime    time.Time
}

// identityOf returns st's identity; st must come from os.Lstat or
// os.Stat (a *syscall.Stat_t).
func identityOf(st fs.FileInfo) (identity, error) {
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return identity{}, fmt.Errorf("%s: no device and inode numbers", st.Name())
	}
	return identity{
		dev:   uint64(sys.Dev),
		ino:   sys.Ino,
		size:  st.Size(),
		mtime: st.ModTime(),
		ctime: time.Unix(sys.Ctim.Unix()),
	}, nil
}

// differences names what differs between id (the file the tool read) and
// now; "" when nothing does. sameInode compares device and inode only.
func (id identity) differences(now identity, sameInode bool) string {
	var d []string
	if id.dev != now.dev || id.ino != now.ino {
		d = append(d, fmt.Sprintf("device/inode %d/%d, was %d/%d (another file took its name)", now.dev, now.ino, id.dev, id.ino))
	}
	if sameInode {
		return strings.Join(d, ", ")
	}
	if id.size != now.size {
		d = append(d, fmt.Sprintf("size %d, was %d", now.size, id.size))
	}
	if !id.mtime.Equal(now.mtime) {
		d = append(d, fmt.Sprintf("modification time %s, was %s", stamp(now.mtime), stamp(id.mtime)))
	}
	if !id.ctime.Equal(now.ctime) {
		d = append(d, fmt.Sprintf("change time %s, was %s", stamp(now.ctime), stamp(id.ctime)))
	}
	return strings.Join(d, ", ")
}

// stamp formats t for errors.
func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// checkSame returns an error wrapping ErrChanged when the file at path is
// not the file st described (device, inode, size, mtime or ctime differ,
// or only device and inode with sameInode), or is gone.
func checkSame(path string, st fs.FileInfo, sameInode bool) error {
	was, err := identityOf(st)
	if err != nil {
		return err
	}
	cur, err := os.Lstat(path)
	if err != nil {
		return fmt.Errorf("%s is gone (%v) since vpo read it: %w", path, err, ErrChanged)
	}
	now, err := identityOf(cur)
	if err != nil {
		return err
	}
	if d := was.differences(now, sameInode); d != "" {
		return fmt.Errorf("%s changed while vpo worked on it: %s: %w", path, d, ErrChanged)
	}
	return nil
}
