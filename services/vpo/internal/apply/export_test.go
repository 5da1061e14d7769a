package apply

import (
	"github.com/vpo-project/vpo/libs/media"
	"github.com/vpo-project/vpo/libs/policy"
)

// SetFreeSpace replaces how e measures a directory's free space.
func SetFreeSpace(e *Executor, f func(dir string) (uint64, error)) { e.freeSpace = f }

// SetBeforeReplace makes e call f with the path just before its result
// takes it.
func SetBeforeReplace(e *Executor, f func(path string)) { e.beforeReplace = f }

// Verify is verify, for tests that check a result themselves.
func Verify(got media.File, target policy.Target, source media.File) error {
	return verify(got, target, source)
}

// InPlaceEditorForTest is the in-place editor interface, for tests that
// provide one.
type InPlaceEditorForTest = inPlaceEditor

// TempName is tempName.
func TempName(path, id string) string { return tempName(path, id) }

// SetToolDone makes e call f with the temporary file's path once a
// rewrite's tool returned.
func SetToolDone(e *Executor, f func(temp string)) { e.toolDone = f }
