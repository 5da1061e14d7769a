package applyjob

import "github.com/vpo-project/vpo/libs/media"

// Track is one track of a file as the API shows it (GET /api/files/{id}
// and the history's tracks_before and tracks_after).
type Track struct {
	Index      int    `json:"index"`
	Type       string `json:"type"`
	Codec      string `json:"codec"`
	Language   string `json:"language"`
	Title      string `json:"title"`
	Channels   int    `json:"channels"`
	Width      int    `json:"width"`
	Height     int    `json:"height"`
	Default    bool   `json:"default"`
	Forced     bool   `json:"forced"`
	Commentary bool   `json:"commentary"`
}

// Tracks lists the streams of f as Tracks, in ffprobe's order.
func Tracks(f media.File) []Track {
	out := make([]Track, 0, len(f.Streams))
	for _, s := range f.Streams {
		out = append(out, Track{
			Index: s.Index, Type: string(s.Type), Codec: s.Codec, Language: s.Language, Title: s.Title,
			Channels: s.Channels, Width: s.Width, Height: s.Height, Default: s.Default, Forced: s.Forced,
			Commentary: s.Commentary,
		})
	}
	return out
}
