package policy

import (
	"github.com/vpo-project/vpo/libs/media"
)

// SchemaVersion is the one policy schema vpo reads: upstream VPO's V13.
const SchemaVersion = 13

// The values of Config.OnError.
const (
	OnErrorSkip     = "skip"
	OnErrorContinue = "continue"
	OnErrorFail     = "fail"
)

// The containers a policy can convert to (ContainerSpec.Target).
const (
	ContainerMKV = "mkv"
	ContainerMP4 = "mp4"
)

// The values of ContainerSpec.OnIncompatibleCodec.
const (
	IncompatibleError     = "error"
	IncompatibleSkip      = "skip"
	IncompatibleTranscode = "transcode"
)

// The values of Fallback.Mode.
const (
	FallbackContentLanguage = "content_language"
	FallbackKeepAll         = "keep_all"
	FallbackKeepFirst       = "keep_first"
	FallbackError           = "error"
)

// The track categories of track_order, upstream VPO's names.
const (
	CategoryVideo              = "video"
	CategoryAudioMain          = "audio_main"
	CategoryAudioAlternate     = "audio_alternate"
	CategoryAudioCommentary    = "audio_commentary"
	CategoryAudioMusic         = "audio_music"
	CategoryAudioSFX           = "audio_sfx"
	CategoryAudioNonSpeech     = "audio_non_speech"
	CategorySubtitleMain       = "subtitle_main"
	CategorySubtitleForced     = "subtitle_forced"
	CategorySubtitleCommentary = "subtitle_commentary"
	CategoryAttachment         = "attachment"
)

// Policy is a parsed policy file.
type Policy struct {
	// Name is the file name without .yaml or .yml; for Parse of bytes
	// without a file it is the display name, if any.
	Name string
	// File is the path it was read from, "" for Parse of bytes without a
	// file.
	File          string
	SchemaVersion int
	// DisplayName is the policy's own `name`, "" when it has none.
	DisplayName string
	Description string
	Category    string
	Config      Config
	Phases      []Phase
	// Source is the file's bytes.
	Source []byte

	// unsupported are the features the file uses that vpo does not run
	// yet, in the order of the file; Check reports them.
	unsupported                    Errors
	hasTranscode, hasTranscription bool
}

// Config is a policy's config block, with upstream's defaults filled in.
type Config struct {
	// AudioLanguages and SubtitleLanguages are ISO 639-2/B codes in order
	// of preference (default eng, und).
	AudioLanguages    []string
	SubtitleLanguages []string
	// CommentaryPatterns are regular expressions matched without regard
	// to case against track titles (default commentary, director, audio
	// description).
	CommentaryPatterns []string
	// OnError is skip, continue (the default) or fail: what a batch does
	// when a file fails.
	OnError string
	// KeepOriginal is vpo's extension: keep NAME.original.EXT next to
	// the result; nil leaves it to the configuration's
	// policies.keep_original.
	KeepOriginal *bool
}

// Phase is one named step of a policy. Its blocks run in a fixed order:
// the actions, the filters (audio, subtitles, attachments), the
// container, the track order and the default flags. A nil block is not
// part of the phase.
type Phase struct {
	Name string
	// Line is the line of the phase in the file.
	Line              int
	AudioActions      *TrackActions
	SubtitleActions   *TrackActions
	VideoActions      *TrackActions
	KeepAudio         *KeepAudio
	KeepSubtitles     *KeepSubtitles
	FilterAttachments *FilterAttachments
	Container         *ContainerSpec
	// TrackOrder are track categories (Category*) in output order; nil
	// leaves the order alone.
	TrackOrder   []string
	DefaultFlags *DefaultFlags
	// Transcode and Transcription are set when the phase has those blocks
	// (which vpo does not run yet).
	Transcode     bool
	Transcription bool
}

// TrackActions clean up the flags and titles of one type of track
// before the phase's filters run.
type TrackActions struct {
	ClearAllForced  bool
	ClearAllDefault bool
	ClearAllTitles  bool
}

// KeepAudio is the keep_audio block: which audio tracks stay.
type KeepAudio struct {
	// Languages are the ISO 639-2/B codes of the tracks to keep.
	Languages []string
	// Minimum is the number of audio tracks that must stay (default 1).
	Minimum int
	// Fallback is what happens when fewer than Minimum tracks are in
	// Languages; "" is error.
	Fallback string
	// Music and sound-effect tracks (recognised by their titles) are
	// kept and left out of the language filter by default.
	KeepMusicTracks                    bool
	ExcludeMusicFromLanguageFilter     bool
	KeepSFXTracks                      bool
	ExcludeSFXFromLanguageFilter       bool
	KeepNonSpeechTracks                bool
	ExcludeNonSpeechFromLanguageFilter bool
}

// KeepSubtitles is the keep_subtitles block.
type KeepSubtitles struct {
	// Languages are the codes to keep; nil keeps every language.
	Languages      []string
	PreserveForced bool
	RemoveAll      bool
}

// FilterAttachments is the filter_attachments block.
type FilterAttachments struct {
	RemoveAll bool
}

// ContainerSpec is the container block.
type ContainerSpec struct {
	// Target is mkv or mp4.
	Target string
	// OnIncompatibleCodec is error (the default) or skip (transcode is
	// parsed, and reported by Check).
	OnIncompatibleCodec string
}

// DefaultFlags is the default_flags block, upstream's defaults filled in.
type DefaultFlags struct {
	SetFirstVideoDefault               bool
	SetPreferredAudioDefault           bool
	SetPreferredSubtitleDefault        bool
	ClearOtherDefaults                 bool
	SetSubtitleDefaultWhenAudioDiffers bool
	SetSubtitleForcedWhenAudioDiffers  bool
	// PreferredAudioCodec are codec names (lower case) preferred, in
	// order, among the audio tracks of the preferred language.
	PreferredAudioCodec []string
}

// Check reports the features the policy uses that vpo does not run yet:
// nil, or Errors with one entry per feature, such as
// "x.yaml: phases[2].audio_synthesis (line 41): not supported by vpo yet".
// A policy that fails Check must not be applied; Plan refuses it.
func (p *Policy) Check() error {
	if len(p.unsupported) == 0 {
		return nil
	}
	out := make(Errors, len(p.unsupported))
	copy(out, p.unsupported)
	return out
}

// HasTranscode reports whether a phase has a transcode block.
func (p *Policy) HasTranscode() bool { return p.hasTranscode }

// HasTranscription reports whether a phase has a transcription block.
func (p *Policy) HasTranscription() bool { return p.hasTranscription }

// MediaOptions returns the options to read a probe with for this policy:
// its commentary patterns.
func (p *Policy) MediaOptions() media.Options {
	return media.Options{CommentaryPatterns: append([]string(nil), p.Config.CommentaryPatterns...)}
}
