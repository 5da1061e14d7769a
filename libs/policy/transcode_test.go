package policy_test

import (
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/vpo-project/vpo/libs/media"
	"github.com/vpo-project/vpo/libs/policy"
)

// phaseWith is a policy of one phase "t" whose body is block (indented
// by four spaces); the block starts on line 4.
func phaseWith(block string) string {
	return "schema_version: 13\nphases:\n  - name: t\n" + block
}

func TestParseTranscode(t *testing.T) {
	src := phaseWith(`    transcode:
      video:
        to: hevc
        skip_if: {codec_matches: [HEVC, h265], resolution_within: 1080P, bitrate_under: 10M}
        crf: 22
        preset: slow
        tune: grain
        max_bitrate: 8M
        max_resolution: 1080p
        max_width: 1600
        scale_algorithm: bicubic
        hw: vaapi
        hw_fallback: false
        ffmpeg_args: ["-x265-params", "aq-mode=3", "-tag:v", "hvc1", "-an-flag", "-bf", "4"]
      audio:
        preserve: [truehd, DTS-HD]
        to: opus
        bitrate: 2.5k
`)
	p, err := policy.Parse(file, []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Check(); err != nil {
		t.Errorf("Check: %v", err)
	}
	if !p.HasTranscode() {
		t.Errorf("HasTranscode is false")
	}
	crf := 22
	want := &policy.Transcode{
		Video: &policy.VideoTranscode{To: "hevc",
			SkipIf: &policy.SkipIf{CodecMatches: []string{"hevc", "h265"}, ResolutionWithin: "1080p", BitrateUnder: 10_000_000},
			CRF:    &crf, Preset: "slow", Tune: "grain", MaxBitrate: 8_000_000, MaxResolution: "1080p", MaxWidth: 1600,
			ScaleAlgorithm: "bicubic", HW: "vaapi", HWFallback: false,
			FFmpegArgs: []string{"-x265-params", "aq-mode=3", "-tag:v", "hvc1", "-an-flag", "-bf", "4"}},
		Audio: &policy.AudioTranscode{Preserve: []string{"truehd", "dts-hd"}, To: "opus", Bitrate: 2500},
	}
	if got := p.Phases[0].Transcode; !reflect.DeepEqual(got, want) {
		t.Errorf("Transcode:\n got %+v %+v %+v\nwant %+v %+v %+v", got, got.Video, got.Audio, want, want.Video, want.Audio)
	}
}

func TestParseTranscodeDefaults(t *testing.T) {
	p, err := policy.Parse(file, []byte(phaseWith("    transcode:\n      video: {to: h264}\n      audio: {}\n")))
	if err != nil {
		t.Fatal(err)
	}
	want := &policy.Transcode{
		Video: &policy.VideoTranscode{To: "h264", Preset: "medium", ScaleAlgorithm: "lanczos", HW: "auto", HWFallback: true},
		Audio: &policy.AudioTranscode{Preserve: []string{"truehd", "dts-hd", "flac", "pcm_s24le"}, To: "aac", Bitrate: 192_000},
	}
	if got := p.Phases[0].Transcode; !reflect.DeepEqual(got, want) {
		t.Errorf("Transcode:\n got %+v %+v\nwant %+v %+v", got.Video, got.Audio, want.Video, want.Audio)
	}
	// An empty block re-encodes nothing.
	p, err = policy.Parse(file, []byte(phaseWith("    transcode: {}\n")))
	if err != nil {
		t.Fatal(err)
	}
	if p.HasTranscode() || p.Check() != nil {
		t.Errorf("transcode: {}: HasTranscode %v, Check %v", p.HasTranscode(), p.Check())
	}
}

func TestParseTranscodeErrors(t *testing.T) {
	tests := []struct {
		name, block, want string
	}{
		{"unknown key", "    transcode:\n      video: {to: hevc, crff: 2}\n", `:5: phases[0].transcode.video.crff: unknown key (did you mean "crf"?)`},
		{"unknown part", "    transcode:\n      subtitles: {}\n", `:5: phases[0].transcode.subtitles: unknown key`},
		{"not a mapping", "    transcode: hevc\n", `:4: phases[0].transcode: must be a mapping of keys (video, audio), not "hevc"`},
		{"to missing", "    transcode:\n      video: {crf: 20}\n", `:5: phases[0].transcode.video.to: missing: say h264, hevc or av1`},
		{"bad codec", "    transcode:\n      video: {to: hvec}\n", `:5: phases[0].transcode.video.to: "hvec" is not one of h264, hevc, av1 (did you mean "hevc"?)`},
		{"crf out of range", "    transcode:\n      video: {to: hevc, crf: 52}\n", `:5: phases[0].transcode.video.crf: must be a whole number from 0 to 51, not 52`},
		{"crf a string", "    transcode:\n      video: {to: hevc, crf: high}\n", `:5: phases[0].transcode.video.crf: must be a whole number, not "high"`},
		{"crf and bitrate", "    transcode:\n      video:\n        to: hevc\n        crf: 20\n        target_bitrate: 5M\n",
			`:8: phases[0].transcode.video.target_bitrate: crf and target_bitrate cannot both be set: use crf alone, target_bitrate alone, or crf with max_bitrate`},
		{"bad bitrate", "    transcode:\n      video: {to: hevc, target_bitrate: 10X}\n",
			`:5: phases[0].transcode.video.target_bitrate: "10X" is not a bit rate: write a number with k or M after it, such as 192k or 10M`},
		{"zero bitrate", "    transcode:\n      audio: {bitrate: 0k}\n", `:5: phases[0].transcode.audio.bitrate: "0k" is out of range: a bit rate is from 1 to 10000M`},
		{"bitrate a list", "    transcode:\n      audio: {bitrate: [1]}\n", `:5: phases[0].transcode.audio.bitrate: must be a bit rate such as 192k or 10M, not a list`},
		{"min above max", "    transcode:\n      video: {to: hevc, min_bitrate: 9M, max_bitrate: 2M}\n", `:5: phases[0].transcode.video.min_bitrate: 9M is more than max_bitrate 2M`},
		{"bad preset", "    transcode:\n      video: {to: hevc, preset: medum}\n", `:5: phases[0].transcode.video.preset: "medum" is not one of ultrafast, superfast, veryfast, faster, fast, medium, slow, slower, veryslow (did you mean "medium"?)`},
		{"bad tune", "    transcode:\n      video: {to: hevc, tune: movie}\n", `:5: phases[0].transcode.video.tune: "movie" is not one of animation, grain, fastdecode, zerolatency, psnr, ssim for hevc`},
		// Tunes are the target encoder's: x265 has no film or stillimage,
		// the AV1 encoders none of them; the error is at the tune's line.
		{"film for hevc", "    transcode:\n      video:\n        to: hevc\n        tune: film\n", `:7: phases[0].transcode.video.tune: "film" is not one of animation, grain, fastdecode, zerolatency, psnr, ssim for hevc`},
		{"stillimage for hevc", "    transcode:\n      video: {tune: stillimage, to: hevc}\n", `:5: phases[0].transcode.video.tune: "stillimage" is not one of animation, grain, fastdecode, zerolatency, psnr, ssim for hevc`},
		{"tune for av1", "    transcode:\n      video:\n        to: av1\n        tune: grain\n", `:7: phases[0].transcode.video.tune: "grain": av1 encoders have no tune; leave tune out`},
		{"bad tune for h264", "    transcode:\n      video: {to: h264, tune: flim}\n", `:5: phases[0].transcode.video.tune: "flim" is not one of film, animation, grain, stillimage, fastdecode, zerolatency, psnr, ssim for h264 (did you mean "film"?)`},
		{"tune without to", "    transcode:\n      video: {tune: movie}\n", `:5: phases[0].transcode.video.to: missing: say h264, hevc or av1`},
		// Only what vpo encodes is offered; upper case is named.
		{"upper case codec", "    transcode:\n      video: {to: HEVC}\n", `:5: phases[0].transcode.video.to: "HEVC" is not one of h264, hevc, av1 (codec names are lower case: "hevc")`},
		{"upper case vp9", "    transcode:\n      video: {to: VP9}\n", `:5: phases[0].transcode.video.to: "VP9" is not one of h264, hevc, av1 (vp9 is not supported by vpo yet)`},
		{"upper case audio", "    transcode:\n      audio: {to: TrueHD}\n", `:5: phases[0].transcode.audio.to: "TrueHD" is not one of aac, ac3, eac3, flac, opus, mp3 (truehd is not supported by vpo yet)`},
		{"bad resolution", "    transcode:\n      video: {to: hevc, max_resolution: 2160p}\n", `:5: phases[0].transcode.video.max_resolution: "2160p" is not one of 480p, 720p, 1080p, 1440p, 4k, 8k`},
		{"bad width", "    transcode:\n      video: {to: hevc, max_width: 1}\n", `:5: phases[0].transcode.video.max_width: must be a whole number from 2 to 65536, not 1`},
		{"bad algorithm", "    transcode:\n      video: {to: hevc, scale_algorithm: nearest}\n", `:5: phases[0].transcode.video.scale_algorithm: "nearest" is not one of lanczos, bicubic, bilinear`},
		{"bad hw", "    transcode:\n      video: {to: hevc, hw: cuda}\n", `:5: phases[0].transcode.video.hw: "cuda" is not one of auto, none, vaapi, nvenc, qsv`},
		{"hw_fallback not bool", "    transcode:\n      video: {to: hevc, hw_fallback: yes please}\n", `:5: phases[0].transcode.video.hw_fallback: must be true or false, not "yes please"`},
		{"skip_if unknown key", "    transcode:\n      video:\n        to: hevc\n        skip_if: {codec: hevc}\n", `:7: phases[0].transcode.video.skip_if.codec: unknown key`},
		{"skip_if empty", "    transcode:\n      video:\n        to: hevc\n        skip_if: {}\n", `:7: phases[0].transcode.video.skip_if: is empty: give codec_matches, resolution_within or bitrate_under, or leave skip_if out`},
		{"skip_if only nulls", "    transcode:\n      video:\n        to: hevc\n        skip_if: {codec_matches: ~}\n", `:7: phases[0].transcode.video.skip_if: is empty: give codec_matches, resolution_within or bitrate_under, or leave skip_if out`},
		{"skip_if empty codecs", "    transcode:\n      video:\n        to: hevc\n        skip_if: {codec_matches: []}\n", `:7: phases[0].transcode.video.skip_if.codec_matches: is empty: list codecs such as hevc, or leave codec_matches out`},
		{"skip_if bad bitrate", "    transcode:\n      video:\n        to: hevc\n        skip_if: {bitrate_under: fast}\n", `:7: phases[0].transcode.video.skip_if.bitrate_under: "fast" is not a bit rate`},
		{"skip_if codec not a list", "    transcode:\n      video:\n        to: hevc\n        skip_if: {codec_matches: hevc}\n", `:7: phases[0].transcode.video.skip_if.codec_matches: must be a list, not "hevc"`},
		{"bad audio codec", "    transcode:\n      audio: {to: wav}\n", `:5: phases[0].transcode.audio.to: "wav" is not one of aac, ac3, eac3, flac, opus, mp3`},
		{"empty preserve item", "    transcode:\n      audio: {preserve: [flac, ' ']}\n", `:5: phases[0].transcode.audio.preserve[1]: an empty codec name`},
		{"ffmpeg_args not strings", "    transcode:\n      video: {to: hevc, ffmpeg_args: [-bf, 4]}\n", `:5: phases[0].transcode.video.ffmpeg_args[1]: must be a string, not 4`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := policy.Parse(file, []byte(phaseWith(tt.block)))
			if err == nil {
				t.Fatalf("Parse = nil error, want %q", tt.want)
			}
			if !strings.HasPrefix(err.Error(), file+tt.want) {
				t.Errorf("error = %q\nwant it to start with %q", err, file+tt.want)
			}
		})
	}
}

