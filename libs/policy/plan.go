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
}
