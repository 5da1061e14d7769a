package inplace_test

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/vpo-project/vpo/services/vpo/internal/inplace"
)

// Element IDs used to build test files.
const (
	tEBML     = 0x1A45DFA3
	tSegment  = 0x18538067
	tCluster  = 0x1F43B675
	tSeekHead = 0x114D9B74
	tInfo     = 0x1549A966
	tTracks   = 0x1654AE6B
	tCues     = 0x1C53BB6B
	tTags     = 0x1254C367
	tVoid     = 0xEC
)

// idBytes is the ID as stored (its length is in its first byte).
func idBytes(id uint32) []byte {
	switch {
	case id >= 1<<24:
		return []byte{byte(id >> 24), byte(id >> 16), byte(id >> 8), byte(id)}
	case id >= 1<<16:
		return []byte{byte(id >> 16), byte(id >> 8), byte(id)}
	case id >= 1<<8:
		return []byte{byte(id >> 8), byte(id)}
	default:
		return []byte{byte(id)}
	}
}

// el is an element with a known size written as an 8-byte vint (as
// mkvmerge writes many of them, and long enough for any test payload).
func el(id uint32, payload ...[]byte) []byte {
	data := bytes.Join(payload, nil)
	n := uint64(len(data))
	b := append(idBytes(id), 0x01, byte(n>>48), byte(n>>40), byte(n>>32), byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	return append(b, data...)
}

// short is an element with a one-byte size (payload < 127 bytes).
func short(id uint32, payload []byte) []byte {
	return append(append(idBytes(id), 0x80|byte(len(payload))), payload...)
}

// unknown is the header of an element of unknown size.
func unknown(id uint32) []byte {
	return append(idBytes(id), 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF)
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestSpans(t *testing.T) {
	ebml := short(tEBML, []byte{0x42, 0x82, 0x88, 'm', 'a', 't', 'r', 'o', 's', 'k', 'a'})
	seek := el(tSeekHead, bytes.Repeat([]byte{1}, 20))
	void := short(tVoid, make([]byte, 30))
	info := el(tInfo, []byte("info"))
	tracks := el(tTracks, []byte("tracks"))
	cluster := el(tCluster, bytes.Repeat([]byte{0xAB}, 1000))
	cues := el(tCues, []byte("cues"))
	tags := el(tTags, []byte("tags"))
	children := cat(seek, void, info, tracks, cluster, cluster, cues, tags)

	span := func(off, n int) inplace.Span { return inplace.Span{Off: int64(off), Len: int64(n)} }
	segHdr := len(el(tSegment))
	head := len(ebml) + segHdr + len(seek) + len(void) + len(info) + len(tracks) // all saved, merged
	clHdr := len(el(tCluster))
	c1 := head
	c2 := c1 + len(cluster)
	tail := c2 + len(cluster)

	tests := []struct {
		name string
		file []byte
		want []inplace.Span
	}{
		{
			name: "known-size segment",
			file: cat(ebml, el(tSegment, children)),
			want: []inplace.Span{span(0, head+clHdr), span(c2, clHdr), span(tail, len(cues)+len(tags))},
		},
		{
			name: "unknown-size segment",
			file: cat(ebml, unknown(tSegment), children),
			want: []inplace.Span{span(0, head+clHdr), span(c2, clHdr), span(tail, len(cues)+len(tags))},
		},
		{
			name: "unknown-size segment followed by a second stream",
			file: cat(ebml, unknown(tSegment), children, ebml, el(tSegment, cluster)),
			want: []inplace.Span{span(0, head+clHdr), span(c2, clHdr), span(tail, len(cues)+len(tags)+len(ebml)+segHdr+len(cluster))},
		},
		{
			name: "data after a known-size segment is saved whole",
			file: cat(ebml, el(tSegment, children), []byte("trailing")),
			want: []inplace.Span{span(0, head+clHdr), span(c2, clHdr), span(tail, len(cues)+len(tags)+len("trailing"))},
		},
		{
			name: "void before the segment",
			file: cat(ebml, void, el(tSegment, info)),
			want: []inplace.Span{span(0, len(ebml)+len(void)+segHdr+len(info))},
		},
		{
			name: "empty segment",
			file: cat(ebml, el(tSegment)),
			want: []inplace.Span{span(0, len(ebml)+segHdr)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := inplace.Spans(bytes.NewReader(tt.file), int64(len(tt.file)), inplace.DefaultMaxSaved)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Spans = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSpansErrors(t *testing.T) {
	ebml := short(tEBML, []byte{0x42, 0x82, 0x84, 'w', 'e', 'b', 'm'})
	info := el(tInfo, []byte("info"))
	cluster := el(tCluster, bytes.Repeat([]byte{0xAB}, 100))
	full := cat(ebml, el(tSegment, info, cluster, el(tTags, []byte("tags"))))

	tests := []struct {
		name string
		file []byte
		max  int64
		want string
	}{
		{"empty file", nil, inplace.DefaultMaxSaved, "no EBML header at offset 0"},
		{"not matroska", []byte("RIFF....AVI LIST"), inplace.DefaultMaxSaved, "not a Matroska file: element 0x5249 at offset 0"},
		{"mp4", cat([]byte{0, 0, 0, 0x20}, []byte("ftypisom")), inplace.DefaultMaxSaved, "invalid element ID 0x00 at offset 0"},
		{"other element first", el(tInfo, []byte("x")), inplace.DefaultMaxSaved, "not a Matroska file: element 0x1549A966 at offset 0"},
		{"EBML header only", ebml, inplace.DefaultMaxSaved, "no Segment after the EBML header"},
		{"unknown-size EBML header", cat(unknown(tEBML), info), inplace.DefaultMaxSaved, "EBML header at offset 0 has an unknown size"},
		{"truncated EBML header", ebml[:5], inplace.DefaultMaxSaved, "truncated: the EBML header at offset 0 ends at"},
		{"truncated in an element header", full[:len(ebml)+3], inplace.DefaultMaxSaved, "truncated: element header at offset"},
		{"truncated segment", full[:len(full)-1], inplace.DefaultMaxSaved, "truncated: the Segment at offset"},
		{"truncated cluster in an unknown-size segment", cat(ebml, unknown(tSegment), info, cluster[:50]), inplace.DefaultMaxSaved, "truncated: Cluster at offset"},
		{"truncated tags in an unknown-size segment", cat(ebml, unknown(tSegment), info, el(tTags, []byte("tags"))[:14]), inplace.DefaultMaxSaved, "truncated: Tags at offset"},
		{"child past the segment's end", cat(ebml, short(tSegment, info[:len(info)-1]), info[len(info)-1:]), inplace.DefaultMaxSaved, "Info at offset 17 (size 4) ends past its parent's end at 32"},
		{"unknown-size cluster", cat(ebml, unknown(tSegment), info, unknown(tCluster), cluster), inplace.DefaultMaxSaved, "unknown-size Cluster at offset"},
		{"unknown-size tags", cat(ebml, el(tSegment, unknown(tTags))), inplace.DefaultMaxSaved, "Tags at offset 24 has an unknown size"},
		{"zero size byte", cat(ebml, idBytes(tSegment), []byte{0, 0, 0, 0, 0, 0, 0, 0, 0}), inplace.DefaultMaxSaved, "invalid size 0x00 of element 0x18538067"},
		{"something else where the segment should be", cat(ebml, info), inplace.DefaultMaxSaved, "element 0x1549A966 at offset 12 where the Segment 0x18538067 should be"},
		{"over the bound", full, 40, "more than 40 bytes of headers and metadata to save"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := inplace.Spans(bytes.NewReader(tt.file), int64(len(tt.file)), tt.max)
			if err == nil {
				t.Fatalf("Spans = %v, want an error containing %q", got, tt.want)
			}
			if !errors.Is(err, inplace.ErrLayout) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want ErrLayout and %q", err, tt.want)
			}
		})
	}
}

// FuzzRanges checks that any input gives spans or an error, never a panic,
// that errors wrap ErrLayout, and that the spans are sorted, disjoint,
// not touching (merged), inside the file and start at offset 0.
func FuzzRanges(f *testing.F) {
	ebml := short(tEBML, []byte{0x42, 0x82, 0x84, 'w', 'e', 'b', 'm'})
	f.Add(cat(ebml, el(tSegment, el(tInfo, []byte("i")), el(tCluster, []byte("data")), el(tTags))))
	f.Add(cat(ebml, unknown(tSegment), el(tCluster, []byte("data")), unknown(tCluster)))
	f.Add(cat(ebml, short(tVoid, []byte{1, 2}), unknown(tSegment), ebml))
	f.Add([]byte{0x1A, 0x45, 0xDF, 0xA3, 0xFF})
	f.Fuzz(func(t *testing.T, data []byte) {
		spans, err := inplace.Spans(bytes.NewReader(data), int64(len(data)), 1<<20)
		if err != nil {
			if !errors.Is(err, inplace.ErrLayout) {
				t.Fatalf("error %v does not wrap ErrLayout", err)
			}
			return
		}
		var end int64
		for i, s := range spans {
			if s.Len <= 0 || s.Off < end || (i > 0 && s.Off == end) || s.End() > int64(len(data)) {
				t.Fatalf("span %d %v after end %d in %d bytes: %v", i, s, end, len(data), spans)
			}
			end = s.End()
		}
		if len(spans) == 0 || spans[0].Off != 0 {
			t.Fatalf("spans %v do not start with the EBML header", spans)
		}
	})
}
