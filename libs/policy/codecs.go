package policy

import (
	"strings"

	"github.com/vpo-project/vpo/libs/media"
)

// fits reports whether a stream of type typ and codec (ffprobe's
// codec_name) can be remuxed into container without transcoding. The
// lists are conservative: what is not known to work is refused, so a
// conversion fails in planning rather than in ffmpeg or mkvmerge.
func fits(container string, typ media.StreamType, codec string) bool {
	if codec == "" {
		return false
	}
	switch container {
	case ContainerMP4:
		switch typ {
		case media.StreamVideo:
			switch codec {
			case "h264", "hevc", "av1", "mpeg4", "vp9":
				return true
			}
		case media.StreamAudio:
			switch codec {
			case "aac", "ac3", "eac3", "mp3", "opus", "alac":
				return true
			}
		case media.StreamSubtitle:
			return codec == "mov_text"
		}
		return false
	case ContainerMKV:
		switch typ {
		case media.StreamVideo, media.StreamAudio, media.StreamAttachment:
			return true
		case media.StreamSubtitle:
			switch codec {
			case "subrip", "ass", "ssa", "webvtt", "hdmv_pgs_subtitle", "dvd_subtitle", "dvb_subtitle", "text":
				return true
			}
		}
		return false
	}
	return false
}

// codecFamilies are the names ffprobe and people use for the same audio
// codec, for default_flags.preferred_audio_codec.
var codecFamilies = [][]string{
	{"aac", "aac_latm", "mp4a"},
	{"ac3", "ac-3", "a52"},
	{"eac3", "e-ac-3", "ec3", "ddp"},
	{"dts", "dca", "dts-hd", "dts-hd ma", "dtshd"},
	{"truehd", "mlp"},
	{"mp3", "mp3float"},
	{"opus"},
	{"flac"},
	{"vorbis"},
	{"alac"},
}

// sameCodec reports whether a track's codec is the codec want names.
func sameCodec(codec, want string) bool {
	codec = strings.ToLower(codec)
	if codec == want {
		return true
	}
	if strings.HasPrefix(codec, "pcm_") && want == "pcm" {
		return true
	}
	for _, family := range codecFamilies {
		if contains(family, codec) && contains(family, want) {
			return true
		}
	}
	return false
}

// isFont reports whether an attachment's codec is a font.
func isFont(codec string) bool {
	switch strings.ToLower(codec) {
	case "ttf", "otf", "ttc", "woff", "woff2":
		return true
	}
	return false
}
