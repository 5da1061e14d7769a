package transcode_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/vpo-project/vpo/libs/policy"
	"github.com/vpo-project/vpo/services/vpo/internal/transcode"
)

func intp(n int) *int { return &n }

// spec is a file with video (stream 0), two audio tracks (1, 2) and a
// subtitle (3); video is encoded with v, audio 2 with a (nil: copied).
func spec(format string, hw transcode.HW, v, a *policy.Encode) transcode.Spec {
	return transcode.Spec{
		Input: "/m/in.mkv", Output: "/m/.in.vpo-tmp-0123456789abcdef.mkv", Format: format, HW: hw,
		Tracks: []transcode.Track{
			{Source: 0, Type: "video", Width: 1280, Height: 720, Encode: v},
			{Source: 1, Type: "audio"},
			{Source: 2, Type: "audio", Encode: a},
			{Source: 3, Type: "subtitle"},
		},
		Metadata: []string{"-disposition:0", "default"},
	}
}

const (
	head = "-nostdin -v error -y -progress pipe:1 -stats_period 0.5"
	maps = "-i /m/in.mkv -map 0:0 -map 0:1 -map 0:2 -map 0:3 -map_metadata 0 -max_muxing_queue_size 4096"
	tail = "-disposition:0 default -f matroska /m/.in.vpo-tmp-0123456789abcdef.mkv"
)

// expand replaces {SN} in want by the arguments that clear output stream
// N's statistics tags.
func expand(want string) string {
	for n := range 4 {
		var b []string
		for _, tag := range []string{"BPS", "NUMBER_OF_FRAMES", "NUMBER_OF_BYTES", "_STATISTICS_TAGS", "_STATISTICS_WRITING_APP", "_STATISTICS_WRITING_DATE_UTC"} {
			b = append(b, fmt.Sprintf("-metadata:s:%d %s=", n, tag))
		}
		want = strings.ReplaceAll(want, fmt.Sprintf("{S%d}", n), strings.Join(b, " "))
	}
	return want
}

