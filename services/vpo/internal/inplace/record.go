package inplace

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// recordMagic starts every undo record; the digit is the format's version.
const recordMagic = "VPOUNDO1"

// maxPath bounds the path stored in a record.
const maxPath = 64 << 10

// record is what an edit saves before mkvpropedit touches a file: enough to
// put the file back byte for byte.
type record struct {
	// Path is the file's absolute path.
	Path string
	// Size and MTime are the file's size and modification time before
	// the edit.
	Size  int64
	MTime time.Time
	// Dev and Ino identify the file: a file at Path with another identity
	// was replaced, and the record does not apply to it.
	Dev, Ino uint64
	// Saved are the spans mkvpropedit may rewrite, with their bytes.
	Saved []saved
}

// saved is one span of the original file and its bytes.
type saved struct {
	Off  int64
	Data []byte
}

// encode lays the record out as: magic, path length (uint32) and path,
// size, mtime (Unix nanoseconds), device, inode, span count (uint32), and
// each span as offset, length and bytes (all big-endian), followed by the
// SHA-256 of everything before it.
func (r record) encode() []byte {
	n := len(recordMagic) + 4 + len(r.Path) + 8*4 + 4 + sha256.Size
	for _, s := range r.Saved {
		n += 16 + len(s.Data)
	}
	b := make([]byte, 0, n)
	b = append(b, recordMagic...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(r.Path)))
	b = append(b, r.Path...)
	b = binary.BigEndian.AppendUint64(b, uint64(r.Size))
	b = binary.BigEndian.AppendUint64(b, uint64(r.MTime.UnixNano()))
	b = binary.BigEndian.AppendUint64(b, r.Dev)
	b = binary.BigEndian.AppendUint64(b, r.Ino)
	b = binary.BigEndian.AppendUint32(b, uint32(len(r.Saved)))
	for _, s := range r.Saved {
		b = binary.BigEndian.AppendUint64(b, uint64(s.Off))
		b = binary.BigEndian.AppendUint64(b, uint64(len(s.Data)))
		b = append(b, s.Data...)
	}
	sum := sha256.Sum256(b)
	return append(b, sum[:]...)
}

// errCorrupt is wrapped by decode's errors.
var errCorrupt = errors.New("corrupt undo record")

// decode reads a record written by encode. A record whose checksum does not
// match, or whose fields do not add up, is an error wrapping errCorrupt.
func decode(b []byte) (record, error) {
	if len(b) < len(recordMagic)+sha256.Size || !bytes.HasPrefix(b, []byte(recordMagic)) {
		return record{}, fmt.Errorf("%w: no %s header", errCorrupt, recordMagic)
	}
	body, sum := b[:len(b)-sha256.Size], b[len(b)-sha256.Size:]
	if got := sha256.Sum256(body); !bytes.Equal(got[:], sum) {
		return record{}, fmt.Errorf("%w: checksum mismatch", errCorrupt)
	}
	d := decoder{b: body[len(recordMagic):]}
	var r record
	pathLen := d.u32()
	if pathLen > maxPath {
		return record{}, fmt.Errorf("%w: path of %d bytes", errCorrupt, pathLen)
	}
	r.Path = string(d.bytes(uint64(pathLen)))
	r.Size = int64(d.u64())
	r.MTime = time.Unix(0, int64(d.u64()))
	r.Dev = d.u64()
	r.Ino = d.u64()
	n := d.u32()
	for i := uint32(0); i < n && d.err == nil; i++ {
		off := int64(d.u64())
		data := d.bytes(d.u64())
		if off < 0 || off > r.Size || int64(len(data)) > r.Size-off {
			return record{}, fmt.Errorf("%w: span %d at offset %d (%d bytes) outside the original size %d", errCorrupt, i, off, len(data), r.Size)
		}
		r.Saved = append(r.Saved, saved{Off: off, Data: data})
	}
	if d.err != nil {
		return record{}, d.err
	}
	if len(d.b) != 0 {
		return record{}, fmt.Errorf("%w: %d bytes after the last span", errCorrupt, len(d.b))
	}
	if r.Path == "" || r.Path[0] != '/' || r.Size < 0 {
		return record{}, fmt.Errorf("%w: path %q, size %d", errCorrupt, r.Path, r.Size)
	}
	return r, nil
}

// decoder reads big-endian fields off b; the first short read sets err.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) bytes(n uint64) []byte {
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.err = fmt.Errorf("%w: truncated", errCorrupt)
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) u32() uint32 {
	if v := d.bytes(4); v != nil {
		return binary.BigEndian.Uint32(v)
	}
	return 0
}

func (d *decoder) u64() uint64 {
	if v := d.bytes(8); v != nil {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}
