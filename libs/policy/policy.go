package policy

import (
	"slices"

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
	Name string `json:"name"`
	// File is the path it was read from, "" for Parse of bytes without a
	// file.
	File          string `json:"file_path"`
	SchemaVersion int    `json:"schema_version"`
	// DisplayName is the policy's own `name`, "" when it has none.
	DisplayName string  `json:"display_name,omitempty"`
	Description string  `json:"description,omitempty"`
	Category    string  `json:"category,omitempty"`
	Config      Config  `json:"config"`
	Phases      []Phase `json:"phases"`
	// Source is the file's bytes.
	Source []byte `json:"-"`

	// unsupported are the features the file uses that vpo does not run
	// yet, in the order of the file; Check reports them.
	unsupported                    Errors
	hasTranscode, hasTranscription bool
}

// Config is a policy's config block, with upstream's defaults filled in.
type Config struct {
	// AudioLanguages and SubtitleLanguages are ISO 639-2/B codes in order
	// of preference (default eng, und).
	AudioLanguages    []string `json:"audio_languages"`
	SubtitleLanguages []string `json:"subtitle_languages"`
	// CommentaryPatterns are regular expressions matched without regard
	// to case against track titles (default commentary, director, audio
	// description).
	CommentaryPatterns []string `json:"commentary_patterns"`
	// OnError is skip, continue (the default) or fail: what a batch does
	// when a file fails.
	OnError string `json:"on_error"`
	// KeepOriginal is vpo's extension: keep NAME.original.EXT next to
	// the result; nil leaves it to the configuration's
	// policies.keep_original.
	KeepOriginal *bool `json:"keep_original,omitempty"`
}

// Phase is one named step of a policy. Its blocks run in a fixed order:
// the actions, the filters (audio, subtitles, attachments), the
// transcode block, the container, the track order and the default
// flags. A nil block is not part of the phase.
type Phase struct {
	Name string `json:"name"`
	// Line is the line of the phase in the file.
	Line              int                `json:"line"`
	AudioActions      *TrackActions      `json:"audio_actions,omitempty"`
	SubtitleActions   *TrackActions      `json:"subtitle_actions,omitempty"`
	VideoActions      *TrackActions      `json:"video_actions,omitempty"`
	KeepAudio         *KeepAudio         `json:"keep_audio,omitempty"`
	KeepSubtitles     *KeepSubtitles     `json:"keep_subtitles,omitempty"`
	FilterAttachments *FilterAttachments `json:"filter_attachments,omitempty"`
	Container         *ContainerSpec     `json:"container,omitempty"`
	// TrackOrder are track categories (Category*) in output order; nil
	// leaves the order alone.
	TrackOrder   []string      `json:"track_order,omitempty"`
	DefaultFlags *DefaultFlags `json:"default_flags,omitempty"`
	// Transcode is the phase's transcode block; it runs after the filters
	// and before the container block.
	Transcode *Transcode `json:"transcode,omitempty"`
	// Transcription is set when the phase has a transcription block
	// (which vpo does not run yet).
	Transcription bool `json:"transcription,omitempty"`
	// Requires (vpo's own key) are worker tags a node must offer to run
	// the phase's encodes, e.g. ["gpu"] for hardware encoding: the
	// transcode job an apply hands a file to requires them.
	Requires []string `json:"requires,omitempty"`
}

// TrackActions clean up the flags and titles of one type of track
// before the phase's filters run.
type TrackActions struct {
	ClearAllForced  bool `json:"clear_all_forced"`
	ClearAllDefault bool `json:"clear_all_default"`
	ClearAllTitles  bool `json:"clear_all_titles"`
}