func TestArgs(t *testing.T) {
	sw := transcode.HW{Method: transcode.Software}
	vaapi := transcode.HW{Method: transcode.VAAPI, Device: "/dev/dri/renderD128"}
	nvenc := transcode.HW{Method: transcode.NVENC}
	qsv := transcode.HW{Method: transcode.QSV}
	hevc := &policy.Encode{Codec: "hevc", CRF: intp(30), Preset: "medium", Scale: true, ScaleAlgorithm: "lanczos"}
	h264 := &policy.Encode{Codec: "h264", CRF: intp(22), Preset: "slow", Tune: "film"}
	av1 := &policy.Encode{Codec: "av1", CRF: intp(35), Preset: "fast", Scale: true}
	rate := &policy.Encode{Codec: "hevc", Bitrate: 2_000_000, MinBitrate: 1_000_000, MaxBitrate: 4_000_000, Preset: "veryslow"}
	opus := &policy.Encode{Codec: "opus", Bitrate: 128_000}
	for _, tc := range []struct {
		name string
		s    transcode.Spec
		want string
		enc  string
	}{
		{"software hevc scaled, audio opus", spec("matroska", sw, hevc, opus),
			head + " " + maps + " {S0} -c:0 libx265 -crf:0 30 -x265-params:0 log-level=error -preset:0 medium -filter:0 scale=1280:720:flags=lanczos,format=yuv420p|yuv420p10le -c:1 copy {S2} -c:2 libopus -filter:2 aformat=channel_layouts=mono|stereo|3.0|quad|5.0|5.1|6.1|7.1 -b:2 128000 -c:3 copy " + tail,
			"libx265"},
		{"software h264 with tune", spec("matroska", sw, h264, nil),
			head + " " + maps + " {S0} -c:0 libx264 -crf:0 22 -preset:0 slow -tune:0 film -filter:0 format=yuv420p -c:1 copy -c:2 copy -c:3 copy " + tail,
			"libx264"},
		{"software av1 (svt) scaled bicubic", spec("matroska", sw, av1, nil),
			head + " " + maps + " {S0} -c:0 libsvtav1 -crf:0 35 -preset:0 8 -filter:0 scale=1280:720:flags=bicubic,format=yuv420p|yuv420p10le -c:1 copy -c:2 copy -c:3 copy " + tail,
			"libsvtav1"},
		{"software hevc by bitrate", spec("matroska", sw, rate, nil),
			head + " " + maps + " {S0} -c:0 libx265 -x265-params:0 log-level=error -preset:0 veryslow -b:0 2000000 -minrate:0 1000000 -maxrate:0 4000000 -bufsize:0 8000000 -filter:0 format=yuv420p|yuv420p10le -c:1 copy -c:2 copy -c:3 copy " + tail,
			"libx265"},
		{"vaapi hevc scaled", spec("matroska", vaapi, hevc, nil),
			"-nostdin -v error -y -progress pipe:1 -stats_period 0.5 -vaapi_device /dev/dri/renderD128 " + maps + " {S0} -c:0 hevc_vaapi -qp:0 30 -filter:0 scale=1280:720:flags=lanczos,format=nv12,hwupload -c:1 copy -c:2 copy -c:3 copy " + tail,
			"hevc_vaapi"},
		{"vaapi h264", spec("matroska", vaapi, h264, nil),
			"-nostdin -v error -y -progress pipe:1 -stats_period 0.5 -vaapi_device /dev/dri/renderD128 " + maps + " {S0} -c:0 h264_vaapi -qp:0 22 -filter:0 format=nv12,hwupload -c:1 copy -c:2 copy -c:3 copy " + tail,
			"h264_vaapi"},
		{"nvenc hevc scaled", spec("matroska", nvenc, hevc, nil),
			head + " " + maps + " {S0} -c:0 hevc_nvenc -cq:0 30 -b:0 0 -preset:0 p4 -filter:0 scale=1280:720:flags=lanczos,format=yuv420p|p010le -c:1 copy -c:2 copy -c:3 copy " + tail,
			"hevc_nvenc"},
		{"nvenc h264", spec("matroska", nvenc, h264, nil),
			head + " " + maps + " {S0} -c:0 h264_nvenc -cq:0 22 -b:0 0 -preset:0 p5 -filter:0 format=yuv420p -c:1 copy -c:2 copy -c:3 copy " + tail,
			"h264_nvenc"},
		{"nvenc hevc by bitrate", spec("matroska", nvenc, rate, nil),
			head + " " + maps + " {S0} -c:0 hevc_nvenc -preset:0 p7 -b:0 2000000 -minrate:0 1000000 -maxrate:0 4000000 -bufsize:0 8000000 -filter:0 format=yuv420p|p010le -c:1 copy -c:2 copy -c:3 copy " + tail,
			"hevc_nvenc"},
		{"qsv hevc scaled", spec("matroska", qsv, hevc, nil),
			"-nostdin -v error -y -progress pipe:1 -stats_period 0.5 -init_hw_device qsv=hw -filter_hw_device hw " + maps + " {S0} -c:0 hevc_qsv -global_quality:0 30 -preset:0 medium -filter:0 scale=1280:720:flags=lanczos,format=nv12,hwupload=extra_hw_frames=64 -c:1 copy -c:2 copy -c:3 copy " + tail,
			"hevc_qsv"},
		{"qsv h264", spec("matroska", qsv, h264, nil),
			"-nostdin -v error -y -progress pipe:1 -stats_period 0.5 -init_hw_device qsv=hw -filter_hw_device hw " + maps + " {S0} -c:0 h264_qsv -global_quality:0 22 -preset:0 slow -filter:0 format=nv12,hwupload=extra_hw_frames=64 -c:1 copy -c:2 copy -c:3 copy " + tail,
			"h264_qsv"},
		{"audio only, hw ignored", spec("matroska", vaapi, nil, opus),
			head + " " + maps + " -c:0 copy -c:1 copy {S2} -c:2 libopus -filter:2 aformat=channel_layouts=mono|stereo|3.0|quad|5.0|5.1|6.1|7.1 -b:2 128000 -c:3 copy " + tail,
			"libopus"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args, enc, err := transcode.Args(tc.s)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := strings.Join(args, " "), expand(tc.want); got != want {
				t.Errorf("args\n got %s\nwant %s", got, want)
			}
			if enc != tc.enc {
				t.Errorf("encoder %q, want %q", enc, tc.enc)
			}
		})
	}
}

