package apply

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/vpo-project/vpo/libs/media"
	"github.com/vpo-project/vpo/libs/policy"
)

// The containers a Target may name.
const (
	containerMKV = "mkv"
	containerMP4 = "mp4"
)

// choice is the executor chosen for a request.
type choice struct {
	executor string
	// convert is true when the container changes (the file gets a new
	// name).
	convert bool
}

// choose picks the executor for plan on a file probed as src (see the
// package doc), after checking that the plan's target can be made from
// src: every track of the source's type and codec, except that a track
// with an Encode has the codec it is encoded to.
func choose(src media.File, plan policy.Plan, inPlace bool) (choice, error) {
	if plan.Empty() {
		return choice{executor: ExecutorNone}, nil
	}
	t := plan.Target
	if t.Container != containerMKV && t.Container != containerMP4 {
		return choice{}, fmt.Errorf("target container %q is not mkv or mp4", t.Container)
	}
	if len(t.Tracks) == 0 {
		return choice{}, fmt.Errorf("target has no tracks")
	}
	seen := make(map[int]bool, len(t.Tracks))
	for i, tt := range t.Tracks {
		s, ok := streamByIndex(src, tt.Source)
		switch {
		case !ok:
			return choice{}, fmt.Errorf("target track %d: the source has no stream %d", i, tt.Source)
		case seen[tt.Source]:
			return choice{}, fmt.Errorf("target track %d: source stream %d is used twice", i, tt.Source)
		case tt.Encode != nil && string(s.Type) != tt.Type:
			return choice{}, fmt.Errorf("target track %d: source stream %d is %s, the target wants %s", i, tt.Source, s.Type, tt.Type)
		case tt.Encode != nil && tt.Type != string(media.StreamVideo) && tt.Type != string(media.StreamAudio):
			return choice{}, fmt.Errorf("target track %d: a %s track (source stream %d) cannot be re-encoded", i, tt.Type, tt.Source)
		case tt.Encode != nil && tt.Encode.Codec != tt.Codec:
			return choice{}, fmt.Errorf("target track %d: encoded to %q, but the target's codec is %q", i, tt.Encode.Codec, tt.Codec)
		case tt.Encode == nil && (string(s.Type) != tt.Type || s.Codec != tt.Codec):
			return choice{}, fmt.Errorf("target track %d: source stream %d is %s/%s, the target wants %s/%s without re-encoding it",
				i, tt.Source, s.Type, s.Codec, tt.Type, tt.Codec)
		case t.Container == containerMP4 && s.Type == media.StreamAttachment:
			return choice{}, fmt.Errorf("target track %d: an attachment (stream %d) cannot go into mp4", i, tt.Source)
		}
		seen[tt.Source] = true
	}
	from := sourceContainer(src)
	switch {
	case plan.Encodes():
		return choice{executor: ExecutorTranscode, convert: from != t.Container}, nil
	case from != t.Container:
		return choice{executor: ExecutorFFmpeg, convert: true}, nil
	case t.Container == containerMP4:
		return choice{executor: ExecutorFFmpeg}, nil
	case inPlace && sameTracks(src, t):
		return choice{executor: ExecutorMkvPropEdit}, nil
	default:
		return choice{executor: ExecutorMkvMerge}, nil
	}
}

// sourceContainer returns "mkv" or "mp4" for a file ffprobe read as
// Matroska or as MP4/QuickTime, "" for any other.
func sourceContainer(f media.File) string {
	switch {
	case slices.Contains(f.FormatNames, "matroska"):
		return containerMKV
	case slices.Contains(f.FormatNames, "mp4") || slices.Contains(f.FormatNames, "mov"):
		return containerMP4
	}
	return ""
}

// sameTracks reports whether t keeps every stream of src in its order.
func sameTracks(src media.File, t policy.Target) bool {
	if len(t.Tracks) != len(src.Streams) {
		return false
	}
	for i, tt := range t.Tracks {
		if tt.Source != src.Streams[i].Index {
			return false
		}
	}
	return true
}

// streamByIndex returns f's stream with ffprobe index i.
func streamByIndex(f media.File, i int) (media.Stream, bool) {
	for _, s := range f.Streams {
		if s.Index == i {
			return s, true
		}
	}
	return media.Stream{}, false
}

// convertedPath is path with the extension of container.
func convertedPath(path, container string) string {
	return strings.TrimSuffix(path, filepath.Ext(path)) + "." + container
}

// hasOtherLinks reports whether the file at path has more than one name
// (hard links).
func hasOtherLinks(path string) bool {
	st, err := os.Lstat(path)
	if err != nil {
		return false // the checks before the change report it
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	return ok && sys.Nlink > 1
}