// KeepAudio is the keep_audio block: which audio tracks stay.
type KeepAudio struct {
	// Languages are the ISO 639-2/B codes of the tracks to keep.
	Languages []string `json:"languages"`
	// Minimum is the number of audio tracks that must stay (default 1).
	Minimum int `json:"minimum"`
	// Fallback is what happens when fewer than Minimum tracks are in
	// Languages; "" is error.
	Fallback string `json:"fallback,omitempty"`
	// Music and sound-effect tracks (recognised by their titles) are
	// kept and left out of the language filter by default.
	KeepMusicTracks                    bool `json:"keep_music_tracks"`
	ExcludeMusicFromLanguageFilter     bool `json:"exclude_music_from_language_filter"`
	KeepSFXTracks                      bool `json:"keep_sfx_tracks"`
	ExcludeSFXFromLanguageFilter       bool `json:"exclude_sfx_from_language_filter"`
	KeepNonSpeechTracks                bool `json:"keep_non_speech_tracks"`
	ExcludeNonSpeechFromLanguageFilter bool `json:"exclude_non_speech_from_language_filter"`
}

// KeepSubtitles is the keep_subtitles block.
type KeepSubtitles struct {
	// Languages are the codes to keep; nil keeps every language.
	Languages      []string `json:"languages"`
	PreserveForced bool     `json:"preserve_forced"`
	RemoveAll      bool     `json:"remove_all"`
}

// FilterAttachments is the filter_attachments block.
type FilterAttachments struct {
	RemoveAll bool `json:"remove_all"`
}

// ContainerSpec is the container block.
type ContainerSpec struct {
	// Target is mkv or mp4.
	Target string `json:"target"`
	// OnIncompatibleCodec is error (the default), skip, or transcode:
	// encode the audio tracks the target cannot hold (to the phase's
	// transcode.audio.to when the target holds it, else aac 192k), which
	// makes the file re-encoded (see Plan).
	OnIncompatibleCodec string `json:"on_incompatible_codec"`
}

// DefaultFlags is the default_flags block, upstream's defaults filled in.
type DefaultFlags struct {
	SetFirstVideoDefault               bool `json:"set_first_video_default"`
	SetPreferredAudioDefault           bool `json:"set_preferred_audio_default"`
	SetPreferredSubtitleDefault        bool `json:"set_preferred_subtitle_default"`
	ClearOtherDefaults                 bool `json:"clear_other_defaults"`
	SetSubtitleDefaultWhenAudioDiffers bool `json:"set_subtitle_default_when_audio_differs"`
	SetSubtitleForcedWhenAudioDiffers  bool `json:"set_subtitle_forced_when_audio_differs"`
	// PreferredAudioCodec are codec names (lower case) preferred, in
	// order, among the audio tracks of the preferred language.
	PreferredAudioCodec []string `json:"preferred_audio_codec,omitempty"`
}

// Check reports the features the policy uses that vpo does not run yet:
// nil, or Errors with one entry per feature, such as
// "x.yaml:41: phases[2].audio_synthesis: not supported by vpo yet".
// A policy that fails Check must not be applied; Plan refuses it.
func (p *Policy) Check() error {
	if len(p.unsupported) == 0 {
		return nil
	}
	out := make(Errors, len(p.unsupported))
	copy(out, p.unsupported)
	return out
}

// HasTranscode reports whether a phase has a transcode block with a
// video or an audio part, or a container block with
// on_incompatible_codec: transcode: whether plans of this policy may
// re-encode.
func (p *Policy) HasTranscode() bool { return p.hasTranscode }

// HasTranscription reports whether a phase has a transcription block.
func (p *Policy) HasTranscription() bool { return p.hasTranscription }

// MediaOptions returns the options to read a probe with for this policy:
// its commentary patterns.
func (p *Policy) MediaOptions() media.Options {
	return media.Options{CommentaryPatterns: append([]string(nil), p.Config.CommentaryPatterns...)}
}

// Requires returns the worker tags every phase of the policy requires,
// together (sorted, without repeats): what the transcode job of a file
// requires.
func (p *Policy) Requires() []string {
	var out []string
	for _, ph := range p.Phases {
		for _, t := range ph.Requires {
			if !slices.Contains(out, t) {
				out = append(out, t)
			}
		}
	}
	slices.Sort(out)
	return out
}
