package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/vpo-project/vpo/libs/store"
)

// bigProbe is ffprobe-shaped JSON of about n bytes: one video stream and a
// format title of n bytes.
func bigProbe(n int) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"streams":[{"index":0,"codec_type":"video","codec_name":"hevc","width":3840,"extradata":"zz"}],`+
		`"format":{"format_name":"matroska,webm","duration":"60.000000","tags":{"title":%q}}}`, strings.Repeat("t", n)))
}

// TestReduceProbe: the reduced probe keeps ffprobe's shape and the fields
// a policy needs, and nothing else; strings are cut (at a character
// boundary, marked); output that is not an object with format and streams
// is an error.
func TestReduceProbe(t *testing.T) {
	long := "x" + strings.Repeat("é", store.MaxProbeString) // 2 bytes each, after 1
	cut := store.MaxProbeString - len(store.ProbeTruncated)
	for !utf8.RuneStart(long[cut]) {
		cut--
	}
	for _, tc := range []struct {
		name, in, want, err string
	}{
		{name: "kept fields", in: `{"streams":[{"index":1,"codec_type":"subtitle","codec_name":"subrip","extradata":"x",` +
			`"disposition":{"default":0,"forced":1,"bogus":1,"comment":7},"tags":{"LANGUAGE":"fre","title":"Forced","BPS":"12"}}],` +
			`"format":{"filename":"/a.mkv","nb_streams":1,"size":"10","probe_score":100,"tags":{"TITLE":"A"}}}`,
			want: `{"format":{"size":"10","nb_streams":1,"tags":{"TITLE":"A"}},"streams":[{"index":1,"codec_type":"subtitle","codec_name":"subrip",` +
				`"disposition":{"default":0,"forced":1},"tags":{"LANGUAGE":"fre","title":"Forced"}}]}`},
		// A rotated picture (phone footage) keeps its display matrix's
		// rotation, and the older rotate tag.
		// mov and mp4 differ by their brand; a timecode track by its tag.
		{name: "brand and codec tag", in: `{"streams":[{"index":0,"codec_type":"data","codec_tag_string":"tmcd","codec_tag":"0x64636d74"}],` +
			`"format":{"format_name":"mov,mp4,m4a,3gp,3g2,mj2","tags":{"major_brand":"qt  ","minor_version":"512"}}}`,
			want: `{"format":{"format_name":"mov,mp4,m4a,3gp,3g2,mj2","tags":{"major_brand":"qt  "}},"streams":[{"index":0,"codec_type":"data","codec_tag_string":"tmcd"}]}`},
		{name: "rotation", in: `{"streams":[{"index":0,"codec_type":"video","width":1920,"height":1080,` +
			`"side_data_list":[{"side_data_type":"CPB properties","max_bitrate":0},{"side_data_type":"Display Matrix","displaymatrix":"x","rotation":-90}],` +
			`"tags":{"rotate":"90","encoder":"x"}}],"format":{}}`,
			want: `{"format":{},"streams":[{"index":0,"codec_type":"video","width":1920,"height":1080,` +
				`"side_data_list":[{"rotation":-90}],"tags":{"rotate":"90"}}]}`},
		{name: "not utf-8", in: "{\"streams\":[],\"format\":{\"tags\":{\"title\":\"a\xffb\"}}}",
			want: `{"format":{"tags":{"title":"a` + "\uFFFD" + `b"}},"streams":[]}`},
		{name: "huge number dropped", in: `{"streams":[{"width":` + strings.Repeat("9", 100) + `}],"format":{}}`,
			want: `{"format":{},"streams":[{}]}`},
		{name: "long string", in: `{"streams":[],"format":{"format_name":"` + long + `"}}`,
			want: `{"format":{"format_name":"` + long[:cut] + store.ProbeTruncated + `"},"streams":[]}`},
		{name: "null", in: `null`, err: "not a JSON object"},
		{name: "array", in: `[]`, err: "not a JSON object"},
		{name: "no format", in: `{"streams":[]}`, err: "not a JSON object"},
		{name: "format not an object", in: `{"streams":[],"format":"x"}`, err: "not a JSON object"},
		{name: "null streams", in: `{"streams":null,"format":{}}`, err: "not a JSON object"},
		{name: "not json", in: `{"streams":`, err: "parse output"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := store.ReduceProbe([]byte(tc.in))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ReduceProbe = %s, %v; want an error with %q", got, err, tc.err)
				}
				if tc.err == "not a JSON object" && !errors.Is(err, store.ErrProbeNotObject) {
					t.Fatalf("error %v does not wrap ErrProbeNotObject", err)
				}
				return
			}
			if err != nil || string(got) != tc.want {
				t.Fatalf("ReduceProbe = %s, %v\nwant %s", got, err, tc.want)
			}
			if len(got) > 0 && !utf8.Valid(got) {
				t.Fatalf("not UTF-8: %q", got)
			}
		})
	}
}

// TestListFilesServesBoundedProbes: a probe stored before probes were
// reduced (megabytes of tags) is served reduced by GetFile and ListFiles;
// one that cannot be reduced is not served.
func TestListFilesServesBoundedProbes(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	files := []store.File{
		{Path: "/m/huge.mkv", LastScannedAt: t0, Probe: bigProbe(3 << 20), Codec: "hevc", Tracks: 1},
		{Path: "/m/junk.mkv", LastScannedAt: t0, Probe: json.RawMessage(fmt.Sprintf("%q", strings.Repeat("j", 1<<20)))},
		{Path: "/m/small.mkv", LastScannedAt: t0, Probe: json.RawMessage(`{"streams":[],"format":{"x":1}}`)},
	}
	if err := s.UpsertFiles(ctx, files); err != nil {
		t.Fatal(err)
	}
	got, _, err := s.ListFiles(ctx, 0, "")
	if err != nil {
		t.Fatal(err)
	}
	one, err := s.GetFile(ctx, "/m/huge.mkv")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("ListFiles = %d files, want 3", len(got))
	}
	for _, p := range []json.RawMessage{got[0].Probe, one.Probe} {
		var v struct {
			Format struct {
				Tags map[string]string `json:"tags"`
			} `json:"format"`
			Streams []map[string]any `json:"streams"`
		}
		if len(p) > store.MaxProbeBytes || json.Unmarshal(p, &v) != nil || len(v.Streams) != 1 ||
			v.Streams[0]["codec_name"] != "hevc" || v.Streams[0]["extradata"] != nil ||
			!strings.HasSuffix(v.Format.Tags["title"], store.ProbeTruncated) {
			t.Fatalf("huge.mkv served with a probe of %d bytes: %.300s", len(p), p)
		}
	}
	if got[1].Probe != nil {
		t.Fatalf("junk.mkv served with a probe of %d bytes", len(got[1].Probe))
	}
	if string(got[2].Probe) != `{"streams":[],"format":{"x":1}}` {
		t.Fatalf("small.mkv served with probe %s, want it as stored", got[2].Probe)
	}
}

// TestListFilesBoundsPageBytes: a page ends once its probes reach
// MaxListBytes, with a cursor to the rest; paging still returns every file.
func TestListFilesBoundsPageBytes(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	const n = 300
	probe := bigProbe(store.MaxProbeBytes - 400) // just under the bound: served as stored
	var files []store.File
	for i := 0; i < n; i++ {
		files = append(files, store.File{Path: fmt.Sprintf("/m/%03d.mkv", i), LastScannedAt: t0, Probe: probe})
	}
	if err := s.UpsertFiles(ctx, files); err != nil {
		t.Fatal(err)
	}
	seen, pages, cursor := 0, 0, ""
	for {
		page, next, err := s.ListFiles(ctx, 1000, cursor)
		if err != nil {
			t.Fatal(err)
		}
		size := 0
		for _, f := range page {
			if len(f.Probe) != len(probe) {
				t.Fatalf("%s: probe of %d bytes, want %d", f.Path, len(f.Probe), len(probe))
			}
			size += len(f.Path) + len(f.Probe)
		}
		if size > store.MaxListBytes+store.MaxProbeBytes+100 {
			t.Fatalf("page %d holds %d bytes of paths and probes, want at most about %d", pages, size, store.MaxListBytes)
		}
		seen += len(page)
		pages++
		if next == "" {
			break
		}
		cursor = next
	}
	if seen != n || pages < 2 {
		t.Fatalf("paging returned %d files in %d pages, want %d in several", seen, pages, n)
	}
}

// FuzzReduceProbe: whatever the input, ReduceProbe either fails or returns
// valid UTF-8 JSON of at most MaxProbeBytes; it never panics.
func FuzzReduceProbe(f *testing.F) {
	for _, seed := range []string{
		`{"streams":[{"index":0,"codec_type":"video","tags":{"title":"x"},"disposition":{"default":1}}],"format":{"size":"1"}}`,
		`null`, `{}`, `[]`, `{"streams":null,"format":{}}`, "{\"streams\":[],\"format\":{\"tags\":{\"title\":\"\xff\"}}}",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := store.ReduceProbe(in)
		if err != nil {
			return
		}
		if len(out) > store.MaxProbeBytes || !json.Valid(out) || !utf8.Valid(out) {
			t.Fatalf("ReduceProbe(%q) = %q", in, out)
		}
	})
}
