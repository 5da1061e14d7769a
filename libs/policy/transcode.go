package policy

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Transcode is a phase's transcode block (upstream VPO's V13 shape): how
// the video and the audio are re-encoded. A nil part leaves those tracks
// as they are.
type Transcode struct {
	Video *VideoTranscode `json:"video,omitempty"`
	Audio *AudioTranscode `json:"audio,omitempty"`
}

// The video codecs of transcode.video.to. vpo encodes h264, hevc and av1;
// vp9 is upstream's too and parsed, and Check reports it.
const (
	VideoH264 = "h264"
	VideoHEVC = "hevc"
	VideoAV1  = "av1"
	VideoVP9  = "vp9"
)

// The values of transcode.video.scale_algorithm.
const (
	ScaleLanczos  = "lanczos"
	ScaleBicubic  = "bicubic"
	ScaleBilinear = "bilinear"
)

var (
	// videoEncodes are the values of transcode.video.to vpo encodes;
	// upstream's vp9 is parsed too and Check reports it.
	videoEncodes = []string{VideoH264, VideoHEVC, VideoAV1}
	// audioEncodes are the values of transcode.audio.to vpo encodes;
	// audioLater are upstream's others, which Check reports.
	audioEncodes = []string{"aac", "ac3", "eac3", "flac", "opus", "mp3"}
	audioLater   = []string{"truehd", "dts", "pcm_s16le", "pcm_s24le"}
	// presets are the encoder speed presets, fastest first.
	presets = []string{"ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"}
	// tunes are x264's and x265's tunings; videoTunes those of the
	// encoder of each target codec (libx264, libx265; the AV1 encoders
	// have none of them).
	tunes      = []string{"film", "animation", "grain", "stillimage", "fastdecode", "zerolatency", "psnr", "ssim"}
	videoTunes = map[string][]string{
		VideoH264: {"film", "animation", "grain", "stillimage", "fastdecode", "zerolatency", "psnr", "ssim"},
		VideoHEVC: {"animation", "grain", "fastdecode", "zerolatency", "psnr", "ssim"},
		VideoAV1:  {},
	}
	scaleAlgorithms = []string{ScaleLanczos, ScaleBicubic, ScaleBilinear}
	hwMethods       = []string{HWAuto, HWNone, HWVAAPI, HWNVENC, HWQSV}
	// defaultPreserve is upstream's transcode.audio.preserve.
	defaultPreserve = []string{"truehd", "dts-hd", "flac", "pcm_s24le"}
)

// resolutions are upstream's named resolutions: the largest width and
// height each allows.
var resolutions = []struct {
	name          string
	width, height int
}{
	{"480p", 854, 480},
	{"720p", 1280, 720},
	{"1080p", 1920, 1080},
	{"1440p", 2560, 1440},
	{"4k", 3840, 2160},
	{"8k", 7680, 4320},
}

// resolutionNames lists the names of resolutions.
func resolutionNames() []string {
	out := make([]string, len(resolutions))
	for i, r := range resolutions {
		out[i] = r.name
	}
	return out
}

// resolutionBox returns the width and height a named resolution allows;
// ok is false for an unknown name.
func resolutionBox(name string) (width, height int, ok bool) {
	for _, r := range resolutions {
		if r.name == name {
			return r.width, r.height, true
		}
	}
	return 0, 0, false
}

