package apply

import (
	"fmt"
	"strings"
	"time"

	"github.com/vpo-project/vpo/libs/media"
	"github.com/vpo-project/vpo/libs/policy"
)

// durationTolerance is how far a result's duration may be from the
// source's.
const durationTolerance = 500 * time.Millisecond

// verify compares a result's probe with the plan's target and the
// source's duration; every difference is named in one error wrapping
// ErrVerify. A Matroska file lists its attachments after its tracks, so
// both sides are compared tracks first, attachments after, each in order.
func verify(got media.File, target policy.Target, source media.File) error {
	want := tracksFirst(target.Tracks)
	var diffs []string
	if len(got.Streams) != len(want) {
		diffs = append(diffs, fmt.Sprintf("%d streams, the target has %d", len(got.Streams), len(want)))
	}
	for i := 0; i < len(got.Streams) && i < len(want); i++ {
		g, w := got.Streams[i], want[i]
		// A target's sizes are as shown (a re-encode is turned upright).
		gw, gh := g.DisplaySize()
		for _, c := range []struct {
			field     string
			got, want any
		}{
			{"type", string(g.Type), w.Type},
			{"codec", g.Codec, w.Codec},
			{"language", g.Language, media.NormalizeLanguage(w.Language)},
			{"title", g.Title, w.Title},
			{"default", g.Default, w.Default},
			{"forced", g.Forced, w.Forced},
			{"width", gw, encodedSize(w, w.Width, gw)},
			{"height", gh, encodedSize(w, w.Height, gh)},
		} {
			if c.field != "type" && c.field != "codec" && g.Type == media.StreamAttachment {
				continue
			}
			if c.got != c.want {
				diffs = append(diffs, fmt.Sprintf("stream %d (source %d) %s is %q, the target has %q", i, w.Source, c.field, fmt.Sprint(c.got), fmt.Sprint(c.want)))
			}
		}
	}
	if source.Duration > 0 {
		d := got.Duration - source.Duration
		if d < -durationTolerance || d > durationTolerance {
			diffs = append(diffs, fmt.Sprintf("duration %s, the source's is %s", got.Duration, source.Duration))
		}
	}
	if len(diffs) > 0 {
		return fmt.Errorf("%w: %s", ErrVerify, strings.Join(diffs, "; "))
	}
	return nil
}

// encodedSize is the width or height (want) a result's stream must have:
// that of the target for a re-encoded video track that names it, else
// what the result has (not compared).
func encodedSize(w policy.TargetTrack, want, got int) int {
	if w.Encode != nil && w.Type == string(media.StreamVideo) && want > 0 {
		return want
	}
	return got
}

// tracksFirst returns ts with its attachments moved after its other
// tracks, each kept in order.
func tracksFirst(ts []policy.TargetTrack) []policy.TargetTrack {
	out := make([]policy.TargetTrack, 0, len(ts))
	for _, t := range ts {
		if t.Type != string(media.StreamAttachment) {
			out = append(out, t)
		}
	}
	for _, t := range ts {
		if t.Type == string(media.StreamAttachment) {
			out = append(out, t)
		}
	}
	return out
}
