package apply

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/vpo-project/vpo/libs/media"
)

// identifyTimeout bounds one `mkvmerge -J`.
const identifyTimeout = 60 * time.Second

// mkvTrack is one track or attachment of a Matroska file as mkvmerge
// names it.
type mkvTrack struct {
	// ID is mkvmerge's track ID (0-based) or attachment ID (1-based).
	ID int
	// Number is the Matroska track number (mkvpropedit's track:@N); 0 for
	// attachments.
	Number int
}

// mkvIdentity is what `mkvmerge -J` says about a file that vpo uses.
type mkvIdentity struct {
	Tracks []struct {
		ID         int    `json:"id"`
		Type       string `json:"type"`
		Properties struct {
			Number int `json:"number"`
		} `json:"properties"`
	} `json:"tracks"`
	Attachments []struct {
		ID int `json:"id"`
	} `json:"attachments"`
	Errors []string `json:"errors"`
}

// matroskaTracks maps each ffprobe stream index of src (a Matroska file
// at path) to mkvmerge's ID and Matroska track number. ffprobe lists a
// Matroska file's tracks in their order, then its attachments; mkvmerge's
// tracks and attachments are matched to them in that order, and any
// difference in count or type is an error rather than a guess.
func (e *Executor) matroskaTracks(ctx context.Context, path string, src media.File) (map[int]mkvTrack, error) {
	ctx, cancel := context.WithTimeout(ctx, identifyTimeout)
	defer cancel()
	out, err := e.run(ctx, "mkvmerge", e.tools.MkvMerge, []string{"-J", path}, true)
	if err != nil {
		// mkvmerge -J exits 0 even for files it cannot read, and prints
		// JSON with errors; an exit error is a failure of the tool.
		return nil, fmt.Errorf("identify tracks: %w", err)
	}
	var id mkvIdentity
	if err := json.Unmarshal(out, &id); err != nil {
		return nil, fmt.Errorf("identify tracks: mkvmerge -J %s: %w", path, err)
	}
	if len(id.Errors) > 0 {
		return nil, fmt.Errorf("identify tracks: mkvmerge -J %s: %s", path, strings.Join(id.Errors, "; "))
	}
	m := make(map[int]mkvTrack, len(src.Streams))
	tracks, attachments := 0, 0
	for _, s := range src.Streams {
		if s.Type == media.StreamAttachment {
			if attachments >= len(id.Attachments) {
				return nil, fmt.Errorf("identify tracks of %s: ffprobe lists more attachments than mkvmerge's %d", path, len(id.Attachments))
			}
			m[s.Index] = mkvTrack{ID: id.Attachments[attachments].ID}
			attachments++
			continue
		}
		if tracks >= len(id.Tracks) {
			return nil, fmt.Errorf("identify tracks of %s: ffprobe lists more tracks than mkvmerge's %d", path, len(id.Tracks))
		}
		t := id.Tracks[tracks]
		if mkvType(t.Type) != s.Type {
			return nil, fmt.Errorf("identify tracks of %s: ffprobe's stream %d is %s, mkvmerge's track %d is %s", path, s.Index, s.Type, t.ID, t.Type)
		}
		if t.Properties.Number <= 0 {
			return nil, fmt.Errorf("identify tracks of %s: mkvmerge gives track %d no track number", path, t.ID)
		}
		m[s.Index] = mkvTrack{ID: t.ID, Number: t.Properties.Number}
		tracks++
	}
	if tracks != len(id.Tracks) || attachments != len(id.Attachments) {
		return nil, fmt.Errorf("identify tracks of %s: ffprobe lists %d tracks and %d attachments, mkvmerge %d and %d",
			path, tracks, attachments, len(id.Tracks), len(id.Attachments))
	}
	return m, nil
}

// mkvType is the stream type of an mkvmerge track type.
func mkvType(t string) media.StreamType {
	switch t {
	case "video":
		return media.StreamVideo
	case "audio":
		return media.StreamAudio
	case "subtitles":
		return media.StreamSubtitle
	}
	return media.StreamData
}
