package applyjob_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vpo-project/vpo/libs/store"
	"github.com/vpo-project/vpo/services/vpo/internal/applyjob"
)

// keepBoth keeps both audio tracks of probeJSON: nothing to do.
const keepBoth = "schema_version: 13\nphases:\n  - name: filter\n    keep_audio:\n      languages: [eng, fre]\n"

// appliedState returns what the store says policy was last applied to
// f's file at (ok false: never).
func (f *fixture) appliedState(t *testing.T, policy string) (int64, time.Time, bool) {
	t.Helper()
	size, mtime, ok, err := f.st.AppliedState(context.Background(), f.file, policy)
	if err != nil {
		t.Fatal(err)
	}
	return size, mtime, ok
}

// TestApplyMarksApplied: a successful apply that is not a dry run records
// the policy as applied to the file at its size and mtime as they are
// after the apply — a plan carried out, a plan with nothing to do — and a
// dry run, a plan waiting for approval and a failed apply record nothing.
func TestApplyMarksApplied(t *testing.T) {
	for _, tc := range []struct {
		name    string
		policy  string
		payload string
		execErr error
		outcome string
		marked  bool
	}{
		{"applied", "eng", `{"policy":"eng","path":%q}`, nil, applyjob.OutcomeApplied, true},
		{"nothing to do", "both", `{"policy":"both","path":%q}`, nil, applyjob.OutcomeUnchanged, true},
		{"dry run", "eng", `{"policy":"eng","path":%q,"dry_run":true}`, nil, applyjob.OutcomePlanned, false},
		{"dry run, nothing to do", "both", `{"policy":"both","path":%q,"dry_run":true}`, nil, applyjob.OutcomeUnchanged, false},
		{"failed", "eng", `{"policy":"eng","path":%q}`, errors.New("mkvmerge exploded"), "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, applyjob.Settings{})
			if err := os.WriteFile(filepath.Join(f.dir, "policies", "both.yaml"), []byte(keepBoth), 0o644); err != nil {
				t.Fatal(err)
			}
			f.exec.err = tc.execErr
			_, res, err := f.run(t, fmt.Sprintf(tc.payload, f.file))
			if tc.execErr != nil {
				if err == nil {
					t.Fatalf("apply with a failing tool succeeded: %s", res)
				}
			} else if err != nil {
				t.Fatal(err)
			} else if r := outcome(t, res); r.Outcome != tc.outcome {
				t.Fatalf("outcome %+v, want %s", r, tc.outcome)
			}
			size, mtime, ok := f.appliedState(t, tc.policy)
			if ok != tc.marked {
				t.Fatalf("marked applied %v (size %d, mtime %s), want %v", ok, size, mtime, tc.marked)
			}
			if !ok {
				return
			}
			fi, err := os.Stat(f.file)
			if err != nil {
				t.Fatal(err)
			}
			if size != fi.Size() || !mtime.Equal(fi.ModTime()) {
				t.Errorf("marked applied at size %d, mtime %s; the file has %d, %s", size, mtime, fi.Size(), fi.ModTime())
			}
			// The file is not one to apply the policy to again: the
			// store's own comparison agrees with the scan's record.
			if err := f.st.UpsertFiles(context.Background(), []store.File{{Path: f.file, Size: fi.Size(), ModTime: fi.ModTime(),
				LastScannedAt: time.Now()}}); err != nil {
				t.Fatal(err)
			}
			todo, err := f.st.FilesToApply(context.Background(), filepath.Dir(f.file), tc.policy, "", 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(todo) != 0 {
				t.Errorf("files to apply %s to after the apply: %+v, want none", tc.policy, todo)
			}
		})
	}
}

// TestApprovedPlanMarksApplied: a plan waiting for approval records
// nothing; the approved plan, once carried out, records the policy as
// applied.
func TestApprovedPlanMarksApplied(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, applyjob.Settings{RequireApproval: true})
	_, res, err := f.run(t, fmt.Sprintf(`{"policy":"eng","path":%q}`, f.file))
	if err != nil {
		t.Fatal(err)
	}
	pending := outcome(t, res)
	if pending.Outcome != applyjob.OutcomePendingApproval {
		t.Fatalf("first apply: %+v, want pending approval", pending)
	}
	if _, _, ok := f.appliedState(t, "eng"); ok {
		t.Fatal("a plan waiting for approval marked the policy applied")
	}
	if _, err := f.st.SetPlanStatus(ctx, pending.PlanID, []string{store.PlanPending}, store.PlanApproved, "", time.Now()); err != nil {
		t.Fatal(err)
	}
	_, res, err = f.run(t, fmt.Sprintf(`{"plan_id":%d}`, pending.PlanID))
	if err != nil {
		t.Fatal(err)
	}
	if r := outcome(t, res); r.Outcome != applyjob.OutcomeApplied || r.PlanID != pending.PlanID {
		t.Fatalf("approved plan: %+v, want plan %d applied", r, pending.PlanID)
	}
	fi, err := os.Stat(f.file)
	if err != nil {
		t.Fatal(err)
	}
	if size, mtime, ok := f.appliedState(t, "eng"); !ok || size != fi.Size() || !mtime.Equal(fi.ModTime()) {
		t.Fatalf("after the approved plan ran: marked %v at %d, %s; want the file's %d, %s", ok, size, mtime, fi.Size(), fi.ModTime())
	}
}
