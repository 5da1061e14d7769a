package app

import (
	"errors"

	"github.com/vpo-project/vpo/libs/media"
	"github.com/vpo-project/vpo/libs/policy"
)

// policyLib is the policyEngine of libs/policy.
type policyLib struct{}

func (policyLib) List(dir string) (policyListing, error) {
	l, err := policy.List(dir)
	if err != nil {
		return policyListing{}, err
	}
	out := policyListing{Dir: l.Dir, Exists: l.Exists, Entries: make([]policyEntry, len(l.Entries))}
	for i, e := range l.Entries {
		out.Entries[i] = policyEntry{Name: e.Name, Filename: e.Filename, Path: e.Path, ModTime: e.ModTime, ParseErr: e.Err}
		if e.Policy != nil {
			out.Entries[i].Policy = libPolicy{e.Policy}
		}
	}
	return out, nil
}

func (policyLib) Find(dir, nameOrPath string) (policyFile, error) {
	p, err := policy.Find(dir, nameOrPath)
	if errors.Is(err, policy.ErrNotFound) {
		return nil, notFound{err}
	}
	if err != nil {
		return nil, err
	}
	return libPolicy{p}, nil
}

func (policyLib) Problems(err error) []policyProblem {
	ps := policy.Problems(err)
	if len(ps) == 0 {
		return []policyProblem{{Msg: err.Error()}}
	}
	out := make([]policyProblem, len(ps))
	for i, p := range ps {
		out[i] = policyProblem{File: p.File, Line: p.Line, Key: p.Key, Msg: p.Msg, Text: p.Error()}
	}
	return out
}

// libPolicy is a policyFile of libs/policy.
type libPolicy struct{ p *policy.Policy }

func (l libPolicy) Name() string                           { return l.p.Name }
func (l libPolicy) File() string                           { return l.p.File }
func (l libPolicy) SchemaVersion() int                     { return l.p.SchemaVersion }
func (l libPolicy) Description() string                    { return l.p.Description }
func (l libPolicy) Phases() int                            { return len(l.p.Phases) }
func (l libPolicy) AudioLanguages() []string               { return l.p.Config.AudioLanguages }
func (l libPolicy) SubtitleLanguages() []string            { return l.p.Config.SubtitleLanguages }
func (l libPolicy) HasTranscode() bool                     { return l.p.HasTranscode() }
func (l libPolicy) HasTranscription() bool                 { return l.p.HasTranscription() }
func (l libPolicy) Check() error                           { return l.p.Check() }
func (l libPolicy) MediaOptions() media.Options            { return l.p.MediaOptions() }
func (l libPolicy) Plan(f media.File) (policy.Plan, error) { return l.p.Plan(f) }

// notFound is libs/policy's not-found error, which is errPolicyNotFound too.
type notFound struct{ error }

func (e notFound) Unwrap() error      { return e.error }
func (notFound) Is(target error) bool { return target == errPolicyNotFound }
