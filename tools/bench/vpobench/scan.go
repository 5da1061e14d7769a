package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// scanResult is one scan job of the generated tree.
type scanResult struct {
	Wall     time.Duration // POST → completed seen by polling
	Job      time.Duration // started_at → finished_at of the job
	Seen     int
	Previous string
	// New and Unchanged are the job's counts.
	New, Unchanged int
}

// scanBench is the scan benchmark: rounds of the stat floor, a first scan
// by a new daemon and a rescan, interleaved.
type scanBench struct {
	Files                int
	Floor, First, Rescan []time.Duration // walls
	FirstJob, RescanJob  []time.Duration // the jobs' own started→finished
	Find                 time.Duration   // hyperfine median of `find -type f`
}

// makeTree writes n empty .mkv files, 100 per directory, in a
// shows/season/episode layout.
func makeTree(root string, n int) error {
	const perDir = 100
	for i := 0; i < n; i++ {
		dir := filepath.Join(root, fmt.Sprintf("show-%03d", i/(perDir*10)), fmt.Sprintf("season-%02d", (i/perDir)%10))
		if i%perDir == 0 {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("episode-%06d.mkv", i)), nil, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// floorCommand is the stat floor of a scan: list every file with its size
// and mtime, as a scan must learn them.
func floorCommand(root string) []string {
	return []string{"find", root, "-type", "f", "-printf", `%s %T@\n`}
}

// timeFloor runs the floor command once (output to /dev/null) and
// returns its wall time, process start included.
func timeFloor(ctx context.Context, root string) (time.Duration, error) {
	argv := floorCommand(root)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...) // stdout: /dev/null
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	t0 := time.Now()
	err := cmd.Run()
	d := time.Since(t0)
	if err != nil || stderr.Len() > 0 {
		return 0, fmt.Errorf("%v: %v %s", argv, err, stderr.Bytes())
	}
	return d, nil
}

// measureScan times, in the same run and interleaved, the stat floor
// (`find -printf '%s %T@\n'`), a first scan of o.files new files by a
// daemon with a new database, and a rescan of the same unchanged tree,
// o.scanRuns times each.
func measureScan(ctx context.Context, o options, rep *report) error {
	root := filepath.Join(o.work, "media")
	logf("generating %d files", o.files)
	if err := makeTree(root, o.files); err != nil {
		return err
	}
	b := &scanBench{Files: o.files}
	var err error
	if b.Find, err = hyperfineMedian(ctx, o.work, "find "+root+" -type f"); err != nil {
		return err
	}
	for range 2 { // warm the caches
		if _, err := timeFloor(ctx, root); err != nil {
			return err
		}
	}
	for run := 0; run < o.scanRuns; run++ {
		if err := scanRound(ctx, o, root, run, b); err != nil {
			return fmt.Errorf("round %d: %w", run+1, err)
		}
		logf("scan round %d: floor %s, first scan %s, floor %s, rescan %s", run+1, ms(b.Floor[2*run]), ms(b.First[run]),
			ms(b.Floor[2*run+1]), ms(b.Rescan[run]))
	}
	rep.scan = b
	return nil
}

// scanRound is one round: floor, first scan by a new daemon, floor,
// rescan.
func scanRound(ctx context.Context, o options, root string, run int, b *scanBench) error {
	dir := filepath.Join(o.work, fmt.Sprintf("scan-%d", run))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	port, err := freePort()
	if err != nil {
		return err
	}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	s, err := startServer(o.vpo, []string{"serve"}, vpoEnv(dir, port), filepath.Join(dir, "vpo.log"))
	if err != nil {
		return err
	}
	defer s.kill()
	if _, err := waitOK(ctx, base+"/health", s.exited, 30*time.Second); err != nil {
		return err
	}
	for _, step := range []struct {
		label          string
		new, unchanged int
		wall, job      *[]time.Duration
	}{
		{"first scan", b.Files, 0, &b.First, &b.FirstJob},
		{"rescan", 0, b.Files, &b.Rescan, &b.RescanJob},
	} {
		f, err := timeFloor(ctx, root)
		if err != nil {
			return err
		}
		b.Floor = append(b.Floor, f)
		r, err := runScan(ctx, base, root)
		if err != nil {
			return fmt.Errorf("%s: %w", step.label, err)
		}
		if r.Seen != b.Files || r.New != step.new || r.Unchanged != step.unchanged {
			return fmt.Errorf("%s: %d files seen, %d new, %d unchanged; want %d, %d, %d", step.label, r.Seen, r.New, r.Unchanged,
				b.Files, step.new, step.unchanged)
		}
		*step.wall, *step.job = append(*step.wall, r.Wall), append(*step.job, r.Job)
	}
	_, err = s.stop(60 * time.Second)
	return err
}

func runScan(ctx context.Context, base, root string) (scanResult, error) {
	body, _ := json.Marshal(map[string]any{"kind": "scan", "payload": map[string]any{"path": root}})
	t0 := time.Now()
	resp, err := http.Post(base+"/api/jobs", "application/json", bytes.NewReader(body))
	if err != nil {
		return scanResult{}, err
	}
	var j struct {
		ID string `json:"id"`
	}
	err = json.NewDecoder(resp.Body).Decode(&j)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusCreated {
		return scanResult{}, fmt.Errorf("submit scan: %d %v", resp.StatusCode, err)
	}
	for {
		var job struct {
			Status     string     `json:"status"`
			Error      string     `json:"error"`
			StartedAt  *time.Time `json:"started_at"`
			FinishedAt *time.Time `json:"finished_at"`
			Result     struct {
				Seen      int `json:"files_seen"`
				New       int `json:"new"`
				Unchanged int `json:"unchanged"`
			} `json:"result"`
		}
		resp, err := http.Get(base + "/api/jobs/" + j.ID)
		if err != nil {
			return scanResult{}, err
		}
		err = json.NewDecoder(resp.Body).Decode(&job)
		resp.Body.Close()
		if err != nil {
			return scanResult{}, err
		}
		switch job.Status {
		case "completed":
			r := scanResult{Wall: time.Since(t0), Seen: job.Result.Seen, New: job.Result.New, Unchanged: job.Result.Unchanged}
			if job.StartedAt != nil && job.FinishedAt != nil {
				r.Job = job.FinishedAt.Sub(*job.StartedAt)
			}
			return r, nil
		case "failed", "cancelled":
			return scanResult{}, fmt.Errorf("scan job %s: %s", job.Status, job.Error)
		}
		select {
		case <-ctx.Done():
			return scanResult{}, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// hyperfineMedian runs a command with hyperfine (no shell, warm cache) and
// returns its median wall time.
func hyperfineMedian(ctx context.Context, work, command string) (time.Duration, error) {
	out := filepath.Join(work, "hyperfine.json")
	cmd := exec.CommandContext(ctx, "hyperfine", "-N", "--warmup", "2", "--runs", "10", "--style", "none",
		"--output", "null", "--export-json", out, command)
	if b, err := cmd.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("hyperfine %q: %w\n%s", command, err, b)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		return 0, err
	}
	var res struct {
		Results []struct {
			Median float64 `json:"median"`
		} `json:"results"`
	}
	if err := json.Unmarshal(data, &res); err != nil || len(res.Results) != 1 {
		return 0, fmt.Errorf("hyperfine %q: unreadable result %s", command, data)
	}
	return time.Duration(res.Results[0].Median * float64(time.Second)), nil
}
