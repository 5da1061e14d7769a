package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"
)

const (
	// MaxProbeString bounds each string kept in a reduced probe; a longer
	// one is cut at a character boundary and ends with ProbeTruncated.
	MaxProbeString = 1 << 10
	// MaxProbeStreams bounds the streams kept in a reduced probe; the
	// number left out is in "vpo_streams_dropped".
	MaxProbeStreams = 512
	// MaxProbeBytes bounds the JSON of a reduced probe: streams past it are
	// left out too. A stored probe larger than this (written before probes
	// were reduced) is reduced when read.
	MaxProbeBytes = 64 << 10
	// ProbeTruncated ends a string of a reduced probe that was cut.
	ProbeTruncated = "…[truncated]"
	// maxProbeNumber bounds the text of a number kept in a reduced probe;
	// a longer one is left out.
	maxProbeNumber = 64
)

// Which fields of ffprobe's "format" and of each of its "streams" a
// reduced probe keeps: what a media-policy tool decides on. Tag names are
// matched without regard to case (Matroska writes them in upper case).
var (
	probeFormatFields = []string{"format_name", "duration", "size", "bit_rate", "nb_streams", "start_time"}
	probeFormatTags   = []string{"title", "encoder", "major_brand"}
	probeStreamFields = []string{"index", "codec_type", "codec_name", "codec_tag_string", "profile", "width", "height",
		"pix_fmt", "channels", "channel_layout", "sample_rate", "bit_rate", "duration"}
	probeStreamTags = []string{"language", "title", "handler_name", "rotate"}
	// probeDispositions are the disposition flags kept, each 0 or 1.
	probeDispositions = []string{"default", "forced", "comment", "hearing_impaired", "visual_impaired",
		"attached_pic", "original", "dub", "lyrics", "karaoke", "clean_effects", "captions",
		"descriptions", "timed_thumbnails", "dependent", "still_image"}
)

// ErrProbeNotObject says ffprobe's output is not a JSON object with
// "format" and "streams".
var ErrProbeNotObject = errors.New(`ffprobe output is not a JSON object with "format" and "streams"`)

// ReduceProbe returns the part of ffprobe's JSON output (-show_format
// -show_streams) that vpo keeps, in ffprobe's shape: {"format": {...},
// "streams": [...]} with only the fields listed above, each string at most
// MaxProbeString bytes (cut ones end with ProbeTruncated), at most
// MaxProbeStreams streams and MaxProbeBytes in all, whatever ffprobe
// printed. Bytes that are not UTF-8 become U+FFFD. Output that is not a
// JSON object with "format" and "streams" is an error wrapping
// ErrProbeNotObject.
func ReduceProbe(out []byte) (json.RawMessage, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(out, &top); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return nil, ErrProbeNotObject
		}
		return nil, fmt.Errorf("parse output: %w", err)
	}
	if top == nil || top["format"] == nil || top["streams"] == nil {
		return nil, ErrProbeNotObject
	}
	var (
		format  map[string]json.RawMessage
		streams []map[string]json.RawMessage
	)
	if err := json.Unmarshal(top["format"], &format); err != nil || format == nil {
		return nil, fmt.Errorf("%w: format is not an object", ErrProbeNotObject)
	}
	if err := json.Unmarshal(top["streams"], &streams); err != nil || streams == nil {
		return nil, fmt.Errorf("%w: streams is not an array of objects", ErrProbeNotObject)
	}
	var b bytes.Buffer
	b.WriteString(`{"format":`)
	b.Write(reduceObject(format, probeFormatFields, probeFormatTags, false))
	b.WriteString(`,"streams":[`)
	kept := 0
	for _, s := range streams {
		if kept == MaxProbeStreams {
			break
		}
		r := reduceObject(s, probeStreamFields, probeStreamTags, true)
		// Room for this stream, "]", the dropped count and "}".
		if b.Len()+len(r)+64 > MaxProbeBytes {
			break
		}
		if kept > 0 {
			b.WriteByte(',')
		}
		b.Write(r)
		kept++
	}
	b.WriteByte(']')
	if dropped := len(streams) - kept; dropped > 0 {
		fmt.Fprintf(&b, `,"vpo_streams_dropped":%d`, dropped)
	}
	b.WriteByte('}')
	return json.RawMessage(b.Bytes()), nil
}

