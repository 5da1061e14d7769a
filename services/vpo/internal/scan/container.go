package scan

import (
	"path/filepath"
	"strings"

	"github.com/vpo-project/vpo/services/vpo/internal/apply"
)

// Container returns the container format named by a video file's extension,
// and false for files that are not videos of the library: other files, and
// the temporary files of rewrites in progress (apply.IsTempName), which a
// scan must not record.
func Container(name string) (string, bool) {
	if apply.IsTempName(filepath.Base(name)) {
		return "", false
	}
	switch strings.ToLower(filepath.Ext(name)) {
	case ".mkv", ".mk3d":
		return "matroska", true
	case ".webm":
		return "webm", true
	case ".mp4", ".m4v":
		return "mp4", true
	case ".mov":
		return "quicktime", true
	case ".avi":
		return "avi", true
	case ".ts", ".m2ts", ".mts":
		return "mpegts", true
	case ".mpg", ".mpeg":
		return "mpeg", true
	case ".wmv":
		return "asf", true
	case ".flv":
		return "flv", true
	case ".ogv":
		return "ogg", true
	case ".3gp":
		return "3gp", true
	}
	return "", false
}

// VideoExtensions lists the extensions Container knows, for messages.
const VideoExtensions = ".mkv, .mk3d, .webm, .mp4, .m4v, .mov, .avi, .ts, .m2ts, .mts, .mpg, .mpeg, .wmv, .flv, .ogv, .3gp"

// VideoExtensionList returns the extensions Container knows, lower case
// with their dot.
func VideoExtensionList() []string { return strings.Split(VideoExtensions, ", ") }
