package media

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Bounds on the numbers of a probe; a larger value is an error.
const (
	MaxStreamIndex = 1 << 20
	MaxChannels    = 1 << 10
	MaxDimension   = 1 << 16
)

// ErrProbe is wrapped by every error FromFFProbe returns for bad input.
var ErrProbe = errors.New("invalid ffprobe output")

// StreamType is what a stream carries: ffprobe's codec_type.
type StreamType string

// The stream types. A stream with no codec_type, or ffprobe's "unknown",
// is StreamData.
const (
	StreamVideo      StreamType = "video"
	StreamAudio      StreamType = "audio"
	StreamSubtitle   StreamType = "subtitle"
	StreamAttachment StreamType = "attachment"
	StreamData       StreamType = "data"
)

// Options changes how FromFFProbe reads a probe.
type Options struct {
	// CommentaryPatterns are regular expressions (Go syntax) matched
	// without regard to case against a stream's title; a stream whose
	// title matches any of them is a commentary. A stream flagged with
	// ffprobe's "comment" disposition is a commentary too.
	CommentaryPatterns []string
}

// File is what ffprobe says about a media file.
type File struct {
	// FormatNames are the container's names as ffprobe lists them
	// ("matroska,webm" gives ["matroska", "webm"]).
	FormatNames []string
	// Duration is zero when ffprobe does not know it.
	Duration time.Duration
	// Size is in bytes; zero when unknown.
	Size int64
	// BitRate is in bits per second; zero when unknown.
	BitRate int64
	// Streams are in the order ffprobe printed them.
	Streams []Stream
	// Brand is the major_brand tag of an MP4-family file, trimmed ("isom",
	// "qt" for a QuickTime .mov); empty when there is none. ffprobe names
	// mov and mp4 alike ("mov,mp4,m4a,3gp,3g2,mj2"): the brand tells them
	// apart.
	Brand string
	// StreamsDropped counts the streams a reduced stored probe left out
	// (its "vpo_streams_dropped"); zero for ffprobe's own output.
	StreamsDropped int
}

// Stream is one stream (track) of a File.
type Stream struct {
	// Index is ffprobe's stream index.
	Index int
	Type  StreamType
	// Codec is ffprobe's codec_name ("h264", "aac"), empty when unknown.
	Codec string
	// Tag is ffprobe's codec_tag_string ("avc1", "tmcd" for a QuickTime
	// timecode track), empty when the stream has none ("[0][0][0][0]").
	Tag string
	// Profile is ffprobe's profile ("High", "DTS-HD MA"), empty when
	// unknown.
	Profile string
	// Language is an ISO 639-2/B code, Undetermined ("und") when the
	// stream has no language tag or an unknown one; see NormalizeLanguage.
	Language string
	// Title is the stream's title tag, empty when it has none.
	Title string
	// Channels is the number of audio channels; zero for other streams.
	Channels int
	// Width and Height are in pixels as stored; zero for streams without
	// pictures. A rotated picture is shown with the sides swapped: see
	// Rotation and DisplaySize.
	Width, Height int
	// Rotation is how far the picture is turned when shown, in degrees
	// counter-clockwise from 0 to 359, as the display matrix says (ffprobe's
	// side_data_list "rotation"; older ffprobe printed a "rotate" tag, the
	// same turn clockwise). Phone footage filmed upright has 90 or 270.
	// ffmpeg turns the picture when it decodes, so a re-encoded stream has
	// the displayed size and no rotation.
	Rotation int
	// BitRate is the stream's own bit rate in bits per second; zero when
	// ffprobe does not know it (Matroska files rarely say).
	BitRate int64
	// Duration is the stream's own duration; zero when ffprobe does not
	// know it.
	Duration time.Duration
	// Default, Forced, HearingImpaired and VisualImpaired are ffprobe's
	// disposition flags.
	Default, Forced, HearingImpaired, VisualImpaired bool
	// AttachedPic is ffprobe's attached_pic disposition: a video stream
	// that is a cover picture, not the film.
	AttachedPic bool
	// Commentary is true when the stream has the "comment" disposition or
	// its title matches one of Options.CommentaryPatterns.
	Commentary bool
}

// DisplaySize returns the stream's width and height as shown: Width and
// Height swapped when Rotation is 90 or 270.
func (s Stream) DisplaySize() (width, height int) {
	if s.Rotation == 90 || s.Rotation == 270 {
		return s.Height, s.Width
	}
	return s.Width, s.Height
}

