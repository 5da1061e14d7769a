package inplace_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vpo-project/vpo/services/vpo/internal/inplace"
	"github.com/vpo-project/vpo/services/vpo/internal/proc"
)

// chaosEnv makes the test binary a chaos child: it runs one Edit described
// by the JSON in the variable and exits.
const chaosEnv = "VPO_INPLACE_CHAOS_CHILD"

// chaosJob is what a chaos child edits (or, with Recover set, recovers).
type chaosJob struct {
	Path, Journal, MkvPropEdit, FFProbe string
	Args                                []string
	Recover                             bool
}

func TestMain(m *testing.M) {
	if job := os.Getenv(chaosEnv); job != "" {
		os.Exit(chaosChild(job))
	}
	os.Exit(m.Run())
}

// chaosChild runs the edit, verified by ffprobe reading the file as vpo's
// executor does, writing "start" before and "done" after it.
func chaosChild(data string) int {
	var job chaosJob
	if err := json.Unmarshal([]byte(data), &job); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ed := &inplace.Editor{JournalDir: job.Journal, MkvPropEdit: job.MkvPropEdit}
	verify := func(ctx context.Context) error {
		res, err := proc.Run(ctx, proc.Cmd{Path: job.FFProbe, Args: []string{"-v", "error", "-of", "json", "-show_streams", job.Path}, MaxStdout: 1 << 20, MaxStderr: 4 << 10})
		if err != nil {
			return err
		}
		if res.Exit != nil {
			return fmt.Errorf("ffprobe: %w: %s", res.Exit, res.Stderr)
		}
		return nil
	}
	fmt.Println("start")
	if job.Recover {
		if _, err := ed.Recover(context.Background()); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Println("done")
		return 0
	}
	if err := ed.Edit(context.Background(), job.Path, job.Args, verify); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("done")
	return 0
}

// chaosRun starts a chaos child editing (or recovering) path and waits for it to start the
// edit. kill, when not negative, is how long after that it is SIGKILLed;
// chaosRun returns once the child and its tools are gone, with the time
// the edit took when it was not killed.
func chaosRun(t *testing.T, job chaosJob, kill time.Duration) time.Duration {
	t.Helper()
	data, err := json.Marshal(job)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), chaosEnv+"="+string(data))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(out)
	if !lines.Scan() || lines.Text() != "start" {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("chaos child did not start: %q %s", lines.Text(), stderr.Bytes())
	}
	start := time.Now()
	if kill >= 0 {
		time.Sleep(kill)
		_ = cmd.Process.Kill()
	}
	for lines.Scan() {
	}
	err = cmd.Wait()
	took := time.Since(start)
	if kill < 0 && err != nil {
		t.Fatalf("chaos child: %v: %s", err, stderr.Bytes())
	}
	waitToolsGone(t, job.Path)
	return took
}

