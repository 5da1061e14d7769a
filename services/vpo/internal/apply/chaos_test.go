package apply_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vpo-project/vpo/libs/policy"
	"github.com/vpo-project/vpo/services/vpo/internal/apply"
)

// childEnv names the file of a childSpec: the test binary started with it
// runs one Apply (childMain) instead of the tests.
const childEnv = "VPO_APPLY_TEST_CHILD"

// childSpec is the Apply a child runs.
type childSpec struct {
	JournalDir string
	// InPlace gives the child chaosInPlaceEditor.
	InPlace bool
	Tools   apply.Tools
	Request apply.Request
}

// childMain runs the Apply of the spec named by childEnv; it exits 0 when
// the Apply succeeded.
func childMain() int {
	data, err := os.ReadFile(os.Getenv(childEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	var spec childSpec
	if err := json.Unmarshal(data, &spec); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	opts := apply.Options{JournalDir: spec.JournalDir, Tools: spec.Tools}
	if spec.InPlace {
		opts.InPlace = newChaosInPlaceEditor(spec.JournalDir)
	}
	e, err := apply.New(opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	if _, err := e.Apply(context.Background(), spec.Request); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// startChild starts this test binary running spec's Apply.
func startChild(tb testing.TB, spec childSpec) *exec.Cmd {
	tb.Helper()
	data, err := json.Marshal(spec)
	if err != nil {
		tb.Fatal(err)
	}
	file := filepath.Join(tb.TempDir(), "spec.json")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+file)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Stdout = &stderr
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	return cmd
}

// chaosCase is one kind of rewrite the chaos test kills.
type chaosCase struct {
	name      string
	fixture   string
	container string
	edit      func(ts []policy.TargetTrack) []policy.TargetTrack
	// newName is the result's name when the container changes.
	newName string
	// inPlace: the apply is an in-place mkvpropedit edit.
	inPlace bool
}

// TestChaosKill kills applies with SIGKILL at random points of real
// mkvmerge and ffmpeg rewrites, recovers, and checks that the file is
// either the original, byte for byte, or a complete result that verifies
// against the plan, and that nothing temporary is left.
func TestChaosKill(t *testing.T) {
	const killsPerCase = 12
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("VPO_CHAOS_SEED"); s != "" {
		fmt.Sscan(s, &seed)
	}
	t.Logf("seed %d (set VPO_CHAOS_SEED to repeat)", seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	cases := []chaosCase{
		{name: "mkvmerge", fixture: fixtureMKV, container: "mkv", edit: func(ts []policy.TargetTrack) []policy.TargetTrack {
			ts = pick(ts, 0, 3, 1, 4)
			ts[1].Default, ts[2].Default = true, false
			return ts
		}},
		{name: "ffmpeg mp4", fixture: fixtureMP4, container: "mp4", edit: func(ts []policy.TargetTrack) []policy.TargetTrack {
			ts = pick(ts, 0, 2, 1, 4)
			ts[1].Default, ts[2].Default = true, false
			return ts
		}},
		{name: "ffmpeg mkv to mp4", fixture: fixtureMKV, container: "mp4", newName: "sample.mp4", edit: func(ts []policy.TargetTrack) []policy.TargetTrack {
			ts = pick(ts, 0, 1, 3)
			ts[1].Title = ""
			return ts
		}},
		{name: "transcode", fixture: fixtureMKV, container: "mkv", edit: encodeVideo(0, 0)},
	}
	kills, ran := 0, 0
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			kills += runChaos(t, c, rng, killsPerCase)
			ran++ // not reached when the case skipped (a tool missing)
		})
	}
	if ran == 0 && !t.Failed() {
		t.Skip("every case skipped: the tools are missing (see the subtests)")
	}
	if kills < 30 && !t.Failed() {
		t.Errorf("%d kills, want at least 30", kills)
	}
}

// checkAfterKill checks the directory after a killed apply and Recover.
// It reports whether the change was made.
func checkAfterKill(t *testing.T, e *apply.Executor, req apply.Request, path, resultPath, origSum string, keep bool, what string) bool {
	t.Helper()
	dir := filepath.Dir(path)
	origThere := false
	if _, err := os.Lstat(path); err == nil {
		origThere = sum(t, path) == origSum
	}
	resultThere := false
	if _, err := os.Lstat(resultPath); err == nil && (resultPath != path || !origThere) {
		probeCheck(t, e, resultPath, req.Plan.Target, req.Source)
		resultThere = true
	}
	if !origThere && !resultThere {
		t.Fatalf("%s: neither the original nor a result at %s (directory: %v)", what, path, names(t, dir))
	}
	for _, n := range names(t, dir) {
		full := filepath.Join(dir, n)
		switch {
		case full == path || full == resultPath:
		case strings.Contains(n, ".original"):
			if !keep {
				t.Errorf("%s: %s without keep_original", what, n)
			} else if sum(t, full) != origSum {
				t.Errorf("%s: %s is not the original", what, n)
			} else if origThere && resultPath == path {
				t.Errorf("%s: %s kept while the original is still in place", what, n)
			}
		default:
			t.Errorf("%s: unexpected file %s", what, n)
		}
	}
	return resultThere
}

// runChaos kills n applies of c in child processes at random points and
// checks what each left after Recover; it returns the number of kills.
func runChaos(t *testing.T, c chaosCase, rng *rand.Rand, n int) int {
	kills := 0
	path := fixture(t, c.fixture)
	dir := filepath.Dir(path)
	pristine := filepath.Join(t.TempDir(), "pristine")
	copyTo(t, path, pristine)
	origSum := sum(t, path)
	e, jdir := newExecutor(t, nil)
	if c.inPlace {
		// The parent's editor, for Recover; the child makes its own, on
		// the same journal.
		var err error
		if e, err = apply.New(apply.Options{JournalDir: jdir, InPlace: newChaosInPlaceEditor(jdir)}); err != nil {
			t.Fatal(err)
		}
	}
	req := request(t, e, path, c.container, c.edit)
	resultPath := path
	if c.newName != "" {
		resultPath = filepath.Join(dir, c.newName)
	}
	reset := func(keep bool) apply.Request {
		for _, n := range names(t, dir) {
			if err := os.Remove(filepath.Join(dir, n)); err != nil {
				t.Fatal(err)
			}
		}
		copyTo(t, pristine, path)
		r := req
		r.KeepOriginal = keep
		return r
	}
	// One uninterrupted run: it must succeed, and gives the time
	// within which to kill.
	start := time.Now()
	child := startChild(t, childSpec{JournalDir: jdir, InPlace: c.inPlace, Request: reset(false)})
	if err := child.Wait(); err != nil {
		t.Fatalf("apply in a child: %v: %s", err, child.Stderr)
	}
	typical := time.Since(start)
	t.Logf("an apply in a child process takes %v", typical)
	probeCheck(t, e, resultPath, req.Plan.Target, req.Source)
	recovered, changed := 0, 0
	defer func() {
		t.Logf("%d kills: %d left something Recover removed, %d after the change was made", n, recovered, changed)
	}()
	for i := 0; i < n; i++ {
		keep := i%3 == 2
		child := startChild(t, childSpec{JournalDir: jdir, InPlace: c.inPlace, Request: reset(keep)})
		delay := time.Duration(rng.Int64N(int64(typical)))
		time.Sleep(delay)
		_ = child.Process.Signal(syscall.SIGKILL)
		_ = child.Wait()
		kills++
		removed, err := e.Recover(context.Background())
		if err != nil {
			t.Fatalf("kill %d after %v: recover: %v", i, delay, err)
		}
		if len(removed) > 0 {
			recovered++
		}
		if checkAfterKill(t, e, req, path, resultPath, origSum, keep, fmt.Sprintf("kill %d after %v", i, delay)) {
			changed++
		}
		assertClean(t, dir, jdir)
		if n := names(t, filepath.Join(jdir, "inplace")); len(n) > 0 {
			t.Errorf("in-place journal not empty after Recover: %v", n)
		}
	}
	return kills
}
