package inplace_test

import (
	"bytes"
	"testing"

	"github.com/vpo-project/vpo/services/vpo/internal/inplace"
)

// BenchmarkSpans reads the layout of a film-like file held in memory:
// headers, 2000 Clusters of 64 KiB (their payload is skipped by size, so
// the cost is per element, not per byte), Cues and Tags.
func BenchmarkSpans(b *testing.B) {
	ebml := short(tEBML, []byte{0x42, 0x82, 0x88, 'm', 'a', 't', 'r', 'o', 's', 'k', 'a'})
	cluster := el(tCluster, make([]byte, 64<<10))
	parts := [][]byte{el(tSeekHead, make([]byte, 60)), short(tVoid, make([]byte, 100)), el(tInfo, make([]byte, 80)), el(tTracks, make([]byte, 2000))}
	for range 2000 {
		parts = append(parts, cluster)
	}
	parts = append(parts, el(tCues, make([]byte, 40000)), el(tTags, make([]byte, 3000)))
	file := cat(ebml, el(tSegment, parts...))
	r := bytes.NewReader(file)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := inplace.Spans(r, int64(len(file)), inplace.DefaultMaxSaved); err != nil {
			b.Fatal(err)
		}
	}
}
