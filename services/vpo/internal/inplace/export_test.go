package inplace

import "time"

// Record mirrors record for the tests of the external test package.
type Record struct {
	Path     string
	Size     int64
	MTime    time.Time
	Dev, Ino uint64
	Offs     []int64
	Data     [][]byte
}

// EncodeRecord encodes r as an undo record.
func EncodeRecord(r Record) []byte {
	rec := record{Path: r.Path, Size: r.Size, MTime: r.MTime, Dev: r.Dev, Ino: r.Ino}
	for i, off := range r.Offs {
		rec.Saved = append(rec.Saved, saved{Off: off, Data: r.Data[i]})
	}
	return rec.encode()
}

// DecodeRecord decodes an undo record.
func DecodeRecord(b []byte) (Record, error) {
	rec, err := decode(b)
	if err != nil {
		return Record{}, err
	}
	r := Record{Path: rec.Path, Size: rec.Size, MTime: rec.MTime, Dev: rec.Dev, Ino: rec.Ino}
	for _, s := range rec.Saved {
		r.Offs = append(r.Offs, s.Off)
		r.Data = append(r.Data, s.Data)
	}
	return r, nil
}

// ErrCorrupt is errCorrupt.
var ErrCorrupt = errCorrupt
