package media_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vpo-project/vpo/libs/media"
)

// commentary are the patterns the fixture tests use, as a policy would.
var commentary = []string{"commentary", `^kommentar`}

func TestFromFFProbeFixtures(t *testing.T) {
	tests := []struct {
		file string
		want media.File
	}{
		{
			file: "movie.mkv.json",
			want: media.File{
				FormatNames: []string{"matroska", "webm"},
				Duration:    7083083 * time.Millisecond,
				Size:        13579246810,
				BitRate:     15337012,
				Streams: []media.Stream{
					{Index: 0, Type: media.StreamVideo, Codec: "hevc", Profile: "Main 10", Language: "eng", Title: "Main Feature", Width: 3840, Height: 2160, Default: true},
					{Index: 1, Type: media.StreamAudio, Codec: "eac3", Language: "eng", Title: "Surround 5.1", Channels: 6, BitRate: 768000, Default: true},
					{Index: 2, Type: media.StreamAudio, Codec: "ac3", Language: "ger", Title: "Deutsch", Channels: 6, BitRate: 448000},
					{Index: 3, Type: media.StreamAudio, Codec: "aac", Profile: "LC", Language: "eng", Title: "Director's Commentary", Channels: 2, Commentary: true},
					{Index: 4, Type: media.StreamSubtitle, Codec: "subrip", Language: "eng", Title: "Forced", Forced: true},
					{Index: 5, Type: media.StreamSubtitle, Codec: "hdmv_pgs_subtitle", Language: "fre", Width: 1920, Height: 1080, HearingImpaired: true},
					{Index: 6, Type: media.StreamAttachment, Codec: "ttf", Language: "und"},
				},
			},
		},
		{
			file: "clip.mp4.json",
			want: media.File{
				FormatNames: []string{"mov", "mp4", "m4a", "3gp", "3g2", "mj2"},
				Duration:    60060 * time.Millisecond,
				Size:        34848153,
				BitRate:     4641745,
				Brand:       "isom",
				Streams: []media.Stream{
					{Index: 0, Type: media.StreamVideo, Codec: "h264", Tag: "avc1", Profile: "High", Language: "und", Width: 1920, Height: 1080, BitRate: 4500000, Duration: 60060 * time.Millisecond, Default: true},
					{Index: 1, Type: media.StreamAudio, Codec: "aac", Profile: "LC", Language: "jpn", Channels: 2, BitRate: 128000, Duration: 60046440 * time.Microsecond, Default: true, VisualImpaired: true},
					{Index: 2, Type: media.StreamSubtitle, Codec: "mov_text", Language: "spa", Duration: time.Minute},
					{Index: 3, Type: media.StreamData, Tag: "tmcd", Language: "eng", Default: true},
				},
			},
		},
		{
			file: "nolang.avi.json",
			want: media.File{
				FormatNames: []string{"avi"},
				Size:        700000000,
				Streams: []media.Stream{
					{Index: 0, Type: media.StreamVideo, Codec: "mpeg4", Language: "und", Width: 640, Height: 480},
					{Index: 1, Type: media.StreamAudio, Codec: "mp3", Language: "und", Channels: 2},
				},
			},
		},
		{
			file: "upper-tags.mkv.json",
			want: media.File{
				FormatNames: []string{"matroska", "webm"},
				Duration:    42 * time.Minute,
				Size:        1000,
				BitRate:     3,
				Streams: []media.Stream{
					{Index: 0, Type: media.StreamVideo, Codec: "h264", Language: "eng", Title: "Video", Width: 1280, Height: 720, Default: true},
					{Index: 1, Type: media.StreamAudio, Codec: "flac", Language: "ger", Title: "Kommentar", Channels: 2, Default: true, Commentary: true},
					{Index: 2, Type: media.StreamSubtitle, Codec: "ass", Language: "por", Title: "upper"},
				},
			},
		},
		{
			file: "reduced.json",
			want: media.File{
				FormatNames:    []string{"matroska", "webm"},
				Duration:       7083083 * time.Millisecond,
				Size:           13579246810,
				BitRate:        15337012,
				StreamsDropped: 1,
				Streams: []media.Stream{
					{Index: 0, Type: media.StreamVideo, Codec: "hevc", Language: "eng", Width: 3840, Height: 2160, Default: true},
					{Index: 1, Type: media.StreamAudio, Codec: "aac", Language: "eng", Title: "Commentary with cast", Channels: 2, Commentary: true},
				},
			},
		},
		{
			// Printed by ffprobe for a file made with ffmpeg from lavfi
			// sources (see testdata/README).
			file: "ffmpeg_generated.mkv.json",
			want: media.File{
				FormatNames: []string{"matroska", "webm"},
				Duration:    1023 * time.Millisecond,
				Size:        27084,
				BitRate:     211800,
				Streams: []media.Stream{
					{Index: 0, Type: media.StreamVideo, Codec: "h264", Profile: "High 4:4:4 Predictive", Language: "und", Width: 320, Height: 240},
					{Index: 1, Type: media.StreamAudio, Codec: "aac", Profile: "LC", Language: "ger", Channels: 1, Default: true},
					{Index: 2, Type: media.StreamAudio, Codec: "aac", Profile: "LC", Language: "eng", Title: "Director's Commentary", Channels: 1, Commentary: true},
				},
			},
		},
		{
			// Phone-style footage: 1920x1080 stored, shown upright
			// (ffprobe 5.1, see testdata/README).
			file: "rotated_ffmpeg51.mp4.json",
			want: media.File{
				FormatNames: []string{"mov", "mp4", "m4a", "3gp", "3g2", "mj2"},
				Duration:    time.Second,
				Size:        77820,
				BitRate:     622560,
				Brand:       "isom",
				Streams: []media.Stream{
					{Index: 0, Type: media.StreamVideo, Codec: "h264", Tag: "avc1", Profile: "High 4:4:4 Predictive", Language: "und", Width: 1920, Height: 1080, Rotation: 270, BitRate: 536176, Duration: time.Second, Default: true},
					{Index: 1, Type: media.StreamAudio, Codec: "aac", Tag: "mp4a", Profile: "LC", Language: "und", Channels: 1, BitRate: 70280, Duration: time.Second, Default: true},
				},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			got, err := media.FromFFProbe(data, media.Options{CommentaryPatterns: commentary})
			if err != nil {
				t.Fatalf("FromFFProbe: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("FromFFProbe:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestFromFFProbeCommentaryPatterns(t *testing.T) {
	probe := []byte(`{"format":{},"streams":[{"index":0,"codec_type":"audio","tags":{"title":"DIRECTOR'S COMMENTARY"}}]}`)
	tests := []struct {
		name     string
		patterns []string
		want     bool
	}{
		{"none", nil, false},
		{"case-insensitive", []string{"commentary"}, true},
		{"anchored miss", []string{"^commentary"}, false},
		{"second pattern", []string{"^x$", "director"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := media.FromFFProbe(probe, media.Options{CommentaryPatterns: tt.patterns})
			if err != nil {
				t.Fatal(err)
			}
			if got := f.Streams[0].Commentary; got != tt.want {
				t.Errorf("Commentary = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestFromFFProbeInvalidPattern(t *testing.T) {
	_, err := media.FromFFProbe([]byte(`{"format":{},"streams":[]}`), media.Options{CommentaryPatterns: []string{"ok", "comm(entary"}})
	if err == nil || !strings.Contains(err.Error(), `commentary pattern "comm(entary"`) {
		t.Fatalf("err = %v, want one naming the pattern", err)
	}
}

func TestFromFFProbeErrors(t *testing.T) {
	stream := func(fields string) string {
		return `{"format":{},"streams":[{"index":0,"codec_type":"audio"},{"index":1,"codec_type":"audio"},{"index":2,"codec_type":"audio"},{` + fields + `}]}`
	}
	tests := []struct {
		name, in, want string
	}{
		{"not JSON", `{"format":`, "probe: unexpected EOF"},
		{"not JSON at all", `ffprobe: error`, "probe: invalid character"},
		{"array", `[]`, "probe: not a JSON object"},
		{"two objects", `{"format":{},"streams":[]} {}`, "probe: more data after the JSON object"},
		{"null", `null`, "probe: not a JSON object"},
		{"no format", `{"streams":[]}`, "format: missing"},
		{"no streams", `{"format":{}}`, "streams: missing"},
		{"format not object", `{"format":3,"streams":[]}`, "format: not a JSON object"},
		{"streams not array", `{"format":{},"streams":{}}`, "streams: not an array"},
		{"stream not object", `{"format":{},"streams":[1]}`, "streams[0]: not a JSON object"},
		{"negative channels", stream(`"channels":-2`), "streams[3].channels: -2 is negative"},
		{"NaN stream duration", stream(`"duration":"NaN"`), "streams[3].duration: NaN is not a number"},
		{"negative stream duration", stream(`"duration":"-2"`), "streams[3].duration: -2 is negative"},
		{"huge channels", stream(`"channels":100000`), "streams[3].channels: 100000 is too large"},
		{"overflowing index", stream(`"index":99999999999999999999999`), "streams[3].index: 99999999999999999999999 is too large"},
		{"fractional width", stream(`"width":1.5`), `streams[3].width: "1.5" is not a whole number`},
		{"string height", stream(`"height":"tall"`), `streams[3].height: "tall" is not a whole number`},
		{"bool index", stream(`"index":true`), "streams[3].index: true is not a number"},
		{"NaN duration", `{"format":{"duration":"nan"},"streams":[]}`, "format.duration: nan is not a number"},
		{"negative duration", `{"format":{"duration":"-1.5"},"streams":[]}`, "format.duration: -1.5 is negative"},
		{"huge duration", `{"format":{"duration":"1e300"},"streams":[]}`, "format.duration: 1e300 is too large"},
		{"infinite duration", `{"format":{"duration":"inf"},"streams":[]}`, "format.duration: inf is too large"},
		{"negative size", `{"format":{"size":"-1"},"streams":[]}`, "format.size: -1 is negative"},
		{"huge size", `{"format":{"size":"99999999999999999999"},"streams":[]}`, "format.size: 99999999999999999999 is too large"},
		{"format_name number", `{"format":{"format_name":1},"streams":[]}`, "format.format_name: 1 is not a string"},
		{"unknown codec_type", stream(`"codec_type":"smell"`), `streams[3].codec_type: "smell" is not video`},
		{"disposition 2", stream(`"disposition":{"default":2}`), "streams[3].disposition.default: 2 is not 0 or 1"},
		{"disposition bool", stream(`"disposition":{"forced":true}`), "streams[3].disposition.forced: true is not 0 or 1"},
		{"disposition array", stream(`"disposition":[]`), "streams[3].disposition: not a JSON object"},
		{"tag not string", stream(`"tags":{"LANGUAGE":3}`), "streams[3].tags.LANGUAGE: 3 is not a string"},
		{"negative stream bit_rate", stream(`"bit_rate":"-5"`), "streams[3].bit_rate: -5 is negative"},
		{"fractional stream bit_rate", stream(`"bit_rate":"1.5"`), `streams[3].bit_rate: "1.5" is not a whole number`},
		{"profile number", stream(`"profile":3`), "streams[3].profile: 3 is not a string"},
		{"attached_pic 2", stream(`"disposition":{"attached_pic":2}`), "streams[3].disposition.attached_pic: 2 is not 0 or 1"},
		{"title not string", stream(`"tags":{"title":"x","Title":["y"]}`), `streams[3].tags.Title: ["y"] is not a string`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := media.FromFFProbe([]byte(tt.in), media.Options{})
			if err == nil {
				t.Fatalf("FromFFProbe(%s) = nil error, want %q", tt.in, tt.want)
			}
			if !errors.Is(err, media.ErrProbe) {
				t.Errorf("error %v does not wrap ErrProbe", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestFromFFProbeUnknownNumbers(t *testing.T) {
	f, err := media.FromFFProbe([]byte(`{"format":{"duration":"N/A","size":null,"bit_rate":"N/A"},"streams":[{"channels":"N/A"}]}`), media.Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := media.File{Streams: []media.Stream{{Type: media.StreamData, Language: "und"}}}
	if !reflect.DeepEqual(f, want) {
		t.Errorf("got %+v, want %+v", f, want)
	}
}

func FuzzFromFFProbe(f *testing.F) {
	for _, name := range []string{"movie.mkv.json", "clip.mp4.json", "upper-tags.mkv.json", "reduced.json"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"format":{"duration":"1e308"},"streams":[{"index":-1}]}`))
	f.Add([]byte(`{"format":{},"streams":[{"tags":{"language":"zh-Hans","LANGUAGE":"x"},"disposition":{"comment":1}}]}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := media.FromFFProbe(data, media.Options{CommentaryPatterns: commentary})
		if err != nil {
			return
		}
		for i, s := range file.Streams {
			if len(s.Language) != 3 {
				t.Errorf("streams[%d].Language = %q, not a 3-letter code", i, s.Language)
			}
			if s.Index < 0 || s.Channels < 0 || s.Width < 0 || s.Height < 0 || s.BitRate < 0 {
				t.Errorf("streams[%d] has a negative number: %+v", i, s)
			}
		}
		if file.Duration < 0 || file.Size < 0 || file.BitRate < 0 {
			t.Errorf("negative container number: %+v", file)
		}
	})
}

func TestFromFFProbeTags(t *testing.T) {
	tests := []struct {
		name, tags, language, title string
	}{
		{"none", `null`, "und", ""},
		{"empty", `{}`, "und", ""},
		{"lower case", `{"language":"fra","title":"x"}`, "fre", "x"},
		{"upper case", `{"LANGUAGE":"FRA","TITLE":"X"}`, "fre", "X"},
		{"first in byte order wins", `{"title":"c","Title":"b","TITLE":"a"}`, "und", "a"},
		{"null skipped", `{"TITLE":null,"title":"x"}`, "und", "x"},
		{"other tags not read", `{"BPS":3,"language":"en-GB"}`, "eng", ""},
		{"unknown language", `{"language":"klingon"}`, "und", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := media.FromFFProbe([]byte(`{"format":{},"streams":[{"codec_type":"audio","tags":`+tt.tags+`}]}`), media.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if s := f.Streams[0]; s.Language != tt.language || s.Title != tt.title {
				t.Errorf("language, title = %q, %q, want %q, %q", s.Language, s.Title, tt.language, tt.title)
			}
		})
	}
}

// TestFromFFProbeCoverArt: a cover picture is a video stream with the
// attached_pic disposition; its own bit rate and profile are read.
func TestFromFFProbeCoverArt(t *testing.T) {
	in := `{"format":{},"streams":[` +
		`{"index":0,"codec_type":"video","codec_name":"h264","profile":"High","width":1920,"height":1080,"bit_rate":"3200000","disposition":{"attached_pic":0}},` +
		`{"index":1,"codec_type":"video","codec_name":"mjpeg","profile":"Baseline","width":600,"height":600,"bit_rate":"N/A","disposition":{"attached_pic":1}}]}`
	f, err := media.FromFFProbe([]byte(in), media.Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []media.Stream{
		{Index: 0, Type: media.StreamVideo, Codec: "h264", Profile: "High", Language: "und", Width: 1920, Height: 1080, BitRate: 3200000},
		{Index: 1, Type: media.StreamVideo, Codec: "mjpeg", Profile: "Baseline", Language: "und", Width: 600, Height: 600, AttachedPic: true},
	}
	if !reflect.DeepEqual(f.Streams, want) {
		t.Errorf("got %+v\nwant %+v", f.Streams, want)
	}
}

// TestFromFFProbeRotation: the display matrix (side_data_list) and the
// older rotate tag (clockwise) both give Rotation, counter-clockwise from
// 0 to 359; DisplaySize swaps the sides for a quarter turn.
func TestFromFFProbeRotation(t *testing.T) {
	tests := []struct {
		name, extra    string
		rotation, w, h int
	}{
		{"none", ``, 0, 1920, 1080},
		{"display matrix -90", `,"side_data_list":[{"side_data_type":"Display Matrix","rotation":-90}]`, 270, 1080, 1920},
		{"display matrix 90", `,"side_data_list":[{"side_data_type":"Display Matrix","rotation":90}]`, 90, 1080, 1920},
		{"display matrix 180", `,"side_data_list":[{"rotation":"180"}]`, 180, 1920, 1080},
		{"display matrix -180", `,"side_data_list":[{"rotation":-180}]`, 180, 1920, 1080},
		{"other side data first", `,"side_data_list":[{"side_data_type":"CPB properties"},{"rotation":-270}]`, 90, 1080, 1920},
		{"rotate tag", `,"tags":{"rotate":"90"}`, 270, 1080, 1920},
		{"rotate tag 270", `,"tags":{"ROTATE":"270"}`, 90, 1080, 1920},
		{"display matrix wins over tag", `,"tags":{"rotate":"90"},"side_data_list":[{"rotation":0}]`, 0, 1920, 1080},
		{"full turn", `,"side_data_list":[{"rotation":360}]`, 0, 1920, 1080},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := `{"format":{},"streams":[{"index":0,"codec_type":"video","width":1920,"height":1080` + tt.extra + `}]}`
			f, err := media.FromFFProbe([]byte(in), media.Options{})
			if err != nil {
				t.Fatal(err)
			}
			s := f.Streams[0]
			if s.Rotation != tt.rotation {
				t.Errorf("Rotation = %d, want %d", s.Rotation, tt.rotation)
			}
			if w, h := s.DisplaySize(); w != tt.w || h != tt.h {
				t.Errorf("DisplaySize = %dx%d, want %dx%d", w, h, tt.w, tt.h)
			}
		})
	}
	for _, bad := range []struct{ extra, msg string }{
		{`,"side_data_list":{}`, "streams[0].side_data_list: not an array"},
		{`,"side_data_list":[3]`, "streams[0].side_data_list[0]: not a JSON object"},
		{`,"side_data_list":[{"rotation":"left"}]`, `streams[0].side_data_list[0].rotation: "left" is not a number`},
		{`,"side_data_list":[{"rotation":1e300}]`, "streams[0].side_data_list[0].rotation: 1e300 is too large"},
		{`,"tags":{"rotate":"up"}`, `streams[0].tags.rotate: "up" is not a number`},
	} {
		in := `{"format":{},"streams":[{"index":0,"codec_type":"video"` + bad.extra + `}]}`
		_, err := media.FromFFProbe([]byte(in), media.Options{})
		if !errors.Is(err, media.ErrProbe) || !strings.Contains(err.Error(), bad.msg) {
			t.Errorf("%s: error %v, want one wrapping ErrProbe with %q", bad.extra, err, bad.msg)
		}
	}
}
