package policy

import (
	"fmt"
	"strings"
)

// Limits on transcode.video.ffmpeg_args.
const (
	// MaxFFmpegArgs is the most extra arguments a policy may pass.
	MaxFFmpegArgs = 50
	// MaxFFmpegArgLen is the longest one argument may be, in bytes.
	MaxFFmpegArgLen = 1024
)

// ffmpegArgsRule sums up the ffmpeg_args rules in an error message.
const ffmpegArgsRule = `ffmpeg_args are output options, "-name" or "-name value"; vpo owns the inputs, outputs, stream mapping, codecs, hardware and progress`

// deniedOptions are the ffmpeg options ffmpeg_args may not carry, by
// name without the leading "-" and without a stream specifier (":v"),
// with the reason. vpo owns the inputs, the outputs, the stream mapping,
// the codecs, the hardware set-up and the progress reporting of an
// encode; an option that changes any of them could write somewhere else
// than the temporary file, overwrite a file, read another input or break
// the verification of the result.
var deniedOptions = map[string]string{
	"y":                "it overwrites files without asking",
	"n":                "it changes how existing files are treated",
	"i":                "it adds an input",
	"f":                "vpo chooses the output format",
	"format":           "vpo chooses the output format",
	"map":              "vpo chooses the streams",
	"map_metadata":     "vpo chooses the metadata",
	"progress":         "vpo reads ffmpeg's progress itself",
	"stats_period":     "vpo reads ffmpeg's progress itself",
	"filter_complex":   "it can read inputs and write outputs of its own",
	"lavfi":            "it can read inputs and write outputs of its own",
	"dump_attachment":  "it writes files",
	"attach":           "it reads files",
	"report":           "it writes files",
	"passlogfile":      "it writes files",
	"vstats":           "it writes files",
	"vstats_file":      "it writes files",
	"sdp_file":         "it writes files",
	"init_hw_device":   "vpo sets up the hardware (transcode.video.hw)",
	"filter_hw_device": "vpo sets up the hardware (transcode.video.hw)",
	"c":                "vpo chooses the codec (transcode.video.to)",
	"codec":            "vpo chooses the codec (transcode.video.to)",
	"vcodec":           "vpo chooses the codec (transcode.video.to)",
	"acodec":           "vpo chooses the codec (transcode.audio.to)",
	"scodec":           "vpo chooses the codecs",
}

// protocols are the prefixes of values that name a file or a stream
// through one of ffmpeg's protocols.
var protocols = []string{"file:", "pipe:", "fd:", "tcp:", "udp:", "unix:", "http", "rtmp", "rtp:", "rtsp:",
	"srt:", "tls:", "ftp:", "sftp:", "concat:", "subfile:", "data:", "crypto:", "cache:", "async:", "gopher:", "smb:"}

// checkFFmpegArgs checks the extra output arguments of
// transcode.video.ffmpeg_args against the rules documented on
// VideoTranscode.FFmpegArgs; it returns the index of the first bad
// argument and why it is refused, or -1 and "".
func checkFFmpegArgs(args []string) (int, string) {
	if len(args) > MaxFFmpegArgs {
		return len(args) - 1, fmt.Sprintf("%d arguments are more than the %d ffmpeg_args may have", len(args), MaxFFmpegArgs)
	}
	valueAllowed := false
	for i, arg := range args {
		switch {
		case len(arg) > MaxFFmpegArgLen:
			return i, fmt.Sprintf("is %d bytes, longer than the %d an argument may be", len(arg), MaxFFmpegArgLen)
		case strings.ContainsAny(arg, "\x00\n\r"):
			return i, "must not hold a NUL byte or a line break"
		case arg == "":
			return i, "is empty"
		}
		lower := strings.ToLower(arg)
		if strings.Contains(lower, "://") {
			return i, fmt.Sprintf("%q looks like a URL; ffmpeg_args may not name files or streams", arg)
		}
		for _, p := range protocols {
			if strings.HasPrefix(strings.TrimLeft(lower, "-"), p) {
				return i, fmt.Sprintf("%q names an ffmpeg protocol (%s); ffmpeg_args may not name files or streams", arg, strings.TrimSuffix(p, ":"))
			}
		}
		if !strings.HasPrefix(arg, "-") {
			if !valueAllowed {
				return i, fmt.Sprintf("%q follows no option: ffmpeg would take it as another output file (write options as \"-name value\")", arg)
			}
			valueAllowed = false
			continue
		}
		if arg == "-" {
			return i, `"-" alone is standard output; vpo writes the output itself`
		}
		name := strings.ToLower(strings.TrimPrefix(arg, "-"))
		if base, _, ok := strings.Cut(name, ":"); ok {
			name = base
		}
		if why, denied := deniedOptions[name]; denied {
			return i, fmt.Sprintf("%q is refused: %s", arg, why)
		}
		if strings.HasPrefix(name, "hwaccel") {
			return i, fmt.Sprintf("%q is refused: vpo sets up the hardware (transcode.video.hw)", arg)
		}
		valueAllowed = true
	}
	return -1, ""
}