func TestArgsMP4(t *testing.T) {
	s := transcode.Spec{Input: "in.mkv", Output: "out.mp4", Format: "mp4", HW: transcode.HW{Method: transcode.Software},
		Tracks: []transcode.Track{
			{Source: 0, Type: "video", Encode: &policy.Encode{Codec: "hevc", CRF: intp(28), FFmpegArgs: []string{"-g", "48", "-an"}}},
			{Source: 1, Type: "audio", Encode: &policy.Encode{Codec: "flac"}},
		}}
	args, _, err := transcode.Args(s)
	if err != nil {
		t.Fatal(err)
	}
	want := "-nostdin -v error -y -progress pipe:1 -stats_period 0.5 -i in.mkv -map 0:0 -map 0:1 -map_metadata 0 -max_muxing_queue_size 4096 {S0} -c:0 libx265 -crf:0 28 -x265-params:0 log-level=error -tag:0 hvc1 -filter:0 format=yuv420p|yuv420p10le {S1} -c:1 flac -strict experimental -g 48 -an -f mp4 out.mp4"
	if got, want := strings.Join(args, " "), expand(want); got != want {
		t.Errorf("args\n got %s\nwant %s", got, want)
	}
}

func TestArgsAV1Encoders(t *testing.T) {
	s := spec("matroska", transcode.HW{Method: transcode.Software}, &policy.Encode{Codec: "av1", CRF: intp(30), Preset: "medium"}, nil)
	s.Encoders = map[string]bool{"libaom-av1": true, "libx265": true}
	args, enc, err := transcode.Args(s)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(args, " "); enc != "libaom-av1" || !strings.Contains(got, "-c:0 libaom-av1 -crf:0 30 -cpu-used:0 3 -b:0 0 ") {
		t.Errorf("encoder %s, args %s", enc, got)
	}
	s.Encoders = map[string]bool{"libx265": true}
	if _, _, err := transcode.Args(s); err == nil || !strings.Contains(err.Error(), "no av1 encoder") {
		t.Errorf("error %v, want no av1 encoder", err)
	}
}

func TestArgsErrors(t *testing.T) {
	sw := transcode.HW{Method: transcode.Software}
	for _, tc := range []struct {
		name string
		s    transcode.Spec
		want string
	}{
		{"odd size", spec("matroska", sw, &policy.Encode{Codec: "hevc", Scale: true}, nil), ""},
		{"bad format", spec("avi", sw, &policy.Encode{Codec: "hevc"}, nil), `output format "avi"`},
		{"bad video codec", spec("matroska", sw, &policy.Encode{Codec: "vp9"}, nil), `video codec "vp9" cannot be encoded`},
		{"bad audio codec", spec("matroska", sw, nil, &policy.Encode{Codec: "dts"}), `audio codec "dts" cannot be encoded`},
		{"bad preset", spec("matroska", sw, &policy.Encode{Codec: "hevc", Preset: "turbo"}, nil), `preset "turbo"`},
		{"bad algorithm", spec("matroska", sw, &policy.Encode{Codec: "hevc", Scale: true, ScaleAlgorithm: "magic"}, nil), `scale algorithm "magic"`},
		{"file after a flag", spec("matroska", sw, &policy.Encode{Codec: "hevc", FFmpegArgs: []string{"-an", "/srv/media/other.mkv"}}, nil), `ffmpeg_args[1]: "/srv/media/other.mkv" follows no option that takes a value`},
		{"denied arg", spec("matroska", sw, &policy.Encode{Codec: "hevc", FFmpegArgs: []string{"-map", "0"}}, nil), `ffmpeg_args[0]: "-map" is refused: vpo chooses the streams`},
		{"nothing encoded", spec("matroska", sw, nil, nil), "no track is re-encoded"},
		{"vaapi without device", spec("matroska", transcode.HW{Method: transcode.VAAPI}, &policy.Encode{Codec: "hevc"}, nil), "no render device"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "odd size" {
				tc.s.Tracks[0].Width = 641
				tc.want = "scale to 641x720: the size must be positive and even"
			}
			_, _, err := transcode.Args(tc.s)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one saying %q", err, tc.want)
			}
		})
	}
}
