package apply

import (
	"time"

	"github.com/vpo-project/vpo/libs/media"
	"github.com/vpo-project/vpo/libs/policy"
)

// Request is one plan to carry out on one file.
type Request struct {
	// Path is the absolute path of the file.
	Path string
	// Source is the probe the plan was made from.
	Source media.File
	// SourceSize and SourceMTime are the file's size and modification time
	// when the plan was made; a file that differs is ErrChanged.
	SourceSize  int64
	SourceMTime time.Time
	Plan        policy.Plan
	// KeepOriginal keeps the original as NAME.original.EXT.
	KeepOriginal bool
	// MinFileAge refuses files modified more recently (ErrStillChanging);
	// 0 turns the check off.
	MinFileAge time.Duration
	// Progress, when set, receives the tool's progress while it runs
	// (percent 0–100, a message such as "speed 2.4x, 00:01:10 of
	// 00:04:00", and the estimated time left, < 0 when unknown). It is
	// called only when the tool made progress since the last call, so a
	// tool that stops advancing stops calling it.
	Progress func(percent float64, message string, eta time.Duration) `json:"-"`
}

// Result is what an Apply did.
type Result struct {
	// Executor is "none" (empty plan), "mkvpropedit", "mkvmerge" or
	// "ffmpeg".
	Executor string
	// Path is the result's path: Request.Path, or the new name when the
	// container changed (x.mp4 → x.mkv).
	Path string
	// OriginalKept is the path of the kept original, "" when none.
	OriginalKept string
	// After is the probe of the result, AfterProbe ffprobe's JSON.
	After      media.File
	AfterProbe []byte
	Size       int64
	MTime      time.Time
	// Encoder names the video encoder a transcode used ("libx265",
	// "hevc_vaapi"), HW the hardware method ("none" for software), both
	// "" when nothing was re-encoded.
	Encoder string
	HW      string
}
