// Command vpobench measures vpo against baselines on this machine and
// writes the results, with the machine description and the command to
// reproduce them, to a Markdown file. tools/bench/bench.sh builds the
// binaries, installs the baseline tools and runs it.
//
// It exits non-zero only when a measurement could not be made (something
// broke); a missed goal is reported in the table, not as a failure.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// options are the command-line settings.
type options struct {
	vpo, floor string // binaries
	repo       string // repository root (for the queue benchmark)
	out        string
	work       string
	command    string // how the report was produced, printed in it
	runs       int
	idle       time.Duration
	load       time.Duration
	conns      int
	files      int
	scanRuns   int // rounds of the scan benchmark
	queueJobs  int
	// policyFiles is the size of the already-scanned library the dry run
	// plans; applyRuns the runs per change of the apply overhead.
	policyFiles int
	applyRuns   int
	// transcodeRuns is the runs of the transcode benchmark.
	transcodeRuns int
	only          string // comma-separated step names; "" runs every step
}

func main() {
	os.Exit(run())
}

func run() int {
	var o options
	flag.StringVar(&o.vpo, "vpo", "", "vpo binary to measure")
	flag.StringVar(&o.floor, "floor", "", "floor server binary (tools/bench/floor)")
	flag.StringVar(&o.repo, "repo", ".", "repository root")
	flag.StringVar(&o.out, "out", "docs/benchmarks.md", "Markdown report to write")
	flag.StringVar(&o.work, "work", "", "scratch directory (default: a new temporary directory)")
	flag.StringVar(&o.command, "command", "tools/bench/bench.sh", "command line shown in the report")
	flag.IntVar(&o.runs, "runs", 20, "start-up and stop runs per server")
	flag.DurationVar(&o.idle, "idle", 60*time.Second, "idle time before the idle memory reading")
	flag.DurationVar(&o.load, "load", 10*time.Second, "wrk duration per server")
	flag.IntVar(&o.conns, "conns", 64, "wrk connections")
	flag.IntVar(&o.files, "files", 100000, "files in the generated scan tree")
	flag.IntVar(&o.scanRuns, "scan-runs", 5, "rounds of the scan benchmark (stat floor, first scan, stat floor, rescan)")
	flag.IntVar(&o.queueJobs, "queue-jobs", 3000, "jobs per queue benchmark run")
	flag.IntVar(&o.policyFiles, "policy-files", 10000, "files in the already-scanned library of the dry-run benchmark")
	flag.IntVar(&o.applyRuns, "apply-runs", 5, "runs per change of the apply overhead benchmark")
	flag.IntVar(&o.transcodeRuns, "transcode-runs", 5, "runs of the transcode benchmark (each encodes 20 s of video twice)")
	flag.StringVar(&o.only, "only", "", "run only these steps (comma-separated: startstop,load,queue,scan,dryrun,overhead,transcode); the report then lacks the others")
	flag.Parse()
	if o.vpo == "" || o.floor == "" {
		fmt.Fprintln(os.Stderr, "vpobench: -vpo and -floor are required")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if o.work == "" {
		dir, err := os.MkdirTemp("", "vpobench-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "vpobench:", err)
			return 1
		}
		defer os.RemoveAll(dir)
		o.work = dir
	}
	for _, p := range []*string{&o.vpo, &o.floor, &o.repo, &o.out, &o.work} {
		abs, err := filepath.Abs(*p)
		if err != nil {
			fmt.Fprintln(os.Stderr, "vpobench:", err)
			return 1
		}
		*p = abs
	}
	rep, err := measure(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "vpobench:", err)
		return 1
	}
	if err := os.WriteFile(o.out, []byte(rep.markdown()), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "vpobench:", err)
		return 1
	}
	fmt.Printf("vpobench: wrote %s\n", o.out)
	return 0
}

// measure runs every benchmark in turn.
func measure(ctx context.Context, o options) (*report, error) {
	rep := &report{opts: o, started: time.Now()}
	var err error
	if rep.machine, err = describeMachine(ctx, o.work); err != nil {
		return nil, err
	}
	steps := []struct {
		id, name string
		fn       func(context.Context, options, *report) error
	}{
		{"startstop", "start-up and stop", measureStartStop},
		{"load", "idle memory and load", measureLoad},
		{"queue", "queue", measureQueue},
		{"scan", "scan", measureScan},
		{"dryrun", "policy dry run", measureDryRun},
		{"overhead", "apply overhead", measureApplyOverhead},
		{"transcode", "transcode", measureTranscode},
	}
	for _, s := range steps {
		if o.only != "" && !slices.Contains(strings.Split(o.only, ","), s.id) {
			continue
		}
		logf("== %s", s.name)
		if err := s.fn(ctx, o, rep); err != nil {
			return nil, fmt.Errorf("%s: %w", s.name, err)
		}
	}
	rep.finished = time.Now()
	return rep, nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}
