package inplace

import (
	"errors"
	"fmt"
	"io"
)

// Element IDs of the EBML and Matroska elements the layout reader knows
// (with their length markers, as they appear in a file).
const (
	idEBML        = 0x1A45DFA3
	idSegment     = 0x18538067
	idCluster     = 0x1F43B675
	idSeekHead    = 0x114D9B74
	idInfo        = 0x1549A966
	idTracks      = 0x1654AE6B
	idCues        = 0x1C53BB6B
	idAttachments = 0x1941A469
	idChapters    = 0x1043A770
	idTags        = 0x1254C367
	idVoid        = 0xEC
)

// DefaultMaxSaved bounds the bytes an edit saves for its undo record.
const DefaultMaxSaved = 64 << 20

// spanOverhead is what one span costs in an undo record besides its bytes
// (its offset and length); Spans counts it against the bound, so that a
// file of many small Clusters cannot make a record far larger than it.
const spanOverhead = 16

// ErrLayout is wrapped by the errors of a file whose layout cannot be made
// undoable: not Matroska, truncated, malformed, an unknown-size Cluster, or
// more header bytes than the bound. Such a file is left untouched; a
// caller may remux it instead of editing it in place.
var ErrLayout = errors.New("matroska layout")

// Span is a byte range [Off, Off+Len) of a file.
type Span struct {
	Off int64
	Len int64
}

// End is the offset just past the span.
func (s Span) End() int64 { return s.Off + s.Len }

// unknownSize is the size header reports for an all-ones size vint.
const unknownSize = -1

// header is an element's ID and size as read at an offset.
type header struct {
	id   uint32
	size int64 // unknownSize when unknown
	len  int64 // bytes of ID plus size
}

// Spans reads the layout of the Matroska file r (of size bytes) and returns
// the spans an in-place metadata edit (mkvpropedit) may rewrite: the EBML
// header, the Segment's header, every child of the Segment that is not a
// Cluster (with its header), the header of every Cluster, and whatever
// follows the first Segment. Only Cluster payloads are left out. Adjacent
// spans are merged; the result is sorted. An error wraps ErrLayout when the
// file is not Matroska, is truncated or malformed, has an unknown-size
// Cluster (its end cannot be found without reading its blocks), or when
// the spans (counting 16 bytes for each) add up to more than maxSaved bytes.
func Spans(r io.ReaderAt, size, maxSaved int64) ([]Span, error) {
	w := walker{r: r, size: size, max: maxSaved, buf: make([]byte, maxHeader)}
	if err := w.walk(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrLayout, err)
	}
	return w.spans, nil
}

// walker collects the spans of one file.
type walker struct {
	r     io.ReaderAt
	size  int64
	max   int64
	saved int64
	spans []Span
	buf   []byte // for header, allocated once
}

// maxHeader is the longest element header: a 4-byte ID and an 8-byte size.
const maxHeader = 12

func (w *walker) walk() error {
	h, err := w.header(0)
	if err != nil {
		return fmt.Errorf("no EBML header at offset 0: %w", err)
	}
	if h.id != idEBML {
		return fmt.Errorf("not a Matroska file: element 0x%X at offset 0, want the EBML header 0x%X", h.id, idEBML)
	}
	if h.size == unknownSize {
		return errors.New("EBML header at offset 0 has an unknown size")
	}
	off := h.len + h.size
	if off > w.size {
		return fmt.Errorf("truncated: the EBML header at offset 0 ends at %d, past the end of the file (%d bytes)", off, w.size)
	}
	if err := w.save(Span{0, off}); err != nil {
		return err
	}
	// Top-level Void elements may come before the Segment.
	for {
		if off >= w.size {
			return fmt.Errorf("no Segment after the EBML header (file ends at %d)", w.size)
		}
		h, err := w.header(off)
		if err != nil {
			return err
		}
		if h.id == idSegment {
			return w.segment(off, h)
		}
		if h.id != idVoid {
			return fmt.Errorf("element 0x%X at offset %d where the Segment 0x%X should be", h.id, off, idSegment)
		}
		end, err := w.end(off, h, w.size, "Void")
		if err != nil {
			return err
		}
		if err := w.save(Span{off, end - off}); err != nil {
			return err
		}
		off = end
	}
}