// reduceObject keeps fields and tags of o (and, when disposition is true,
// a stream's disposition and display rotation), as a JSON object in that
// order.
func reduceObject(o map[string]json.RawMessage, fields, tags []string, disposition bool) []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	add := func(key string, v []byte) {
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(key)
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	for _, f := range fields {
		if v, ok := reduceScalar(o[f]); ok {
			add(f, v)
		}
	}
	if disposition {
		var d map[string]json.RawMessage
		if json.Unmarshal(o["disposition"], &d) == nil && d != nil {
			var db bytes.Buffer
			db.WriteByte('{')
			for _, f := range probeDispositions {
				var n int
				if json.Unmarshal(d[f], &n) != nil || (n != 0 && n != 1) {
					continue
				}
				if db.Len() > 1 {
					db.WriteByte(',')
				}
				fmt.Fprintf(&db, "%q:%d", f, n)
			}
			db.WriteByte('}')
			add("disposition", db.Bytes())
		}
	}
	if disposition {
		if r, ok := reduceRotation(o["side_data_list"]); ok {
			add("side_data_list", r)
		}
	}
	var t map[string]json.RawMessage
	if json.Unmarshal(o["tags"], &t) == nil && len(t) > 0 {
		var tb bytes.Buffer
		tb.WriteByte('{')
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, want := range tags {
			for _, k := range keys {
				v := t[k]
				if !strings.EqualFold(k, want) {
					continue
				}
				rv, ok := reduceScalar(v)
				if !ok {
					continue
				}
				if tb.Len() > 1 {
					tb.WriteByte(',')
				}
				kj, _ := json.Marshal(k)
				tb.Write(kj)
				tb.WriteByte(':')
				tb.Write(rv)
				break
			}
		}
		tb.WriteByte('}')
		if tb.Len() > 2 {
			add("tags", tb.Bytes())
		}
	}
	b.WriteByte('}')
	return b.Bytes()
}

// reduceRotation returns a stream's side_data_list cut to the display
// matrix's rotation, [{"rotation":N}] (a rotated picture is shown with its
// sides swapped), and false when it has none.
func reduceRotation(v json.RawMessage) ([]byte, bool) {
	var list []map[string]json.RawMessage
	if json.Unmarshal(v, &list) != nil {
		return nil, false
	}
	for _, sd := range list {
		if r, ok := reduceScalar(sd["rotation"]); ok {
			return []byte(`[{"rotation":` + string(r) + `}]`), true
		}
	}
	return nil, false
}

// reduceScalar returns a JSON string (cut to MaxProbeString), a short
// number or a boolean as kept in a reduced probe, and false for anything
// else (absent, null, an object, an array, a huge number).
func reduceScalar(v json.RawMessage) ([]byte, bool) {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return nil, false
	}
	switch v[0] {
	case '"':
		var s string
		if json.Unmarshal(v, &s) != nil {
			return nil, false
		}
		s = strings.ToValidUTF8(s, "\uFFFD")
		if len(s) > MaxProbeString {
			cut := MaxProbeString - len(ProbeTruncated)
			for cut > 0 && !utf8.RuneStart(s[cut]) {
				cut--
			}
			s = s[:cut] + ProbeTruncated
		}
		out, err := json.Marshal(s)
		return out, err == nil
	case 't', 'f':
		var x bool
		return v, json.Unmarshal(v, &x) == nil
	case 'n':
		return nil, false
	default:
		var n json.Number
		if len(v) > maxProbeNumber || json.Unmarshal(v, &n) != nil {
			return nil, false
		}
		return v, true
	}
}
