package policy

import (
	"fmt"
	"strconv"
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
	"y":                     "it overwrites files without asking",
	"n":                     "it changes how existing files are treated",
	"i":                     "it adds an input",
	"f":                     "vpo chooses the output format",
	"format":                "vpo chooses the output format",
	"map":                   "vpo chooses the streams",
	"map_metadata":          "vpo chooses the metadata",
	"progress":              "vpo reads ffmpeg's progress itself",
	"stats_period":          "vpo reads ffmpeg's progress itself",
	"filter_complex":        "it can read inputs and write outputs of its own",
	"lavfi":                 "it can read inputs and write outputs of its own",
	"dump_attachment":       "it writes files",
	"attach":                "it reads files",
	"report":                "it writes files",
	"passlogfile":           "it writes files",
	"vstats":                "it writes files",
	"vstats_file":           "it writes files",
	"sdp_file":              "it writes files",
	"init_hw_device":        "vpo sets up the hardware (transcode.video.hw)",
	"filter_hw_device":      "vpo sets up the hardware (transcode.video.hw)",
	"c":                     "vpo chooses the codec (transcode.video.to)",
	"codec":                 "vpo chooses the codec (transcode.video.to)",
	"vcodec":                "vpo chooses the codec (transcode.video.to)",
	"acodec":                "vpo chooses the codec (transcode.audio.to)",
	"scodec":                "vpo chooses the codecs",
	"dcodec":                "vpo chooses the codecs",
	"vf":                    "vpo sets the video filters (max_resolution); filters can write files",
	"af":                    "filters can read and write files",
	"filter":                "vpo sets the video filters (max_resolution); filters can write files",
	"filter_script":         "it reads files",
	"filter_complex_script": "it reads files",
	"fpre":                  "it reads a preset file",
	"vpre":                  "it reads a preset file",
	"apre":                  "it reads a preset file",
	"spre":                  "it reads a preset file",
	"pass":                  "two-pass encoding writes log files (two_pass is not supported)",
	"target":                "it chooses the format and codecs",
}

// flagOptions are ffmpeg's output options that take no value; so do their
// "no" forms (-noshortest). A word after one of them is not its value but
// another output file.
var flagOptions = map[string]bool{
	"an": true, "vn": true, "sn": true, "dn": true, "shortest": true, "copyts": true,
	"start_at_zero": true, "copyinkf": true, "bitexact": true, "stats": true,
	"hide_banner": true, "benchmark": true, "benchmark_all": true, "xerror": true,
	"debug_ts": true, "dump": true, "hex": true, "re": true, "autorotate": true,
	"autoscale": true, "ignore_unknown": true, "copy_unknown": true, "fix_sub_duration": true,
	"accurate_seek": true, "seek_timestamp": true, "intra": true, "psnr": true,
	"qphist": true, "deinterlace": true, "stdin": true, "recast_media": true, "force_fps": true,
	"auto_conversion_filters": true, "find_stream_info": true, "print_graphs": true,
}

// isFlag reports whether the option name (without "-") takes no value.
func isFlag(name string) bool {
	return flagOptions[name] || strings.HasPrefix(name, "no") && flagOptions[name[2:]]
}

// protocols are the prefixes of values that name a file or a stream
// through one of ffmpeg's protocols.
var protocols = []string{"file:", "pipe:", "fd:", "tcp:", "udp:", "unix:", "http", "rtmp", "rtp:", "rtsp:",
	"srt:", "tls:", "ftp:", "sftp:", "concat:", "subfile:", "data:", "crypto:", "cache:", "async:", "gopher:", "smb:"}

// CheckFFmpegArgs returns nil when args may be passed to ffmpeg as a
// policy's transcode.video.ffmpeg_args (the rules documented on
// VideoTranscode.FFmpegArgs), else an error naming the first bad argument
// by its index. Parse applies it to policy files; executors apply it again
// to the plans they are given.
func CheckFFmpegArgs(args []string) error {
	if i, why := checkFFmpegArgs(args); i >= 0 {
		return fmt.Errorf("ffmpeg_args[%d]: %s (%s)", i, why, ffmpegArgsRule)
	}
	return nil
}