// VideoTranscode is transcode.video, upstream's defaults filled in.
type VideoTranscode struct {
	// To is the target codec (Video*).
	To string `json:"to"`
	// SkipIf, when every condition it sets holds, leaves the video as it
	// is.
	SkipIf *SkipIf `json:"skip_if,omitempty"`
	// CRF (0..51) and TargetBitrate exclude each other; MinBitrate and
	// MaxBitrate bound either. Bit rates are in bits per second.
	// Tune is one of the target encoder's tunings (x264's for h264,
	// x265's for hevc); av1 takes none: the parser refuses the others.
	CRF           *int   `json:"crf,omitempty"`
	Preset        string `json:"preset"`
	Tune          string `json:"tune,omitempty"`
	TargetBitrate int64  `json:"target_bitrate,omitempty"`
	MinBitrate    int64  `json:"min_bitrate,omitempty"`
	MaxBitrate    int64  `json:"max_bitrate,omitempty"`
	// TwoPass is parsed; Check reports true.
	TwoPass bool `json:"two_pass"`
	// MaxResolution (a name such as 1080p), MaxWidth and MaxHeight bound
	// the picture; the smallest box they make wins. Scaling keeps the
	// aspect ratio and only goes down (Upscale true: Check reports it).
	MaxResolution  string `json:"max_resolution,omitempty"`
	MaxWidth       int    `json:"max_width,omitempty"`
	MaxHeight      int    `json:"max_height,omitempty"`
	ScaleAlgorithm string `json:"scale_algorithm"`
	Upscale        bool   `json:"upscale"`
	// HW is the hardware method (HW*, default auto), HWFallback whether a
	// failed hardware encode falls back to software (default true).
	HW         string `json:"hw"`
	HWFallback bool   `json:"hw_fallback"`
	// FFmpegArgs are extra ffmpeg output arguments. Parse refuses any
	// that could read or write other files, overwrite a file, or take
	// over what vpo owns (inputs, outputs, stream mapping, codecs,
	// hardware, progress):
	//
	// At most MaxFFmpegArgs arguments of at most MaxFFmpegArgLen bytes
	// each, with no NUL byte and no line break. The arguments are
	// options, each starting with "-" and optionally followed by one
	// value that does not: "-x265-params aq-mode=3 -tag:v hvc1 -bf 4". A
	// word where an option is expected (after a value, or after an option
	// that takes none, such as -an or -noshortest) is refused, since
	// ffmpeg would take it as another output file; so is a value that
	// looks like a file: one with a "/" (other than a ratio such as
	// 24000/1001) or a name with an extension such as "out.mkv". Options
	// starting with "-/" (value read from a file) are refused, and so
	// are keys of encoder option lists (-x264-params, -x264opts,
	// -x265-params, ...) that read or write files or run commands
	// (stats, dump-yuv or dump_yuv, analysis-save, csv, any key naming a
	// file or exec). These
	// options are refused, with or without a stream
	// specifier: -y, -n, -i, -f and -format, -map and -map_metadata,
	// -progress and -stats_period, -filter_complex and -lavfi,
	// -dump_attachment, -attach, -report, -passlogfile, -vstats and
	// -vstats_file, -sdp_file, -init_hw_device, -filter_hw_device and
	// every -hwaccel* option (the hardware is transcode.video.hw), and
	// -c, -codec, -vcodec, -acodec and -scodec (the codec is
	// transcode.video.to), -vf, -filter, -af, -filter_script and
	// -filter_complex_script (filters can read and write files; the
	// scaling is max_resolution), -pass and -target; so is "-" alone
	// (standard output). No
	// argument may name a protocol or a URL: none may contain "://" or
	// start with file:, pipe:, fd:, tcp:, udp:, unix:, http, rtmp, rtp:,
	// rtsp:, srt:, tls:, ftp:, sftp:, concat:, subfile:, data:, crypto:,
	// cache:, async:, gopher: or smb:.
	FFmpegArgs []string `json:"ffmpeg_args,omitempty"`
}

// SkipIf is transcode.video.skip_if: the video is left as it is when all
// the conditions set hold (upstream's rule).
type SkipIf struct {
	// CodecMatches are codec names; the condition holds when the video's
	// codec is one of them (h265 and x265 name hevc, avc and x264 h264).
	CodecMatches []string `json:"codec_matches,omitempty"`
	// ResolutionWithin is a named resolution; the condition holds when
	// the video is no wider and no taller.
	ResolutionWithin string `json:"resolution_within,omitempty"`
	// BitrateUnder is in bits per second; the condition holds when the
	// video's bit rate is known and lower.
	BitrateUnder int64 `json:"bitrate_under,omitempty"`
}

