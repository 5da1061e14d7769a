package transcode

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/vpo-project/vpo/libs/policy"
)

// Method is how video is encoded: in software or with a hardware API.
type Method string

// The methods (the values of Result.HW).
const (
	Software Method = "none"
	VAAPI    Method = "vaapi"
	NVENC    Method = "nvenc"
	QSV      Method = "qsv"
)

// HW is the hardware a transcode encodes video with.
type HW struct {
	Method Method
	// Device is the VAAPI render node (/dev/dri/renderD128); unused by
	// the other methods.
	Device string
}

// Track is one output track of a transcode, in output order.
type Track struct {
	// Source is the input's stream index; Type its type ("video").
	Source int
	Type   string
	// Codec is the track's codec in the result.
	Codec string
	// Width and Height are the video's size in the result, used when
	// Encode.Scale is set.
	Width, Height int
	// Encode re-encodes the track; nil copies it.
	Encode *policy.Encode
}

// Spec is one ffmpeg run of a transcode.
type Spec struct {
	Input, Output string
	// Format is ffmpeg's muxer: "matroska" or "mp4".
	Format string
	Tracks []Track
	HW     HW
	// Encoders are the encoders ffmpeg lists (ffmpeg -encoders), used to
	// pick an AV1 encoder; nil takes libsvtav1.
	Encoders map[string]bool
	// Metadata are output options set after the encoders' (dispositions,
	// titles, languages), built by the caller.
	Metadata []string
}