// TestParseFFmpegArgs: each refused case of the ffmpeg_args rules, with
// its message, and arguments the rules allow.
func TestParseFFmpegArgs(t *testing.T) {
	long := strings.Repeat("a", policy.MaxFFmpegArgLen+1)
	tooMany := make([]string, policy.MaxFFmpegArgs+1)
	for i := range tooMany {
		tooMany[i] = `"-an"`
	}
	tests := []struct {
		name string
		args string // a YAML list
		// want is "" for allowed, else the message after the key.
		want string
	}{
		{"allowed", `["-x265-params", "aq-mode=3:psy-rd=2", "-tag:v", "hvc1", "-g", "240", "-bf", "-1", "-movflags", "+faststart"]`, ""},
		{"flag then option", `["-an", "-sn"]`, ""},
		{"empty list", `[]`, ""},
		{"too many", "[" + strings.Join(tooMany, ", ") + "]", "[50]: 51 arguments are more than the 50 ffmpeg_args may have"},
		{"too long", `["-x265-params", "` + long + `"]`, "[1]: is 1025 bytes, longer than the 1024 an argument may be"},
		{"NUL", `["-metadata", "a\0b"]`, "[1]: must not hold a NUL byte or a line break"},
		{"newline", `["-metadata", "a\nb"]`, "[1]: must not hold a NUL byte or a line break"},
		{"empty", `["-metadata", ""]`, "[1]: is empty"},
		{"-y", `["-y"]`, `[0]: "-y" is refused: it overwrites files without asking`},
		{"-n", `["-n"]`, `[0]: "-n" is refused: it changes how existing files are treated`},
		{"-i", `["-i", "other.mkv"]`, `[0]: "-i" is refused: it adds an input`},
		{"-f", `["-f", "null"]`, `[0]: "-f" is refused: vpo chooses the output format`},
		{"-format", `["-format", "mp4"]`, `[0]: "-format" is refused: vpo chooses the output format`},
		{"-map", `["-map", "0"]`, `[0]: "-map" is refused: vpo chooses the streams`},
		{"-map_metadata", `["-map_metadata", "-1"]`, `[0]: "-map_metadata" is refused: vpo chooses the metadata`},
		{"-progress", `["-progress", "x"]`, `[0]: "-progress" is refused: vpo reads ffmpeg's progress itself`},
		{"-stats_period", `["-stats_period", "1"]`, `[0]: "-stats_period" is refused: vpo reads ffmpeg's progress itself`},
		{"-filter_complex", `["-filter_complex", "x"]`, `[0]: "-filter_complex" is refused: it can read inputs and write outputs of its own`},
		{"-lavfi", `["-lavfi", "x"]`, `[0]: "-lavfi" is refused: it can read inputs and write outputs of its own`},
		{"-dump_attachment", `["-dump_attachment:t", "x"]`, `[0]: "-dump_attachment:t" is refused: it writes files`},
		{"-attach", `["-attach", "x.ttf"]`, `[0]: "-attach" is refused: it reads files`},
		{"-report", `["-report"]`, `[0]: "-report" is refused: it writes files`},
		{"-passlogfile", `["-passlogfile", "x"]`, `[0]: "-passlogfile" is refused: it writes files`},
		{"-vstats_file", `["-vstats_file", "x"]`, `[0]: "-vstats_file" is refused: it writes files`},
		{"-sdp_file", `["-sdp_file", "x"]`, `[0]: "-sdp_file" is refused: it writes files`},
		{"-init_hw_device", `["-init_hw_device", "vaapi"]`, `[0]: "-init_hw_device" is refused: vpo sets up the hardware (transcode.video.hw)`},
		{"-hwaccel", `["-hwaccel", "cuda"]`, `[0]: "-hwaccel" is refused: vpo sets up the hardware (transcode.video.hw)`},
		{"-hwaccel_output_format", `["-hwaccel_output_format", "cuda"]`, `[0]: "-hwaccel_output_format" is refused: vpo sets up the hardware (transcode.video.hw)`},
		{"-c", `["-c", "copy"]`, `[0]: "-c" is refused: vpo chooses the codec (transcode.video.to)`},
		{"-c:v", `["-c:v", "libx264"]`, `[0]: "-c:v" is refused: vpo chooses the codec (transcode.video.to)`},
		{"-codec:a", `["-codec:a", "copy"]`, `[0]: "-codec:a" is refused: vpo chooses the codec (transcode.video.to)`},
		{"-vcodec", `["-vcodec", "libx264"]`, `[0]: "-vcodec" is refused: vpo chooses the codec (transcode.video.to)`},
		{"-acodec", `["-acodec", "aac"]`, `[0]: "-acodec" is refused: vpo chooses the codec (transcode.audio.to)`},
		{"-scodec", `["-scodec", "srt"]`, `[0]: "-scodec" is refused: vpo chooses the codecs`},
		{"upper case", `["-Y"]`, `[0]: "-Y" is refused: it overwrites files without asking`},
		{"frame rate ratio and negative value", `["-r", "24000/1001", "-bf", "-1", "-metadata", "title=Part 1.5"]`, ""},
		{"flag then a file", `["-an", "out.mkv"]`, `[1]: "out.mkv" follows no option that takes a value: ffmpeg would take it as another output file (write options as "-name value")`},
		{"no-flag then a file", `["-noshortest", "/srv/media/x.mkv"]`, `[1]: "/srv/media/x.mkv" follows no option that takes a value: ffmpeg would take it as another output file (write options as "-name value")`},
		{"value that is a path", `["-metadata", "/srv/media/movie.mkv"]`, `[1]: "/srv/media/movie.mkv" looks like a path; ffmpeg_args may not name files`},
		{"value that is a file name", `["-tune", "movie.mkv"]`, `[1]: "movie.mkv" looks like a file name; ffmpeg_args may not name files`},
		{"-vf", `["-vf", "scale=10:10"]`, `[0]: "-vf" is refused: vpo sets the video filters (max_resolution); filters can write files`},
		{"-filter:v", `["-filter:v", "null"]`, `[0]: "-filter:v" is refused: vpo sets the video filters (max_resolution); filters can write files`},
		{"-af", `["-af", "volume=2"]`, `[0]: "-af" is refused: filters can read and write files`},
		{"option from a file", `["-/x265-params", "p.txt"]`, `[0]: "-/x265-params" is refused: it reads the option's value from a file`},
		{"-pass", `["-pass", "1"]`, `[0]: "-pass" is refused: two-pass encoding writes log files (two_pass is not supported)`},
		{"double dash", `["--", "/srv/media/other.mkv"]`, `[0]: "--" is refused: ffmpeg takes the word after it as another output file`},
		{"double dash and a dash name", `["--", "-pwned.mkv"]`, `[0]: "--" is refused: ffmpeg takes the word after it as another output file`},
		{"boolean options", `["-bitexact", "x.mkv"]`, `[1]: "x.mkv" follows no option that takes a value: ffmpeg would take it as another output file (write options as "-name value")`},
		{"psnr", `["-psnr", "pwned"]`, `[1]: "pwned" follows no option that takes a value: ffmpeg would take it as another output file (write options as "-name value")`},
		{"stats file in x264-params", `["-x264-params", "stats=pwned:pass=1"]`, `[1]: "stats=pwned:pass=1" sets stats, which reads or writes files; ffmpeg_args may not name files`},
		{"csv in x265-params", `["-x265-params", "aq-mode=3:csv=log"]`, `[1]: "aq-mode=3:csv=log" sets csv, which reads or writes files; ffmpeg_args may not name files`},
		{"-dcodec", `["-dcodec", "copy"]`, `[0]: "-dcodec" is refused: vpo chooses the codecs`},
		{"-filter_complex_script", `["-filter_complex_script", "x"]`, `[0]: "-filter_complex_script" is refused: it reads files`},
		{"-target", `["-target", "pal-dvd"]`, `[0]: "-target" is refused: it chooses the format and codecs`},
		{"dump_yuv with an underscore", `["-x264-params", "dump_yuv=library.db"]`, `[1]: "dump_yuv=library.db" sets dump-yuv, which reads or writes files; ffmpeg_args may not name files`},
		{"analysis_save", `["-x265-params", "analysis_save=foo4"]`, `[1]: "analysis_save=foo4" sets analysis-save, which reads or writes files; ffmpeg_args may not name files`},
		{"x264opts", `["-x264opts", "dump-yuv=foo3"]`, `[1]: "dump-yuv=foo3" sets dump-yuv, which reads or writes files; ffmpeg_args may not name files`},
		{"a key naming a file", `["-svtav1-params", "stat_file=foo"]`, `[1]: "stat_file=foo" sets stat-file, which reads or writes files; ffmpeg_args may not name files`},
		{"recon y4m exec", `["-x265-params", "recon-y4m-exec=sh"]`, `[1]: "recon-y4m-exec=sh" sets recon-y4m-exec, which reads or writes files; ffmpeg_args may not name files`},
		{"recast_media then a file", `["-recast_media", "victim.265"]`, `[1]: "victim.265" follows no option that takes a value: ffmpeg would take it as another output file (write options as "-name value")`},
		{"digit extension", `["-tag:v", "x.265"]`, `[1]: "x.265" looks like a file name; ffmpeg_args may not name files`},
		{"preset file", `["-fpre", "foo"]`, `[0]: "-fpre" is refused: it reads a preset file`},
		{"stdout", `["-"]`, `[0]: "-" alone is standard output; vpo writes the output itself`},
		{"url", `["-metadata", "comment=see https://x"]`, `[1]: "comment=see https://x" looks like a URL; ffmpeg_args may not name files or streams`},
		{"file protocol", `["-metadata", "file:/etc/passwd"]`, `[1]: "file:/etc/passwd" names an ffmpeg protocol (file); ffmpeg_args may not name files or streams`},
		{"pipe protocol", `["-metadata", "pipe:1"]`, `[1]: "pipe:1" names an ffmpeg protocol (pipe); ffmpeg_args may not name files or streams`},
		{"tcp protocol", `["-metadata", "TCP:host"]`, `[1]: "TCP:host" names an ffmpeg protocol (tcp); ffmpeg_args may not name files or streams`},
		{"http", `["-metadata", "http_proxy"]`, `[1]: "http_proxy" names an ffmpeg protocol (http); ffmpeg_args may not name files or streams`},
		{"bare path", `["/tmp/out.mkv"]`, `[0]: "/tmp/out.mkv" follows no option that takes a value: ffmpeg would take it as another output file (write options as "-name value")`},
		{"second value", `["-bf", "4", "extra.mkv"]`, `[2]: "extra.mkv" follows no option that takes a value: ffmpeg would take it as another output file (write options as "-name value")`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := phaseWith("    transcode:\n      video:\n        to: hevc\n        ffmpeg_args: " + tt.args + "\n")
			p, err := policy.Parse(file, []byte(src))
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Parse = nil error, want %q", tt.want)
			}
			want := file + ":7: phases[0].transcode.video.ffmpeg_args" + tt.want + ` (ffmpeg_args are output options, "-name" or "-name value"; vpo owns the inputs, outputs, stream mapping, codecs, hardware and progress)`
			if err.Error() != want {
				t.Errorf("error = %q\nwant      %q", err, want)
			}
			_ = p
		})
	}
}