// isOption reports whether arg is an ffmpeg option ("-name"), not a value
// such as "-1" or "-0.5".
func isOption(arg string) bool {
	if len(arg) < 2 || arg[0] != '-' {
		return false
	}
	_, err := strconv.ParseFloat(arg, 64)
	return err != nil
}

// encoderFileParams are the keys of the encoders' own option lists
// (-x264-params, -x264opts, -x265-params, -svtav1-params, -aom-params),
// with "-" for "_" (the encoders take both), that read or write files or
// run commands: statistics of multi-pass encodes, logs, dumps, tables,
// reconstructed output.
var encoderFileParams = []string{"stats", "pass", "csv", "analysis-save", "analysis-load", "analysis-reuse-file",
	"recon", "recon-y4m-exec", "qpfile", "dhdr10-info", "dolby-vision-rpu", "scaling-list", "lambda-file",
	"zonefile", "zone-file", "dump-yuv", "tcfile-in", "tcfile-out", "cqmfile", "stat-file", "input-stat-file",
	"output-stat-file", "fgs-table", "fpmbstats", "passlogfile", "log-file", "hist-file"}

// fileParam returns the key of value that reads or writes a file when opt
// is an encoder's option list (-x265-params a=1:b=2), else "".
func fileParam(opt, value string) string {
	name, _, _ := strings.Cut(strings.ToLower(strings.TrimPrefix(opt, "-")), ":")
	if !strings.HasSuffix(name, "-params") && !strings.HasSuffix(name, "_params") && !strings.HasSuffix(name, "opts") {
		return ""
	}
	for _, kv := range strings.FieldsFunc(value, func(r rune) bool { return r == ':' || r == ',' }) {
		key, _, _ := strings.Cut(kv, "=")
		key = strings.ReplaceAll(strings.ToLower(strings.TrimSpace(key)), "_", "-")
		for _, bad := range encoderFileParams {
			if key == bad || strings.Contains(key, "file") || strings.Contains(key, "exec") {
				return key
			}
		}
	}
	return ""
}

// fileLike says why a value looks like the name of a file ("" when it does
// not): a path ("/" other than in a ratio such as 24000/1001) or a name
// with an extension ("out.mkv"; "1.5" and "aq-mode=0.5" are not).
func fileLike(v string) string {
	if strings.Contains(v, "/") {
		num, den, _ := strings.Cut(v, "/")
		if _, err := strconv.ParseUint(num, 10, 64); err != nil || strings.Contains(den, "/") {
			return "looks like a path"
		}
		if _, err := strconv.ParseUint(den, 10, 64); err != nil {
			return "looks like a path"
		}
	}
	if strings.ContainsAny(v, "=:,") {
		return "" // key=value lists, time stamps, filter-less option strings
	}
	if dot := strings.LastIndexByte(v, '.'); dot > 0 && dot < len(v)-1 {
		// "x.265" names a raw HEVC file as surely as "x.mkv" a
		// Matroska one; "1.5" is a number.
		ext := v[dot+1:]
		if _, err := strconv.ParseFloat(v, 64); err != nil && len(ext) <= 5 && strings.IndexFunc(ext, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
		}) < 0 {
			return "looks like a file name"
		}
	}
	return ""
}

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
		if arg == "-" {
			return i, `"-" alone is standard output; vpo writes the output itself`
		}
		if !isOption(arg) {
			if !valueAllowed {
				return i, fmt.Sprintf("%q follows no option that takes a value: ffmpeg would take it as another output file (write options as \"-name value\")", arg)
			}
			if why := fileLike(arg); why != "" {
				return i, fmt.Sprintf("%q %s; ffmpeg_args may not name files", arg, why)
			}
			if key := fileParam(args[i-1], arg); key != "" {
				return i, fmt.Sprintf("%q sets %s, which reads or writes files; ffmpeg_args may not name files", arg, key)
			}
			valueAllowed = false
			continue
		}
		if arg == "--" {
			return i, `"--" is refused: ffmpeg takes the word after it as another output file`
		}
		if strings.HasPrefix(arg, "-/") {
			return i, fmt.Sprintf("%q is refused: it reads the option's value from a file", arg)
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
		valueAllowed = !isFlag(name)
	}
	return -1, ""
}