// The software encoders of the video codecs, and the audio encoders.
var (
	softwareVideo = map[string][]string{
		"hevc": {"libx265"},
		"h264": {"libx264"},
		// libsvtav1 is much faster than libaom-av1 at a like quality.
		"av1": {"libsvtav1", "libaom-av1"},
	}
	audioEncoders = map[string]string{
		"aac": "aac", "ac3": "ac3", "eac3": "eac3", "opus": "libopus", "flac": "flac", "mp3": "libmp3lame",
	}
	// audioLayouts are the channel layouts of the audio encoders that
	// refuse some (ffmpeg's aformat picks the nearest one of them).
	audioLayouts = map[string]string{
		"libopus":    "mono|stereo|3.0|quad|5.0|5.1|6.1|7.1",
		"ac3":        "mono|stereo|3.0|quad|5.0|5.0(side)|5.1|5.1(side)",
		"eac3":       "mono|stereo|3.0|quad|5.0|5.0(side)|5.1|5.1(side)",
		"libmp3lame": "mono|stereo",
	}
	// x26xPresets are x264's and x265's preset names, fastest first; the
	// other encoders' presets are mapped from them.
	x26xPresets = []string{"ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo"}
	// svtAV1Presets, aomCPUUsed, nvencPresets and qsvPresets are the
	// mapped values, in the order of x26xPresets.
	svtAV1Presets = []string{"12", "11", "10", "9", "8", "7", "5", "4", "2", "0"}
	aomCPUUsed    = []string{"8", "7", "6", "5", "4", "3", "2", "1", "0", "0"}
	nvencPresets  = []string{"p1", "p2", "p3", "p3", "p4", "p4", "p5", "p6", "p7", "p7"}
	qsvPresets    = []string{"veryfast", "veryfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "veryslow"}
	scaleFlags    = []string{"lanczos", "bicubic", "bilinear", "bicublin", "spline", "area", "neighbor", "fast_bilinear", "gauss", "sinc"}
)

// VideoEncoder returns ffmpeg's encoder for codec with method m; for
// software AV1 the first of libsvtav1 and libaom-av1 that encoders lists
// (nil encoders: libsvtav1).
func VideoEncoder(codec string, m Method, encoders map[string]bool) (string, error) {
	switch m {
	case Software, "":
		names, ok := softwareVideo[codec]
		if !ok {
			return "", fmt.Errorf("video codec %q cannot be encoded (hevc, h264 or av1)", codec)
		}
		if encoders == nil {
			return names[0], nil
		}
		for _, n := range names {
			if encoders[n] {
				return n, nil
			}
		}
		return "", fmt.Errorf("ffmpeg has no %s encoder (%s)", codec, strings.Join(names, " or "))
	case VAAPI, NVENC, QSV:
		if _, ok := softwareVideo[codec]; !ok {
			return "", fmt.Errorf("video codec %q cannot be encoded (hevc, h264 or av1)", codec)
		}
		return codec + "_" + string(m), nil
	}
	return "", fmt.Errorf("unknown hardware method %q", m)
}

// EncoderEnv returns the environment variables (NAME=value) ffmpeg needs
// with encoder enc: SVT-AV1 prints its settings and advice ("Preset M12
// is mapped to M11", "Failed to set thread priority" under a lowered
// priority) to standard error whatever ffmpeg's -v says, unless SVT_LOG
// limits it to errors.
func EncoderEnv(enc string) []string {
	if enc == "libsvtav1" {
		return []string{"SVT_LOG=1"}
	}
	return nil
}

// AudioEncoder returns ffmpeg's encoder for an audio codec.
func AudioEncoder(codec string) (string, error) {
	if n, ok := audioEncoders[codec]; ok {
		return n, nil
	}
	return "", fmt.Errorf("audio codec %q cannot be encoded (aac, ac3, eac3, opus, flac or mp3)", codec)
}

// Args returns ffmpeg's arguments for s, and the encoder that names the
// transcode (the video's, else the first audio encoder's). Progress goes
// to standard output (-progress pipe:1) every half second. Output track
// k is input stream Tracks[k].Source; copied tracks are copied, encoded
// ones get their encoder's settings (see the package doc), then the
// policy's extra arguments, then s.Metadata, then the format and the
// output path.
func Args(s Spec) ([]string, string, error) {
	if s.Format != "matroska" && s.Format != "mp4" {
		return nil, "", fmt.Errorf("output format %q is not matroska or mp4", s.Format)
	}
	args := []string{"-nostdin", "-v", "error", "-y", "-progress", "pipe:1", "-stats_period", "0.5"}
	hwUsed := false
	for _, t := range s.Tracks {
		if t.Encode != nil && t.Type == "video" {
			hwUsed = true
		}
	}
	if hwUsed {
		switch s.HW.Method {
		case VAAPI:
			if s.HW.Device == "" {
				return nil, "", fmt.Errorf("vaapi: no render device")
			}
			args = append(args, "-vaapi_device", s.HW.Device)
		case QSV:
			args = append(args, "-init_hw_device", "qsv=hw", "-filter_hw_device", "hw")
		}
	}
	args = append(args, "-i", s.Input)
	for _, t := range s.Tracks {
		args = append(args, "-map", "0:"+strconv.Itoa(t.Source))
	}
	args = append(args, "-map_metadata", "0", "-max_muxing_queue_size", "4096")
	var name, firstAudio string
	var extra []string
	strict := false
	for k, t := range s.Tracks {
		n := strconv.Itoa(k)
		// ffmpeg 5 writes FLAC into MP4 only as an experimental feature.
		strict = strict || (s.Format == "mp4" && (t.Codec == "flac" || t.Encode != nil && t.Encode.Codec == "flac"))
		if t.Encode == nil {
			args = append(args, "-c:"+n, "copy")
			continue
		}
		// mkvmerge's statistics tags of the source stream (-map_metadata
		// copies them) would be wrong for the new one.
		for _, tag := range statisticsTags {
			args = append(args, "-metadata:s:"+n, tag+"=")
		}
		switch t.Type {
		case "video":
			if name != "" {
				return nil, "", fmt.Errorf("track %d: a second video track to encode; vpo encodes one", k)
			}
			enc, targs, err := videoArgs(n, t, s)
			if err != nil {
				return nil, "", fmt.Errorf("track %d (source stream %d): %w", k, t.Source, err)
			}
			if err := policy.CheckFFmpegArgs(t.Encode.FFmpegArgs); err != nil { // the parser checked them; a plan may come from elsewhere
				return nil, "", fmt.Errorf("track %d (source stream %d): %w", k, t.Source, err)
			}
			name = enc
			args = append(args, targs...)
			extra = append(extra, t.Encode.FFmpegArgs...)
		case "audio":
			enc, err := AudioEncoder(t.Encode.Codec)
			if err != nil {
				return nil, "", fmt.Errorf("track %d (source stream %d): %w", k, t.Source, err)
			}
			if firstAudio == "" {
				firstAudio = enc
			}
			args = append(args, "-c:"+n, enc)
			if layouts, ok := audioLayouts[enc]; ok {
				// A source layout the encoder refuses (5.1(side) for
				// Opus, 7.1 for AC-3) becomes the nearest it takes.
				args = append(args, "-filter:"+n, "aformat=channel_layouts="+layouts)
			}
			if t.Encode.Bitrate > 0 {
				args = append(args, "-b:"+n, strconv.FormatInt(t.Encode.Bitrate, 10))
			}
		default:
			return nil, "", fmt.Errorf("track %d (source stream %d): a %s track cannot be re-encoded", k, t.Source, t.Type)
		}
	}
	if name == "" {
		name = firstAudio
	}
	if name == "" {
		return nil, "", fmt.Errorf("no track is re-encoded")
	}
	if strict {
		args = append(args, "-strict", "experimental")
	}
	args = append(args, extra...)
	args = append(args, s.Metadata...)
	return append(args, "-f", s.Format, s.Output), name, nil
}

// videoArgs returns the encoder and its arguments for video track t,
// output stream n.
func videoArgs(n string, t Track, s Spec) (string, []string, error) {
	e := t.Encode
	enc, err := VideoEncoder(e.Codec, s.HW.Method, s.Encoders)
	if err != nil {
		return "", nil, err
	}
	args := []string{"-c:" + n, enc}
	var filters []string
	if e.Scale {
		if t.Width <= 0 || t.Height <= 0 || t.Width%2 != 0 || t.Height%2 != 0 {
			return "", nil, fmt.Errorf("scale to %dx%d: the size must be positive and even", t.Width, t.Height)
		}
		algo := e.ScaleAlgorithm
		if algo == "" {
			algo = "bicubic"
		}
		if !slices.Contains(scaleFlags, algo) {
			return "", nil, fmt.Errorf("scale algorithm %q is not one of %s", algo, strings.Join(scaleFlags, ", "))
		}
		filters = append(filters, fmt.Sprintf("scale=%d:%d:flags=%s", t.Width, t.Height, algo))
	}
	preset := -1
	if e.Preset != "" {
		if preset = slices.Index(x26xPresets, e.Preset); preset < 0 {
			return "", nil, fmt.Errorf("preset %q is not one of %s", e.Preset, strings.Join(x26xPresets, ", "))
		}
	}
	opt := func(name, value string) { args = append(args, "-"+name+":"+n, value) }
	crf := func(name string) {
		if e.CRF != nil {
			opt(name, strconv.Itoa(*e.CRF))
		}
	}
	switch s.HW.Method {
	case VAAPI:
		// Frames are scaled and converted in software, then uploaded:
		// simple, and right on every driver (8-bit: 10-bit sources become
		// 8-bit).
		filters = append(filters, "format=nv12", "hwupload")
		crf("qp")
	case QSV:
		filters = append(filters, "format=nv12", "hwupload=extra_hw_frames=64")
		crf("global_quality")
		if preset >= 0 {
			opt("preset", qsvPresets[preset])
		}
	case NVENC:
		if e.Codec == "h264" {
			filters = append(filters, "format=yuv420p")
		} else {
			filters = append(filters, "format=yuv420p|p010le")
		}
		crf("cq")
		if e.CRF != nil && e.Bitrate == 0 {
			// Without it nvenc caps a constant-quality encode at its
			// default bitrate.
			opt("b", "0")
		}
		if preset >= 0 {
			opt("preset", nvencPresets[preset])
		}
	default:
		// 4:2:0, the chroma every player decodes. H.264 stays 8-bit (10-bit
		// H.264 plays almost nowhere); HEVC and AV1 keep a 10-bit source
		// 10-bit (ffmpeg picks the listed format closest to the source).
		if e.Codec == "h264" {
			filters = append(filters, "format=yuv420p")
		} else {
			filters = append(filters, "format=yuv420p|yuv420p10le")
		}
		crf("crf")
		switch enc {
		case "libx264", "libx265":
			if enc == "libx265" {
				// x265 prints its settings and statistics to standard error
				// whatever ffmpeg's -v says.
				opt("x265-params", "log-level=error")
			}
			if preset >= 0 {
				opt("preset", e.Preset)
			}
			if e.Tune != "" {
				opt("tune", e.Tune)
			}
		case "libsvtav1":
			if preset >= 0 {
				opt("preset", svtAV1Presets[preset])
			}
		case "libaom-av1":
			if preset >= 0 {
				opt("cpu-used", aomCPUUsed[preset])
			}
			if e.CRF != nil && e.Bitrate == 0 {
				// libaom's constant-quality mode needs bitrate 0.
				opt("b", "0")
			}
		}
	}
	if e.Bitrate > 0 {
		opt("b", strconv.FormatInt(e.Bitrate, 10))
	}
	if e.MinBitrate > 0 {
		opt("minrate", strconv.FormatInt(e.MinBitrate, 10))
	}
	if e.MaxBitrate > 0 {
		opt("maxrate", strconv.FormatInt(e.MaxBitrate, 10))
		opt("bufsize", strconv.FormatInt(2*e.MaxBitrate, 10))
	}
	if e.Codec == "hevc" && s.Format == "mp4" {
		// The tag Apple's players need; ffprobe still says hevc.
		opt("tag", "hvc1")
	}
	opt("filter", strings.Join(filters, ","))
	return enc, args, nil
}

// statisticsTags are the stream tags mkvmerge writes about a track's
// bytes and frames.
var statisticsTags = []string{"BPS", "NUMBER_OF_FRAMES", "NUMBER_OF_BYTES", "_STATISTICS_TAGS", "_STATISTICS_WRITING_APP", "_STATISTICS_WRITING_DATE_UTC"}