// AudioTranscode is transcode.audio, upstream's defaults filled in.
type AudioTranscode struct {
	// Preserve are codecs copied as they are (default truehd, dts-hd,
	// flac, pcm_s24le); "pcm" names every PCM codec, "dts-hd" a DTS
	// track whose profile is DTS-HD.
	Preserve []string `json:"preserve"`
	// To is the codec the other audio tracks are encoded to (default aac).
	To string `json:"to"`
	// Bitrate is in bits per second (default 192k).
	Bitrate int64 `json:"bitrate"`
}

// maxBitrate bounds any bit rate of a policy (bits per second).
const maxBitrate = 10_000_000_000

// parseBitrate reads a bit rate as upstream writes it: a number with k
// (thousands) or M (millions) after it, either case, or a plain number of
// bits per second: "192k", "10M", "2.5M", "128000".
func parseBitrate(s string) (int64, error) {
	text := strings.TrimSpace(s)
	mult := 1.0
	switch {
	case strings.HasSuffix(text, "k"), strings.HasSuffix(text, "K"):
		mult, text = 1e3, text[:len(text)-1]
	case strings.HasSuffix(text, "m"), strings.HasSuffix(text, "M"):
		mult, text = 1e6, text[:len(text)-1]
	}
	v, err := strconv.ParseFloat(text, 64)
	if err != nil || text == "" || strings.ContainsAny(text, "eEnNxX_") || math.IsNaN(v) {
		return 0, fmt.Errorf("%q is not a bit rate: write a number with k or M after it, such as 192k or 10M", s)
	}
	bits := v * mult
	if bits < 1 || bits > maxBitrate {
		return 0, fmt.Errorf("%q is out of range: a bit rate is from 1 to 10000M", s)
	}
	return int64(math.Round(bits)), nil
}

// formatBitrate prints bits per second as a policy would: "10M", "192k",
// "2500k", "1234".
func formatBitrate(bits int64) string {
	switch {
	case bits%1_000_000 == 0:
		return strconv.FormatInt(bits/1_000_000, 10) + "M"
	case bits%1000 == 0:
		return strconv.FormatInt(bits/1000, 10) + "k"
	default:
		return strconv.FormatInt(bits, 10)
	}
}

// formatRate prints a measured bit rate: "3.2 Mb/s", "640 kb/s".
func formatRate(bits int64) string {
	if bits >= 1_000_000 {
		return strconv.FormatFloat(float64(bits)/1e6, 'f', 1, 64) + " Mb/s"
	}
	return strconv.FormatFloat(float64(bits)/1e3, 'f', 0, 64) + " kb/s"
}

// videoFamilies are the names of one video codec.
var videoFamilies = [][]string{
	{"hevc", "h265", "h.265", "x265", "hvc1", "hev1"},
	{"h264", "h.264", "avc", "avc1", "x264"},
	{"vp9", "vp09"},
	{"av1", "av01", "libaom-av1"},
	{"mpeg4", "mp4v"},
}

// sameVideoCodec reports whether a video stream's codec is the codec want
// names.
func sameVideoCodec(codec, want string) bool {
	codec, want = strings.ToLower(codec), strings.ToLower(strings.TrimSpace(want))
	if codec == want {
		return true
	}
	for _, family := range videoFamilies {
		if contains(family, codec) && contains(family, want) {
			return true
		}
	}
	return false
}

// preserved reports whether an audio track of codec and profile is one
// of transcode.audio.preserve: the same codec (or an alias, see
// sameCodec), "pcm" for every PCM codec, and "dts-hd" only for a DTS
// track whose profile says DTS-HD (ffprobe names DTS-HD "dts" and tells
// it by the profile).
func preserved(codec, profile string, preserve []string) bool {
	codec = strings.ToLower(codec)
	hd := codec == "dts" && strings.HasPrefix(strings.ToLower(profile), "dts-hd")
	for _, p := range preserve {
		switch p {
		case "dts-hd", "dts-hd ma", "dtshd", "dts_hd":
			if hd {
				return true
			}
		default:
			if sameCodec(codec, p) {
				return true
			}
		}
	}
	return false
}