// segment saves the Segment's header and walks its children; whatever
// follows the Segment (another one, padding) is saved whole.
func (w *walker) segment(off int64, h header) error {
	data := off + h.len
	if err := w.save(Span{off, h.len}); err != nil {
		return err
	}
	limit := w.size
	if h.size != unknownSize {
		limit = data + h.size
		if limit > w.size {
			return fmt.Errorf("truncated: the Segment at offset %d ends at %d, past the end of the file (%d bytes)", off, limit, w.size)
		}
	}
	pos := data
	for pos < limit {
		c, err := w.header(pos)
		if err != nil {
			return err
		}
		if h.size == unknownSize && (c.id == idEBML || c.id == idSegment) {
			// An unknown-size Segment ends where the next stream begins.
			limit = pos
			break
		}
		name := elementName(c.id)
		if c.id == idCluster {
			if c.size == unknownSize {
				return fmt.Errorf("unknown-size Cluster at offset %d: the elements after it cannot be found without reading its blocks", pos)
			}
			if err := w.save(Span{pos, c.len}); err != nil {
				return err
			}
		}
		end, err := w.end(pos, c, limit, name)
		if err != nil {
			return err
		}
		if c.id != idCluster {
			if err := w.save(Span{pos, end - pos}); err != nil {
				return err
			}
		}
		pos = end
	}
	if limit < w.size {
		return w.save(Span{limit, w.size - limit})
	}
	return nil
}

// end returns where the element with header h at off ends, checking that
// it has a known size and fits within limit.
func (w *walker) end(off int64, h header, limit int64, name string) (int64, error) {
	if h.size == unknownSize {
		return 0, fmt.Errorf("%s at offset %d has an unknown size", name, off)
	}
	end := off + h.len + h.size
	if h.size > limit || end > limit {
		if limit == w.size {
			return 0, fmt.Errorf("truncated: %s at offset %d (size %d) ends past the end of the file (%d bytes)", name, off, h.size, w.size)
		}
		return 0, fmt.Errorf("%s at offset %d (size %d) ends past its parent's end at %d", name, off, h.size, limit)
	}
	return end, nil
}

// save appends s to the spans, merging it with the last one when they
// touch, and enforces the bound.
func (w *walker) save(s Span) error {
	if s.Len == 0 {
		return nil
	}
	n := len(w.spans)
	merge := n > 0 && w.spans[n-1].End() == s.Off
	w.saved += s.Len
	if !merge {
		w.saved += spanOverhead
	}
	if w.saved > w.max {
		return fmt.Errorf("more than %d bytes of headers and metadata to save (at offset %d)", w.max, s.Off)
	}
	if merge {
		w.spans[n-1].Len += s.Len
		return nil
	}
	w.spans = append(w.spans, s)
	return nil
}

// header reads the ID and size of the element at off.
func (w *walker) header(off int64) (header, error) {
	buf := w.buf
	n := int64(len(buf))
	if rest := w.size - off; rest < n {
		n = rest
	}
	if n <= 0 {
		return header{}, fmt.Errorf("truncated: no element header at offset %d (file ends at %d)", off, w.size)
	}
	if _, err := w.r.ReadAt(buf[:n], off); err != nil && !errors.Is(err, io.EOF) {
		return header{}, fmt.Errorf("read at offset %d: %w", off, err)
	}
	b := buf[:n]
	idLen := vintLen(b[0])
	if idLen == 0 || idLen > 4 {
		return header{}, fmt.Errorf("invalid element ID 0x%02X at offset %d", b[0], off)
	}
	if int64(idLen) >= n {
		return header{}, fmt.Errorf("truncated: element header at offset %d", off)
	}
	var id uint32
	for _, c := range b[:idLen] {
		id = id<<8 | uint32(c)
	}
	b = b[idLen:]
	sizeLen := vintLen(b[0])
	if sizeLen == 0 {
		return header{}, fmt.Errorf("invalid size 0x%02X of element 0x%X at offset %d", b[0], id, off)
	}
	if sizeLen > len(b) {
		return header{}, fmt.Errorf("truncated: element header at offset %d", off)
	}
	v := uint64(b[0]) & (0xFF >> sizeLen)
	allOnes := v == 0xFF>>sizeLen
	for _, c := range b[1:sizeLen] {
		v = v<<8 | uint64(c)
		allOnes = allOnes && c == 0xFF
	}
	h := header{id: id, len: int64(idLen + sizeLen), size: int64(v)}
	if allOnes {
		h.size = unknownSize
	} else if h.size < 0 {
		return header{}, fmt.Errorf("size of element 0x%X at offset %d out of range", id, off)
	}
	return h, nil
}

// vintLen is the length of the variable-size integer whose first byte is
// b: one more than its leading zero bits, 0 when b is 0 (invalid).
func vintLen(b byte) int {
	for i := 0; i < 8; i++ {
		if b&(0x80>>i) != 0 {
			return i + 1
		}
	}
	return 0
}

// elementName names a level-1 element in errors.
func elementName(id uint32) string {
	switch id {
	case idSeekHead:
		return "SeekHead"
	case idInfo:
		return "Info"
	case idTracks:
		return "Tracks"
	case idCues:
		return "Cues"
	case idAttachments:
		return "Attachments"
	case idChapters:
		return "Chapters"
	case idTags:
		return "Tags"
	case idVoid:
		return "Void"
	case idCluster:
		return "Cluster"
	default:
		return fmt.Sprintf("element 0x%X", id)
	}
}
