package app

import (
	"slices"
	"testing"

	"github.com/vpo-project/vpo/libs/config"
)

// TestAppliersCoverLiveKeys: every key libs/config marks live has exactly
// one applier, and nothing else has one.
func TestAppliersCoverLiveKeys(t *testing.T) {
	var want []string
	for _, k := range config.Keys() {
		if k.Live {
			want = append(want, k.Name)
		}
	}
	slices.Sort(want)
	if got := liveKeys(appliers(liveParts{})); !slices.Equal(got, want) {
		t.Fatalf("appliers for %q, want one for each live key %q", got, want)
	}
}