// FromFFProbe reads the JSON that `ffprobe -print_format json -show_format
// -show_streams` prints, or vpo's reduced stored form of it (the same
// fields, fewer of them). Numbers may be JSON numbers or strings, as
// ffprobe prints some of each; "N/A" or a missing field means unknown and
// gives zero. Tag names are matched without regard to case. Bad input is
// an error wrapping ErrProbe that names the field and the value, such as
// "streams[3].channels: -2 is negative"; an invalid commentary pattern is
// an error naming the pattern.
func FromFFProbe(data []byte, opts Options) (File, error) {
	r, err := NewReader(opts)
	if err != nil {
		return File{}, err
	}
	return r.Read(data)
}

// Read is FromFFProbe with r's options.
func (r *Reader) Read(data []byte) (File, error) {
	patterns := r.patterns
	doc, err := decode(data)
	if err != nil {
		return File{}, err
	}
	top, err := object(doc, "probe")
	if err != nil {
		return File{}, err
	}
	if _, ok := top["format"]; !ok {
		return File{}, fmt.Errorf("%w: format: missing", ErrProbe)
	}
	if _, ok := top["streams"]; !ok {
		return File{}, fmt.Errorf("%w: streams: missing", ErrProbe)
	}
	var f File
	format, err := object(top["format"], "format")
	if err != nil {
		return File{}, err
	}
	if names, err := str(format, "format", "format_name"); err != nil {
		return File{}, err
	} else if names != "" {
		f.FormatNames = strings.Split(names, ",")
	}
	secs, err := number(format, "format", "duration", float64(math.MaxInt64/int64(time.Second)))
	if err != nil {
		return File{}, err
	}
	f.Duration = time.Duration(math.Round(secs * float64(time.Second)))
	if f.Size, err = integer(format, "format", "size", math.MaxInt64); err != nil {
		return File{}, err
	}
	if f.BitRate, err = integer(format, "format", "bit_rate", math.MaxInt64); err != nil {
		return File{}, err
	}
	ft, err := tags(format, "format", "major_brand")
	if err != nil {
		return File{}, err
	}
	f.Brand = strings.TrimSpace(ft["major_brand"])
	dropped, err := integer(top, "probe", "vpo_streams_dropped", math.MaxInt32)
	if err != nil {
		return File{}, err
	}
	f.StreamsDropped = int(dropped)

	raw, ok := top["streams"].([]any)
	if !ok {
		return File{}, fmt.Errorf("%w: streams: not an array", ErrProbe)
	}
	f.Streams = make([]Stream, 0, len(raw))
	for i, r := range raw {
		s, err := stream(r, fmt.Sprintf("streams[%d]", i), patterns)
		if err != nil {
			return File{}, err
		}
		f.Streams = append(f.Streams, s)
	}
	return f, nil
}

// stream reads one element of ffprobe's "streams"; where names it in errors.
func stream(data any, where string, patterns []*regexp.Regexp) (Stream, error) {
	o, err := object(data, where)
	if err != nil {
		return Stream{}, err
	}
	var s Stream
	index, err := integer(o, where, "index", MaxStreamIndex)
	if err != nil {
		return Stream{}, err
	}
	s.Index = int(index)
	codecType, err := str(o, where, "codec_type")
	if err != nil {
		return Stream{}, err
	}
	switch t := StreamType(codecType); t {
	case StreamVideo, StreamAudio, StreamSubtitle, StreamAttachment, StreamData:
		s.Type = t
	case "", "unknown":
		s.Type = StreamData
	default:
		return Stream{}, fmt.Errorf("%w: %s.codec_type: %q is not video, audio, subtitle, attachment or data", ErrProbe, where, codecType)
	}
	if s.Codec, err = str(o, where, "codec_name"); err != nil {
		return Stream{}, err
	}
	if s.Profile, err = str(o, where, "profile"); err != nil {
		return Stream{}, err
	}
	if s.Tag, err = str(o, where, "codec_tag_string"); err != nil {
		return Stream{}, err
	}
	if s.Tag == "[0][0][0][0]" {
		s.Tag = ""
	}
	if s.BitRate, err = integer(o, where, "bit_rate", math.MaxInt64); err != nil {
		return Stream{}, err
	}
	for _, n := range []struct {
		name string
		max  int64
		to   *int
	}{{"channels", MaxChannels, &s.Channels}, {"width", MaxDimension, &s.Width}, {"height", MaxDimension, &s.Height}} {
		v, err := integer(o, where, n.name, n.max)
		if err != nil {
			return Stream{}, err
		}
		*n.to = int(v)
	}
	secs, err := number(o, where, "duration", float64(math.MaxInt64/int64(time.Second)))
	if err != nil {
		return Stream{}, err
	}
	s.Duration = time.Duration(math.Round(secs * float64(time.Second)))
	if err := disposition(o, where, &s); err != nil {
		return Stream{}, err
	}
	t, err := tags(o, where, "language", "title", "rotate")
	if err != nil {
		return Stream{}, err
	}
	s.Language = NormalizeLanguage(t["language"])
	s.Title = t["title"]
	if s.Rotation, err = rotation(o, where, t["rotate"]); err != nil {
		return Stream{}, err
	}
	for _, re := range patterns {
		if s.Title != "" && re.MatchString(s.Title) {
			s.Commentary = true
			break
		}
	}
	return s, nil
}

