package integration_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// waitDone waits until job id has ended (completed, failed or cancelled).
func (d *daemon) waitDone(id string, timeout time.Duration) job {
	d.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		j := d.job(id)
		switch j.Status {
		case "completed", "failed", "cancelled":
			return j
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("job %s is %q after %v, want it ended\n%s", id, j.Status, timeout, d.stderr.String())
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// TestApprovedPlanOfPatchedFileIsPlannedAgain: a file patched in place
// after its plan was made, keeping its size and mtime (its audio languages
// swapped), is not changed by the approval of that plan: the plan becomes
// superseded and a new plan, made from the file as it is now, waits for
// approval.
func TestApprovedPlanOfPatchedFileIsPlannedAgain(t *testing.T) {
	d, pdir := startPolicies(t, "require_approval = true")
	writePolicy(t, pdir, "eng.yaml", keepEngPolicy)
	lib := filepath.Join(d.dir, "lib")
	a := filepath.Join(lib, "a.mkv")
	mkvFixture(t, a)
	// mkvmerge leaves room in the headers, so that the patch below keeps
	// the file's size.
	if out, err := exec.Command("mkvmerge", "-q", "-o", filepath.Join(d.dir, "remuxed.mkv"), a).CombinedOutput(); err != nil {
		t.Fatalf("mkvmerge: %v: %s", err, out)
	}
	if err := os.Rename(filepath.Join(d.dir, "remuxed.mkv"), a); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(a, old, old); err != nil {
		t.Fatal(err)
	}
	if res := d.scanNow(lib, true); res.Probed != 1 {
		t.Fatalf("scan: %+v, want a.mkv probed", res)
	}
	o := d.applyFile("eng", a, false)
	if o.Outcome != "pending_approval" {
		t.Fatalf("apply with approval required = %+v; want pending_approval", o)
	}
	before, err := os.Stat(a)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mkvpropedit", a, "--edit", "track:a1", "--set", "language=fre",
		"--edit", "track:a2", "--set", "language=eng").CombinedOutput(); err != nil {
		t.Fatalf("mkvpropedit: %v: %s", err, out)
	}
	if err := os.Chtimes(a, before.ModTime(), before.ModTime()); err != nil {
		t.Fatal(err)
	}
	patched, err := os.Stat(a)
	if err != nil {
		t.Fatal(err)
	}
	if patched.Size() != before.Size() {
		t.Fatalf("the patch changed the size (%d → %d); the test needs the same size", before.Size(), patched.Size())
	}
	patchedStamp := stamp(t, a)

	var ap struct {
		Plan  planRow `json:"plan"`
		JobID string  `json:"job_id"`
	}
	if code := d.post(fmt.Sprintf("/api/plans/%d/approve", o.PlanID), &ap); code != 200 || ap.JobID == "" {
		t.Fatalf("approve = %d %+v", code, ap)
	}
	done := d.waitDone(ap.JobID, 30*time.Second)
	var res fileOutcome
	_ = json.Unmarshal(done.Result, &res)
	var plans struct {
		Plans []planRow `json:"plans"`
	}
	d.getBody("/api/plans?path="+a, &plans)
	status := map[int64]string{}
	for _, p := range plans.Plans {
		status[p.ID] = p.Status
	}
	if done.Status != "completed" || status[o.PlanID] != "superseded" || res.Outcome != "pending_approval" ||
		res.PlanID == o.PlanID || status[res.PlanID] != "pending" {
		t.Fatalf("approval of a patched file: job %s (%s), result %+v, plans %v; want the approved plan %d superseded and a new pending plan",
			done.Status, done.Error, res, status, o.PlanID)
	}
	if stamp(t, a) != patchedStamp {
		t.Errorf("the approval changed the patched file")
	}
}