// waitToolsGone waits until no process has path on its command line: the
// tools of a killed child get SIGKILL from the kernel (their parent-death
// signal) but may take a moment to die.
func waitToolsGone(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		busy := ""
		pids, _ := filepath.Glob("/proc/[0-9]*/cmdline")
		for _, p := range pids {
			cmdline, err := os.ReadFile(p)
			if err == nil && bytes.Contains(cmdline, []byte(path+"\x00")) {
				busy = p
				break
			}
		}
		if busy == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("a tool still runs on %s (%s) 10 s after its parent was killed", path, busy)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestChaosKilledEdits SIGKILLs edits at random moments (seed logged) and
// checks that after Recover the file is byte for byte the original (with
// its mtime) or the complete edited result, which ffprobe reads with the
// requested flags and titles.
func TestChaosKilledEdits(t *testing.T) {
	const iterations = 30
	dir := t.TempDir()
	orig := fixture(t, dir)
	mkvpropedit, ffprobe := tool(t, "mkvpropedit"), tool(t, "ffprobe")
	old := time.Date(2021, 6, 7, 8, 9, 10, 11000, time.UTC)
	if err := os.Chtimes(orig, time.Time{}, old); err != nil {
		t.Fatal(err)
	}
	origHash := sum(t, orig)
	e := flagsEdit(longTitle)

	// The complete result, and how long an edit (with its verify) takes.
	ref := filepath.Join(dir, "ref", "film.mkv")
	if err := os.MkdirAll(filepath.Dir(ref), 0o755); err != nil {
		t.Fatal(err)
	}
	copyFile(t, orig, ref)
	took := chaosRun(t, chaosJob{Path: ref, Journal: filepath.Join(dir, "ref", "journal"), MkvPropEdit: mkvpropedit, FFProbe: ffprobe, Args: e.args}, -1)
	editedHash := sum(t, ref)
	if got := nonVideo(probe(t, ref)); !reflect.DeepEqual(got, e.want) {
		t.Fatalf("reference edit: tracks %+v, want %+v", got, e.want)
	}

	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("VPO_CHAOS_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("seed %d (set VPO_CHAOS_SEED to repeat); an edit takes %v", seed, took)
	rng := rand.New(rand.NewPCG(seed, 0))
	var outcomes = map[string]int{}
	for i := range iterations {
		sub := filepath.Join(dir, strconv.Itoa(i))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(sub, "film.mkv")
		copyFile(t, orig, path)
		job := chaosJob{Path: path, Journal: filepath.Join(sub, "journal"), MkvPropEdit: mkvpropedit, FFProbe: ffprobe, Args: e.args}
		kill := time.Duration(rng.Int64N(int64(took) * 3 / 2))
		chaosRun(t, job, kill)
		changed := sum(t, path) != origHash

		ed := &inplace.Editor{JournalDir: job.Journal, MkvPropEdit: mkvpropedit}
		restored, err := ed.Recover(context.Background())
		if err != nil {
			t.Fatalf("iteration %d (killed after %v): Recover: %v", i, kill, err)
		}
		switch got := sum(t, path); {
		case got == origHash:
			if m := mtime(t, path); !m.Equal(old) {
				t.Errorf("iteration %d (killed after %v): original bytes but mtime %v, want %v", i, kill, m, old)
			}
			if len(restored) == 1 && changed {
				outcomes["restored after a partial or unverified edit"]++
			} else {
				outcomes["original"]++
			}
		case got == editedHash:
			if len(restored) != 0 {
				t.Errorf("iteration %d: Recover restored %v, yet the file is the edited result", i, restored)
			}
			if tracks := nonVideo(probe(t, path)); !reflect.DeepEqual(tracks, e.want) {
				t.Errorf("iteration %d: edited result with tracks %+v, want %+v", i, tracks, e.want)
			}
			outcomes["edited"]++
		default:
			t.Fatalf("iteration %d (killed after %v): the file is neither the original nor the edited result (Recover restored %v)", i, kill, restored)
		}
		if recs := records(t, job.Journal); len(recs) != 0 {
			t.Errorf("iteration %d: journal holds %v after Recover", i, recs)
		}
	}
	t.Logf("outcomes of %d kills: %v", iterations, outcomes)
}

// disown renames the undo records in dir as an older vpo named them,
// without their writer's pid and boot: crash leaves records of this test
// process, which runs, and a child's Recover leaves those of a running vpo
// alone.
func disown(t *testing.T, dir string) {
	t.Helper()
	for _, n := range records(t, dir) {
		parts := strings.Split(strings.TrimSuffix(n, ".undo"), ".")
		if len(parts) != 3 {
			continue
		}
		if err := os.Rename(filepath.Join(dir, n), filepath.Join(dir, parts[0]+".undo")); err != nil {
			t.Fatal(err)
		}
	}
}

// TestChaosKilledRecover SIGKILLs Recover at random moments (seed logged)
// and checks that the next Recover still gives the byte-identical
// original.
func TestChaosKilledRecover(t *testing.T) {
	const iterations = 10
	ed, path, hash, mt := setup(t)
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("VPO_CHAOS_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	rng := rand.New(rand.NewPCG(seed, 0))
	job := chaosJob{Path: path, Journal: ed.JournalDir, MkvPropEdit: ed.MkvPropEdit, Recover: true}
	// How long a child takes to recover one file.
	crash(t, ed, path, flagsEdit(longTitle).args)
	disown(t, ed.JournalDir)
	took := chaosRun(t, job, -1)
	checkOriginal(t, ed, path, hash, mt)
	t.Logf("seed %d (set VPO_CHAOS_SEED to repeat); a Recover takes %v", seed, took)
	for i := range iterations {
		crash(t, ed, path, flagsEdit(longTitle).args)
		disown(t, ed.JournalDir)
		kill := time.Duration(rng.Int64N(int64(took) * 3 / 2))
		chaosRun(t, job, kill)
		if _, err := ed.Recover(context.Background()); err != nil {
			t.Fatalf("iteration %d (Recover killed after %v): next Recover: %v", i, kill, err)
		}
		if got := sum(t, path); got != hash {
			t.Fatalf("iteration %d (Recover killed after %v): not the original after the next Recover", i, kill)
		}
		checkOriginal(t, ed, path, hash, mt)
	}
}