// disposition reads the flags of o's "disposition", each 0 or 1.
func disposition(o map[string]any, where string, s *Stream) error {
	if o["disposition"] == nil {
		return nil
	}
	where += ".disposition"
	d, err := object(o["disposition"], where)
	if err != nil {
		return err
	}
	for _, flag := range []struct {
		name string
		to   *bool
	}{{"default", &s.Default}, {"forced", &s.Forced}, {"hearing_impaired", &s.HearingImpaired},
		{"visual_impaired", &s.VisualImpaired}, {"comment", &s.Commentary}, {"attached_pic", &s.AttachedPic}} {
		raw, ok := d[flag.name]
		if !ok {
			continue
		}
		switch n, _ := raw.(json.Number); n {
		case "0":
		case "1":
			*flag.to = true
		default:
			return fmt.Errorf("%w: %s.%s: %s is not 0 or 1", ErrProbe, where, flag.name, quote(raw))
		}
	}
	return nil
}

// maxRotation bounds the rotation a probe may give, in degrees either way.
const maxRotation = 1 << 20

// rotation returns a stream's rotation, counter-clockwise in degrees from
// 0 to 359: that of the first element of o's "side_data_list" with a
// "rotation" (the display matrix), else the opposite of the "rotate" tag
// (given as rotateTag, clockwise), else 0.
func rotation(o map[string]any, where, rotateTag string) (int, error) {
	deg, found := 0.0, false
	if o["side_data_list"] != nil {
		list, ok := o["side_data_list"].([]any)
		if !ok {
			return 0, fmt.Errorf("%w: %s.side_data_list: not an array", ErrProbe, where)
		}
		for i, e := range list {
			at := fmt.Sprintf("%s.side_data_list[%d]", where, i)
			sd, err := object(e, at)
			if err != nil {
				return 0, err
			}
			if sd["rotation"] == nil {
				continue
			}
			text, err := numberText(sd, at, "rotation")
			if err != nil {
				return 0, err
			}
			if text == "" {
				continue
			}
			if deg, err = degrees(text, at+".rotation"); err != nil {
				return 0, err
			}
			found = true
			break
		}
	}
	if !found && strings.TrimSpace(rotateTag) != "" {
		d, err := degrees(strings.TrimSpace(rotateTag), where+".tags.rotate")
		if err != nil {
			return 0, err
		}
		deg = -d
	}
	r := int(math.Round(deg)) % 360
	if r < 0 {
		r += 360
	}
	return r, nil
}

// degrees parses an angle of a probe; what names it in errors.
func degrees(text, what string) (float64, error) {
	v, err := strconv.ParseFloat(text, 64)
	switch {
	case err != nil && !errors.Is(err, strconv.ErrRange), math.IsNaN(v):
		return 0, fmt.Errorf("%w: %s: %q is not a number", ErrProbe, what, text)
	case err != nil || math.Abs(v) > maxRotation:
		return 0, fmt.Errorf("%w: %s: %s is too large (at most %d either way)", ErrProbe, what, text, maxRotation)
	}
	return v, nil
}

