package apply_test

import (
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/vpo-project/vpo/libs/policy"
	"github.com/vpo-project/vpo/services/vpo/internal/apply"
	"github.com/vpo-project/vpo/services/vpo/internal/inplace"
)

// newChaosInPlaceEditor returns the journaled in-place editor that
// TestChaosKillInPlace kills during mkvpropedit edits, with its records
// under journalDir/inplace, as vpo serve wires it.
func newChaosInPlaceEditor(journalDir string) apply.InPlaceEditorForTest {
	return &inplace.Editor{JournalDir: filepath.Join(journalDir, "inplace")}
}

// TestChaosKillInPlace is TestChaosKill for in-place mkvpropedit edits:
// after a SIGKILL at a random point and Recover, the file is the
// original byte for byte or an edit that verifies against the target.
func TestChaosKillInPlace(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	runChaos(t, chaosCase{name: "mkvpropedit", fixture: fixtureMKV, container: "mkv", inPlace: true,
		edit: func(ts []policy.TargetTrack) []policy.TargetTrack {
			ts[1].Default, ts[3].Default = false, true
			ts[2].Title = ""
			ts[5].Forced = false
			return ts
		}}, rng, 30)
}
