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
}