// tags returns the string tags wanted (lower-case names) of o's "tags", by
// lower-case name. Tag names are matched without regard to case; where a
// tag is there under several spellings, the first in byte order wins
// ("TITLE" before "Title" before "title"), the one libs/store keeps in a
// reduced probe, so a file and its stored probe read the same. Other tags
// are not read, and a null tag is left out.
func tags(o map[string]any, where string, wanted ...string) (map[string]string, error) {
	if o["tags"] == nil {
		return nil, nil
	}
	where += ".tags"
	t, err := object(o["tags"], where)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(t))
	for name := range t {
		names = append(names, name)
	}
	sort.Strings(names)
	out := make(map[string]string, len(wanted))
	for _, want := range wanted {
		for _, name := range names {
			if !strings.EqualFold(name, want) || t[name] == nil {
				continue
			}
			v, ok := t[name].(string)
			if !ok {
				return nil, fmt.Errorf("%w: %s.%s: %s is not a string", ErrProbe, where, name, quote(t[name]))
			}
			out[want] = v
			break
		}
	}
	return out, nil
}

// decode reads data as one JSON value, numbers as json.Number, in one
// pass: objects become map[string]any, arrays []any.
func decode(data []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, fmt.Errorf("%w: probe: %w", ErrProbe, err)
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: probe: more data after the JSON object", ErrProbe)
	}
	return v, nil
}

// object returns v as a JSON object.
func object(v any, where string) (map[string]any, error) {
	o, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: %s: not a JSON object", ErrProbe, where)
	}
	return o, nil
}

// str returns o's string field name, "" when it is missing or null.
func str(o map[string]any, where, name string) (string, error) {
	v, ok := o[name]
	if !ok || v == nil {
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("%w: %s.%s: %s is not a string", ErrProbe, where, name, quote(v))
	}
	return s, nil
}

// numberText returns the text of o's number field name, a JSON number or
// a string holding one; "" when it is missing, null or "N/A".
func numberText(o map[string]any, where, name string) (string, error) {
	switch v := o[name].(type) {
	case nil:
		return "", nil
	case json.Number:
		return v.String(), nil
	case string:
		text := strings.TrimSpace(v)
		if text == "N/A" {
			return "", nil
		}
		return text, nil
	default:
		return "", fmt.Errorf("%w: %s.%s: %s is not a number", ErrProbe, where, name, quote(v))
	}
}

// number returns o's field name as a non-negative finite number at most
// max; zero when it is unknown.
func number(o map[string]any, where, name string, max float64) (float64, error) {
	text, err := numberText(o, where, name)
	if err != nil || text == "" {
		return 0, err
	}
	v, err := strconv.ParseFloat(text, 64)
	switch {
	case err != nil && !errors.Is(err, strconv.ErrRange):
		return 0, fmt.Errorf("%w: %s.%s: %q is not a number", ErrProbe, where, name, text)
	case math.IsNaN(v):
		return 0, fmt.Errorf("%w: %s.%s: %s is not a number", ErrProbe, where, name, text)
	case v < 0:
		return 0, fmt.Errorf("%w: %s.%s: %s is negative", ErrProbe, where, name, text)
	case err != nil || v > max:
		return 0, fmt.Errorf("%w: %s.%s: %s is too large (at most %g)", ErrProbe, where, name, text, max)
	}
	return v, nil
}

// integer returns o's field name as an integer from 0 to max; zero when it
// is unknown. A number with a fraction is an error.
func integer(o map[string]any, where, name string, max int64) (int64, error) {
	text, err := numberText(o, where, name)
	if err != nil || text == "" {
		return 0, err
	}
	v, err := strconv.ParseInt(text, 10, 64)
	switch {
	case err == nil:
	case errors.Is(err, strconv.ErrRange) && strings.HasPrefix(text, "-"):
		return 0, fmt.Errorf("%w: %s.%s: %s is negative", ErrProbe, where, name, text)
	case errors.Is(err, strconv.ErrRange):
		return 0, fmt.Errorf("%w: %s.%s: %s is too large (at most %d)", ErrProbe, where, name, text, max)
	default:
		return 0, fmt.Errorf("%w: %s.%s: %q is not a whole number", ErrProbe, where, name, text)
	}
	switch {
	case v < 0:
		return 0, fmt.Errorf("%w: %s.%s: %s is negative", ErrProbe, where, name, text)
	case v > max:
		return 0, fmt.Errorf("%w: %s.%s: %s is too large (at most %d)", ErrProbe, where, name, text, max)
	}
	return v, nil
}

// quote returns v as JSON for an error message, cut to a readable length.
func quote(v any) string {
	const max = 64
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	if len(raw) > max {
		return strings.ToValidUTF8(string(raw[:max]), "") + "…"
	}
	return string(raw)
}
