package store

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestScanWAL: only a log SQLite would replay (a valid header and frames up
// to a commit frame, with matching salts and checksums) counts as holding
// committed transactions.
func TestScanWAL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "library.db")
	s, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if _, err := s.CreateJob(context.Background(), NewJob{Kind: "k"}); err != nil {
			t.Fatal(err)
		}
	}
	wal, err := os.ReadFile(path + walSuffix)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if len(wal) < walHeaderSize+walFrameHeaderSize+512 {
		t.Fatalf("log of %d bytes, want a header and frames", len(wal))
	}
	flip := func(at int) []byte {
		b := bytes.Clone(wal)
		b[at] ^= 0xff
		return b
	}
	pageSize := int(wal[8])<<24 | int(wal[9])<<16 | int(wal[10])<<8 | int(wal[11])
	firstFrame := walHeaderSize + walFrameHeaderSize + pageSize
	tests := []struct {
		name string
		log  []byte
		want bool
	}{
		{"valid log", wal, true},
		{"empty", nil, false},
		{"header only", wal[:walHeaderSize], false},
		{"first frame torn", wal[:firstFrame-1], false},
		{"bad magic", flip(0), false},
		{"header checksum", flip(24), false},
		{"salt of first frame", flip(walHeaderSize + 8), false},
		{"page data of first frame", flip(walHeaderSize + walFrameHeaderSize + 100), false},
		{"garbage", bytes.Repeat([]byte{0x5a}, 8192), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := scanWAL(bytes.NewReader(tt.log))
			if err != nil || got != tt.want {
				t.Errorf("scanWAL = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}
