package policy

import (
	"fmt"
	"time"
)

// Summary is one policy file of a listing as vpo reports it: an entry of
// the daemon's GET /api/policies and the base of a row of `vpo policy
// list --json`. Lists are never null in its JSON: an empty list is [].
type Summary struct {
	Name     string `json:"name"`
	Filename string `json:"filename"`
	FilePath string `json:"file_path"`
	// LastModified is the file's modification time in UTC, nil when
	// unknown.
	LastModified  *time.Time `json:"last_modified"`
	SchemaVersion int        `json:"schema_version"`
	Description   string     `json:"description"`
	// AudioLanguages and SubtitleLanguages are the policy's config
	// languages.
	AudioLanguages    []string `json:"audio_languages"`
	SubtitleLanguages []string `json:"subtitle_languages"`
	HasTranscode      bool     `json:"has_transcode"`
	HasTranscription  bool     `json:"has_transcription"`
	// ParseError is why the file cannot be read or parsed, nil when it
	// parses.
	ParseError *string `json:"parse_error"`
	// Unsupported are the texts of the problems Check reports: the
	// features the policy uses that vpo does not run yet.
	Unsupported []string `json:"unsupported"`
}

// Summary returns what e says of its policy file. The fields that come
// from the policy stay zero (lists empty) when it did not parse.
func (e Entry) Summary() Summary {
	s := Summary{Name: e.Name, Filename: e.Filename, FilePath: e.Path,
		AudioLanguages: []string{}, SubtitleLanguages: []string{}, Unsupported: []string{}}
	if !e.ModTime.IsZero() {
		mt := e.ModTime.UTC()
		s.LastModified = &mt
	}
	err := e.Err
	if err == nil && e.Policy == nil {
		err = fmt.Errorf("%s: cannot be read", e.Path)
	}
	if err != nil {
		msg := err.Error()
		s.ParseError = &msg
	}
	if p := e.Policy; p != nil {
		s.SchemaVersion, s.Description = p.SchemaVersion, p.Description
		s.AudioLanguages = append(s.AudioLanguages, p.Config.AudioLanguages...)
		s.SubtitleLanguages = append(s.SubtitleLanguages, p.Config.SubtitleLanguages...)
		s.HasTranscode, s.HasTranscription = p.HasTranscode(), p.HasTranscription()
		for _, pr := range Problems(p.Check()) {
			s.Unsupported = append(s.Unsupported, pr.Error())
		}
	}
	return s
}
