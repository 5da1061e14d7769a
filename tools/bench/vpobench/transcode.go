package main

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"time"
)

// transcodeResult is the transcode benchmark's outcome: medians of
// Executor.Apply and of the same ffmpeg encode by hand, and the ratio of
// those medians.
type transcodeResult struct {
	Runs        int
	Apply, Hand time.Duration
	Ratio       float64
	// MinApply and MinHand are the fastest run of each.
	MinApply, MinHand time.Duration
	// Log is the benchmark's list of every run's times.
	Log string
}

// The benchmark's metrics, in the order go test prints them (by unit).
var (
	transcodeBenchLine = regexp.MustCompile(`(?m)^BenchmarkApplyTranscode(?:-\d+)?\s+\d+\s+[0-9.]+ ns/op\s+([0-9.]+) apply/raw\s+([0-9.e+]+) median-apply-ns\s+([0-9.e+]+) median-raw-ns\s+([0-9.e+]+) min-apply-ns\s+([0-9.e+]+) min-raw-ns`)
	transcodeRunsLine  = regexp.MustCompile(`(?m)^\s+bench_test.go:\d+: (\d+ runs: apply .*)$`)
)

// measureTranscode runs services/vpo/internal/apply's
// BenchmarkApplyTranscode: an Apply that re-encodes a generated 20 s
// 640x480 H.264 clip to HEVC (libx265 medium, CRF 30) through the
// transcode executor, against the same ffmpeg command run by hand in the
// same loop, each on a fresh copy.
func measureTranscode(ctx context.Context, o options, rep *report) error {
	for _, tool := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s is not installed (apt-get install ffmpeg)", tool)
		}
	}
	cmd := exec.CommandContext(ctx, "go", "test", "-run", "^$", "-bench", "^BenchmarkApplyTranscode$",
		"-benchtime", strconv.Itoa(o.transcodeRuns)+"x", "-count", "1", "-timeout", "1h", "./services/vpo/internal/apply")
	cmd.Dir = o.repo
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go test -bench BenchmarkApplyTranscode: %w\n%s", err, out)
	}
	m := transcodeBenchLine.FindStringSubmatch(string(out))
	if m == nil {
		return fmt.Errorf("no BenchmarkApplyTranscode result in:\n%s", out)
	}
	r := &transcodeResult{Runs: o.transcodeRuns}
	r.Ratio, _ = strconv.ParseFloat(m[1], 64)
	a, _ := strconv.ParseFloat(m[2], 64)
	h, _ := strconv.ParseFloat(m[3], 64)
	r.Apply, r.Hand = time.Duration(a), time.Duration(h)
	a, _ = strconv.ParseFloat(m[4], 64)
	h, _ = strconv.ParseFloat(m[5], 64)
	r.MinApply, r.MinHand = time.Duration(a), time.Duration(h)
	if all := transcodeRunsLine.FindAllStringSubmatch(string(out), -1); len(all) > 0 {
		r.Log = all[len(all)-1][1]
	}
	logf("transcode: apply %s, by hand %s, %.3f×; fastest %s and %s", ms(r.Apply), ms(r.Hand), r.Ratio, ms(r.MinApply), ms(r.MinHand))
	rep.transcode = r
	return nil
}
