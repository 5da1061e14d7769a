package applyjob_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/vpo-project/vpo/libs/policy"
	"github.com/vpo-project/vpo/libs/store"
	"github.com/vpo-project/vpo/services/vpo/internal/applyjob"
)

// engOnlyProbe is a probe of the fixture's file before it was replaced by
// one of the same size and mtime: nothing for policy "eng" to do.
const engOnlyProbe = `{"format":{"format_name":"matroska,webm","duration":"2.0"},"streams":[
 {"index":0,"codec_type":"video","codec_name":"h264","width":160,"height":120},
 {"index":1,"codec_type":"audio","codec_name":"aac","channels":2,"tags":{"language":"eng"}}]}`

// freFirstProbe is a probe of the fixture's file before it was patched in
// place: the same tracks as probeJSON's, the audio ones the other way
// round, so "eng" keeps stream 2 instead of stream 1.
const freFirstProbe = `{"format":{"format_name":"matroska,webm","duration":"2.0"},"streams":[
 {"index":0,"codec_type":"video","codec_name":"h264","width":160,"height":120},
 {"index":1,"codec_type":"audio","codec_name":"aac","channels":2,"tags":{"language":"fre"}},
 {"index":2,"codec_type":"audio","codec_name":"aac","channels":2,"tags":{"language":"eng"}}]}`

// storeProbe stores probe as the scanned probe of the fixture's file, with
// its current size and mtime.
func (f *fixture) storeProbe(t *testing.T, probe string) {
	t.Helper()
	fi, err := os.Stat(f.file)
	if err != nil {
		t.Fatal(err)
	}
	reduced, err := store.ReduceProbe([]byte(probe))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.st.UpsertFile(context.Background(), store.File{Path: f.file, Size: fi.Size(), ModTime: fi.ModTime(),
		LastScannedAt: time.Now(), Probe: reduced, ProbedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
}

// TestApplyPlansFromFreshProbe: an apply that changes a file probes it
// first, even when a stored probe matches its size and mtime (the file
// was replaced by one of the same size and mtime after the scan): the
// plan is made from what is on disk, and the files row takes that probe.
func TestApplyPlansFromFreshProbe(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, applyjob.Settings{})
	f.storeProbe(t, engOnlyProbe)
	_, res, err := f.run(t, fmt.Sprintf(`{"policy":"eng","path":%q}`, f.file))
	if err != nil {
		t.Fatal(err)
	}
	r := outcome(t, res)
	if r.Outcome != applyjob.OutcomeApplied || f.exec.probes != 1 || f.exec.applies != 1 {
		t.Fatalf("apply of a file replaced after its scan: %+v, %d probes, %d applies; want applied after 1 probe",
			r, f.exec.probes, f.exec.applies)
	}
	p, err := f.st.GetPlan(ctx, r.PlanID)
	if err != nil {
		t.Fatal(err)
	}
	var plan policy.Plan
	if err := json.Unmarshal(p.Plan, &plan); err != nil {
		t.Fatal(err)
	}
	if len(plan.Changes) == 0 {
		t.Errorf("plan %s: want the French track removed", p.Plan)
	}
}

// TestApplyDryRunKeepsStoredProbe: planning without changing the file
// (dry run, a plan stored for approval) still uses the stored probe.
func TestApplyDryRunKeepsStoredProbe(t *testing.T) {
	for _, tc := range []struct {
		name     string
		settings applyjob.Settings
		payload  string
		want     string
	}{
		{"dry run", applyjob.Settings{}, `{"policy":"eng","path":%q,"dry_run":true}`, applyjob.OutcomeUnchanged},
		{"approval", applyjob.Settings{RequireApproval: true}, `{"policy":"eng","path":%q}`, applyjob.OutcomeUnchanged},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.settings)
			f.storeProbe(t, engOnlyProbe)
			_, res, err := f.run(t, fmt.Sprintf(tc.payload, f.file))
			if err != nil {
				t.Fatal(err)
			}
			if r := outcome(t, res); r.Outcome != tc.want || f.exec.probes != 0 {
				t.Errorf("%+v, %d probes; want %s from the stored probe", r, f.exec.probes, tc.want)
			}
		})
	}
}

// TestTruncatedStoredProbeNotReused: a stored probe holding a string
// store.ReduceProbe cut is never planned from, not even by a dry run.
func TestTruncatedStoredProbeNotReused(t *testing.T) {
	f := newFixture(t, applyjob.Settings{})
	long := fmt.Sprintf("%01500d", 7)
	f.storeProbe(t, `{"format":{"format_name":"matroska,webm","duration":"2.0"},"streams":[
 {"index":0,"codec_type":"video","codec_name":"h264","width":160,"height":120},
 {"index":1,"codec_type":"audio","codec_name":"aac","channels":2,"tags":{"language":"eng","title":"`+long+`"}}]}`)
	_, res, err := f.run(t, fmt.Sprintf(`{"policy":"eng","path":%q,"dry_run":true}`, f.file))
	if err != nil {
		t.Fatal(err)
	}
	if r := outcome(t, res); r.Outcome != applyjob.OutcomePlanned || f.exec.probes != 1 {
		t.Errorf("dry run of a file whose stored title was cut: %+v, %d probes; want planned from a new probe", r, f.exec.probes)
	}
}

// TestApprovedPlanOfPatchedFileSuperseded: an approved plan whose file
// keeps its size and mtime but now plans differently (patched in place) is
// not executed: it is superseded and the file planned again (pending
// again while approval is required, applied once it is not).
func TestApprovedPlanOfPatchedFileSuperseded(t *testing.T) {
	for _, tc := range []struct {
		name    string
		require bool
		want    string
		applies int
	}{
		{"approval required", true, applyjob.OutcomePendingApproval, 0},
		{"approval no longer required", false, applyjob.OutcomeApplied, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t, applyjob.Settings{RequireApproval: true})
			f.storeProbe(t, freFirstProbe)
			_, res, err := f.run(t, fmt.Sprintf(`{"policy":"eng","path":%q}`, f.file))
			if err != nil {
				t.Fatal(err)
			}
			pending := outcome(t, res)
			if pending.Outcome != applyjob.OutcomePendingApproval || f.exec.probes != 0 {
				t.Fatalf("first apply: %+v, %d probes; want pending from the stored probe", pending, f.exec.probes)
			}
			if _, err := f.st.SetPlanStatus(ctx, pending.PlanID, []string{store.PlanPending}, store.PlanApproved, "", time.Now()); err != nil {
				t.Fatal(err)
			}
			s := f.h.Settings()
			s.RequireApproval = tc.require
			f.h.SetSettings(s)
			_, res, err = f.run(t, fmt.Sprintf(`{"plan_id":%d}`, pending.PlanID))
			if err != nil {
				t.Fatal(err)
			}
			r := outcome(t, res)
			old, err := f.st.GetPlan(ctx, pending.PlanID)
			if err != nil {
				t.Fatal(err)
			}
			if old.Status != store.PlanSuperseded || f.exec.applies != tc.applies || r.Outcome != tc.want ||
				r.PlanID == pending.PlanID || r.PlanID == 0 {
				t.Fatalf("approved plan of a patched file: plan %d %s (%s), result %+v, %d applies; want superseded, a new plan %s, %d applies",
					old.ID, old.Status, old.Error, r, f.exec.applies, tc.want, tc.applies)
			}
		})
	}
}
