package inplace_test

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vpo-project/vpo/services/vpo/internal/inplace"
)

func TestRecordRoundTrip(t *testing.T) {
	r := inplace.Record{
		Path: "/media/films/a b.mkv", Size: 5000, MTime: time.Unix(1700000000, 123456789),
		Dev: 2049, Ino: 1234567, Offs: []int64{0, 4000}, Data: [][]byte{[]byte("header bytes"), []byte("tail")},
	}
	got, err := inplace.DecodeRecord(inplace.EncodeRecord(r))
	if err != nil {
		t.Fatal(err)
	}
	if !got.MTime.Equal(r.MTime) {
		t.Errorf("mtime %v, want %v", got.MTime, r.MTime)
	}
	got.MTime = r.MTime
	if !reflect.DeepEqual(got, r) {
		t.Errorf("decoded %+v, want %+v", got, r)
	}
}

// reseal replaces the checksum of a record whose body a test changed, so
// that decode gets past it to the field checks.
func reseal(b []byte) []byte {
	body := b[:len(b)-sha256.Size]
	sum := sha256.Sum256(body)
	return append(append([]byte{}, body...), sum[:]...)
}

func TestRecordCorrupt(t *testing.T) {
	good := inplace.EncodeRecord(inplace.Record{
		Path: "/m/a.mkv", Size: 100, MTime: time.Unix(1, 0), Offs: []int64{0, 90}, Data: [][]byte{[]byte("abc"), []byte("0123456789")},
	})
	flip := func(i int) []byte {
		b := append([]byte{}, good...)
		b[i] ^= 1
		return b
	}
	// The span count is after magic(8), path length(4), path(8), four
	// uint64 fields(32).
	countAt := 8 + 4 + 8 + 32
	setCount := func(n uint32) []byte {
		b := append([]byte{}, good...)
		binary.BigEndian.PutUint32(b[countAt:], n)
		return reseal(b)
	}
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "no VPOUNDO1 header"},
		{"other file", []byte(strings.Repeat("x", 100)), "no VPOUNDO1 header"},
		{"a bit flipped in the path", flip(14), "checksum mismatch"},
		{"a bit flipped in the data", flip(len(good) - 40), "checksum mismatch"},
		{"a bit flipped in the checksum", flip(len(good) - 1), "checksum mismatch"},
		{"cut short", good[:len(good)-5], "checksum mismatch"},
		{"more spans than bytes", setCount(3), "truncated"},
		{"fewer spans than bytes", setCount(1), "bytes after the last span"},
		{"span past the original size", func() []byte {
			b := append([]byte{}, good...)
			binary.BigEndian.PutUint64(b[countAt+4+8+8+3:], 95) // second span's offset
			return reseal(b)
		}(), "outside the original size 100"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := inplace.DecodeRecord(tt.data)
			if !errors.Is(err, inplace.ErrCorrupt) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one wrapping ErrCorrupt with %q", err, tt.want)
			}
		})
	}
}
