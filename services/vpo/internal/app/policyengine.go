package app

import (
	"errors"
	"time"

	"github.com/vpo-project/vpo/libs/media"
	"github.com/vpo-project/vpo/libs/policy"
)

// policyEngine is what the policy commands and doctor need of libs/policy:
// list a directory of policy files and load one of them.
type policyEngine interface {
	// List reads the policy files of dir; a missing dir is a listing with
	// Exists false and no error.
	List(dir string) (policyListing, error)
	// Find loads the policy NAME from dir, or the file at nameOrPath when
	// it holds a "/" or ends in .yaml/.yml. Errors are parse errors (see
	// problems) or not-found errors naming what was looked for.
	Find(dir, nameOrPath string) (policyFile, error)
	// Problems splits an error of Find, of a listing entry or of Check
	// into the problems it reports, each naming file, line and key; an
	// error that is not a policy problem gives one problem with its text.
	Problems(err error) []policyProblem
}

// policyListing is a directory of policy files.
type policyListing struct {
	Dir     string
	Exists  bool
	Entries []policyEntry
}

// policyEntry is one file of a policyListing.
type policyEntry struct {
	Name, Filename, Path string
	ModTime              time.Time
	// Policy is nil when the file does not parse; ParseErr says why.
	Policy   policyFile
	ParseErr error
}

// policyFile is one parsed policy.
type policyFile interface {
	Name() string
	File() string
	SchemaVersion() int
	Description() string
	Phases() int
	AudioLanguages() []string
	SubtitleLanguages() []string
	HasTranscode() bool
	HasTranscription() bool
	// Check returns nil, or the unsupported features the policy uses.
	Check() error
	// MediaOptions are the options to read a probe with (commentary
	// patterns).
	MediaOptions() media.Options
	// Plan is what the policy would do to f.
	Plan(f media.File) (policy.Plan, error)
}

// policyProblem is one problem of a policy file, as libs/policy reports
// it: the file, line (0 when unknown), key and message.
type policyProblem struct {
	File string
	Line int
	Key  string
	Msg  string
	// Text is the error's own text ("" when it has none of its own).
	Text string
}

// errPolicyNotFound is wrapped by an engine's Find when there is no such
// policy.
var errPolicyNotFound = errors.New("no such policy")
