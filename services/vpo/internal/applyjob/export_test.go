package applyjob

import (
	"github.com/vpo-project/vpo/libs/media"
	"github.com/vpo-project/vpo/libs/policy"
)

// SetPlanner makes h plan with plan and take transcodes for whether a
// policy has a transcode block (nil leaves either as it is).
func SetPlanner(h *Handler, plan func(*policy.Policy, media.File) (policy.Plan, error), transcodes func(*policy.Policy) bool) {
	if plan != nil {
		h.plan = plan
	}
	if transcodes != nil {
		h.transcodes = transcodes
	}
}
