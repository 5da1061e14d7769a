package app

import (
	"errors"
	"fmt"
)

// errPolicyUnbuilt: this build has no policy package yet.
var errPolicyUnbuilt = errors.New("policy files are not supported by this build of vpo")

// policyLib is the policyEngine of libs/policy.
type policyLib struct{}

func (policyLib) List(dir string) (policyListing, error) {
	return policyListing{}, fmt.Errorf("list policies in %q: %w", dir, errPolicyUnbuilt)
}

func (policyLib) Find(dir, nameOrPath string) (policyFile, error) {
	return nil, fmt.Errorf("policy %q: %w", nameOrPath, errPolicyUnbuilt)
}

func (policyLib) Problems(err error) []policyProblem {
	return []policyProblem{{Msg: err.Error()}}
}
