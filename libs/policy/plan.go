package policy

// ChangeKind names one kind of change a Plan makes to a file.
type ChangeKind string

// The kinds of change. Track-level kinds name the source track they act on.
const (
	ChangeRemoveTrack      ChangeKind = "remove_track"
	ChangeReorderTracks    ChangeKind = "reorder_tracks"
	ChangeSetDefault       ChangeKind = "set_default"
	ChangeClearDefault     ChangeKind = "clear_default"
	ChangeSetForced        ChangeKind = "set_forced"
	ChangeClearForced      ChangeKind = "clear_forced"
	ChangeClearTitle       ChangeKind = "clear_title"
	ChangeConvertContainer ChangeKind = "convert_container"
	// ChangeTranscodeVideo and ChangeTranscodeAudio re-encode the track
	// (its TargetTrack has an Encode); From and To describe the stream
	// before and after ("h264 1920x1080", "hevc 1280x720"; "dts", "aac
	// 192k").
	ChangeTranscodeVideo ChangeKind = "transcode_video"
	ChangeTranscodeAudio ChangeKind = "transcode_audio"
)

// Change is one step of a Plan, with the reason the policy asks for it.
type Change struct {
	Kind ChangeKind `json:"kind"`
	// Track is the source stream index (ffprobe's index) the change acts
	// on; -1 for changes of the whole file (reorder, container).
	Track int `json:"track"`
	// TrackType is the type of that track ("audio"), empty for file changes.
	TrackType string `json:"track_type,omitempty"`
	// From and To describe the change where it has values: the old and new
	// title, container or order ("0,2,1").
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
	// Phase is the name of the policy phase that asked for the change.
	Phase  string `json:"phase"`
	Reason string `json:"reason"`
}

// Plan is what applying a policy to one file would do. A file that already
// complies has a Plan with no Changes.
type Plan struct {
	Policy  string   `json:"policy"`
	Changes []Change `json:"changes"`
	// Target is the file as it must be after the changes; executors build
	// it and verifiers compare the result's probe against it.
	Target Target `json:"target"`
	// Skipped is the reason the policy leaves this file alone (for
	// example `on_incompatible_codec: skip`); Changes is then empty.
	Skipped string `json:"skipped,omitempty"`
	// Notes say what the policy asked for but leaves undone for this
	// file and why, such as a transcode skipped by its skip_if
	// ("phase \"x\": transcode skipped: skip_if.codec_matches: the video
	// is hevc"). They are not changes: a plan with only notes is empty.
	Notes []string `json:"notes,omitempty"`
}

// Encodes reports whether the plan re-encodes any track.
func (p Plan) Encodes() bool {
	for _, t := range p.Target.Tracks {
		if t.Encode != nil {
			return true
		}
	}
	return false
}

// Empty reports whether the plan changes nothing.
func (p Plan) Empty() bool { return len(p.Changes) == 0 }

// Target describes the file a plan produces.
type Target struct {
	// Container is "mkv" or "mp4".
	Container string `json:"container"`
	// Tracks are the kept source streams in their output order,
	// attachments included.
	Tracks []TargetTrack `json:"tracks"`
}

// TargetTrack is one track of a Target.
type TargetTrack struct {
	// Source is the track's ffprobe stream index in the original file.
	Source   int    `json:"source"`
	Type     string `json:"type"`
	Codec    string `json:"codec"`
	Language string `json:"language"`
	Title    string `json:"title"`
	Default  bool   `json:"default"`
	Forced   bool   `json:"forced"`
	// Width and Height are the video track's dimensions in the result
	// as shown (after any scaling), 0 for other tracks or when not known.
	// A rotated source (phone footage) is planned at its displayed size
	// (media.Stream.DisplaySize): ffmpeg turns it upright when it
	// re-encodes it, so the result has that size and no rotation; a
	// copied track keeps its stored size and rotation.
	Width  int `json:"width,omitempty"`
	Height int `json:"height,omitempty"`
	// Encode, when set, re-encodes the track to Codec (the codec of the
	// result); nil copies it as it is.
	Encode *Encode `json:"encode,omitempty"`
}

// The values of Encode.HW (upstream's transcode.video.hw).
const (
	HWAuto  = "auto"
	HWNone  = "none"
	HWVAAPI = "vaapi"
	HWNVENC = "nvenc"
	HWQSV   = "qsv"
)

// Encode is how one track is re-encoded: the settings of the policy's
// transcode block that apply to it. Zero values leave a setting to the
// encoder's default.
type Encode struct {
	// Codec is the target codec as ffprobe names it: hevc, h264, av1
	// (video); aac, ac3, eac3, opus, flac, mp3 (audio).
	Codec string `json:"codec"`
	// CRF is the constant rate factor (video), nil when not set.
	CRF *int `json:"crf,omitempty"`
	// Preset and Tune are the encoder's speed preset and tuning (video).
	Preset string `json:"preset,omitempty"`
	Tune   string `json:"tune,omitempty"`
	// Bitrate is the target bitrate in bits per second (video
	// target_bitrate, or audio bitrate; none for lossless flac and pcm);
	// MinBitrate and MaxBitrate bound a video encode. 0 = not set.
	Bitrate    int64 `json:"bitrate,omitempty"`
	MinBitrate int64 `json:"min_bitrate,omitempty"`
	MaxBitrate int64 `json:"max_bitrate,omitempty"`
	// Scale is true when the video is scaled to the TargetTrack's Width
	// and Height with ScaleAlgorithm (lanczos, bicubic or bilinear).
	Scale          bool   `json:"scale,omitempty"`
	ScaleAlgorithm string `json:"scale_algorithm,omitempty"`
	// HW is the hardware method (HW*), HWFallback whether a failed
	// hardware encode falls back to software (video).
	HW         string `json:"hw,omitempty"`
	HWFallback bool   `json:"hw_fallback,omitempty"`
	// FFmpegArgs are extra ffmpeg output arguments from the policy,
	// already checked against the deny list (video).
	FFmpegArgs []string `json:"ffmpeg_args,omitempty"`
}