// TestCheckTranscode: the transcode features vpo does not run yet are
// reported at their lines; the rest of the block is not.
func TestCheckTranscode(t *testing.T) {
	src := phaseWith(`    transcode:
      video:
        to: vp9
        two_pass: true
        upscale: true
      audio:
        to: truehd
`)
	p, err := policy.Parse(file, []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		file + ":6: phases[0].transcode.video.to: vp9 is not supported by vpo yet (use h264, hevc or av1)",
		file + ":7: phases[0].transcode.video.two_pass: true is not supported by vpo yet (encodes run in one pass)",
		file + ":8: phases[0].transcode.video.upscale: true is not supported by vpo yet (vpo scales down only)",
		file + ":10: phases[0].transcode.audio.to: truehd is not supported by vpo yet (use aac, ac3, eac3, flac, opus, mp3)",
	}
	var got []string
	for _, e := range policy.Problems(p.Check()) {
		got = append(got, e.Error())
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("Check:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestParseContainerTranscode: on_incompatible_codec: transcode is
// supported, and makes the policy one that may re-encode.
func TestParseContainerTranscode(t *testing.T) {
	p, err := policy.Parse(file, []byte(phaseWith("    container: {target: mp4, on_incompatible_codec: transcode}\n")))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Check(); err != nil || !p.HasTranscode() || p.Phases[0].Container.OnIncompatibleCodec != policy.IncompatibleTranscode {
		t.Errorf("Check %v, HasTranscode %v, container %+v", err, p.HasTranscode(), p.Phases[0].Container)
	}
}

// TestPlanScaling: max_resolution, max_width and max_height scale down
// only, keep the aspect ratio and give even sides.
func TestPlanScaling(t *testing.T) {
	tests := []struct {
		limits       string
		w, h         int
		wantW, wantH int
		scale        bool
	}{
		{"max_resolution: 1080p", 3840, 2160, 1920, 1080, true},
		{"max_resolution: 1080p", 3996, 2160, 1920, 1036, true},
		{"max_resolution: 1080p", 1080, 1920, 606, 1080, true}, // portrait
		{"max_resolution: 1080p", 1920, 1080, 1920, 1080, false},
		{"max_resolution: 1080p", 1280, 720, 1280, 720, false}, // never up
		{"max_resolution: 720p", 1440, 1081, 958, 720, true},
		{"max_resolution: 480p", 1920, 800, 854, 354, true},
		{"max_width: 1001", 2000, 1000, 1000, 500, true},
		{"max_height: 3", 1000, 1000, 2, 2, true},
		{"max_resolution: 4k, max_width: 1280", 3840, 2160, 1280, 720, true},
	}
	for _, tt := range tests {
		src := phaseWith("    transcode:\n      video: {to: hevc, " + tt.limits + "}\n")
		p, err := policy.Parse(file, []byte(src))
		if err != nil {
			t.Fatalf("%s: %v", tt.limits, err)
		}
		probe := `{"format":{"format_name":"matroska,webm"},"streams":[{"index":0,"codec_type":"video","codec_name":"hevc","width":` +
			strconv.Itoa(tt.w) + `,"height":` + strconv.Itoa(tt.h) + `}]}`
		f, err := media.FromFFProbe([]byte(probe), p.MediaOptions())
		if err != nil {
			t.Fatal(err)
		}
		plan, err := p.Plan(f)
		if err != nil {
			t.Fatalf("%s %dx%d: %v", tt.limits, tt.w, tt.h, err)
		}
		got := plan.Target.Tracks[0]
		if got.Width != tt.wantW || got.Height != tt.wantH || plan.Encodes() != tt.scale {
			t.Errorf("%s %dx%d: %dx%d encodes %v, want %dx%d encodes %v", tt.limits, tt.w, tt.h, got.Width, got.Height, plan.Encodes(), tt.wantW, tt.wantH, tt.scale)
		}
		if tt.scale && (got.Encode == nil || !got.Encode.Scale || got.Encode.ScaleAlgorithm != "lanczos") {
			t.Errorf("%s %dx%d: encode %+v, want a lanczos scale", tt.limits, tt.w, tt.h, got.Encode)
		}
	}
}

// TestCheckAudioTargets: every audio target upstream allows and vpo does
// not encode parses, and Check reports it at its line, so `vpo policy
// check` refuses the policy before a job would fail.
func TestCheckAudioTargets(t *testing.T) {
	for _, codec := range []string{"truehd", "dts", "pcm_s16le", "pcm_s24le"} {
		t.Run(codec, func(t *testing.T) {
			p, err := policy.Parse(file, []byte(phaseWith("    transcode:\n      video: {to: hevc}\n      audio:\n        bitrate: 640k\n        to: "+codec+"\n")))
			if err != nil {
				t.Fatal(err)
			}
			want := file + ":8: phases[0].transcode.audio.to: " + codec + " is not supported by vpo yet (use aac, ac3, eac3, flac, opus, mp3)"
			if err := p.Check(); err == nil || err.Error() != want {
				t.Errorf("Check = %v\nwant %s", err, want)
			}
			if _, err := p.Plan(media.File{FormatNames: []string{"matroska"}}); !errors.Is(err, policy.ErrUnsupported) {
				t.Errorf("Plan error %v, want ErrUnsupported", err)
			}
		})
	}
}
