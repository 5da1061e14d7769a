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
}

// extensions of the generated files: mostly videos, some sidecars that the
// scan must skip.
var extensions = []string{".mkv", ".mp4", ".mkv", ".avi", ".mkv", ".mov", ".ts", ".mkv", ".srt", ".nfo"}

// makeTree writes n empty files in a shows/season/episode layout.
func makeTree(root string, n int) error {
	const perDir = 100
	for i := 0; i < n; i++ {
		dir := filepath.Join(root, fmt.Sprintf("show-%03d", i/(perDir*10)), fmt.Sprintf("season-%02d", (i/perDir)%10))
		if i%perDir == 0 {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
		}
		name := fmt.Sprintf("episode-%06d%s", i, extensions[i%len(extensions)])
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// measureScan times `find` (the baseline) and vpo's scan job over the same
// tree, twice: a first scan that records every file and a rescan of an
// unchanged tree.
func measureScan(ctx context.Context, o options, rep *report) error {
	root := filepath.Join(o.work, "media")
	logf("generating %d files", o.files)
	if err := makeTree(root, o.files); err != nil {
		return err
	}
	rep.scanFiles = o.files
	var err error
	if rep.findMedian, err = hyperfineMedian(ctx, o.work, "find "+root+" -type f"); err != nil {
		return err
	}
	if rep.findStatMedian, err = hyperfineMedian(ctx, o.work, "find "+root+" -type f -printf %s%T@"); err != nil {
		return err
	}
	logf("find: %s, find with stat: %s", rep.findMedian, rep.findStatMedian)

	dir := filepath.Join(o.work, "scan")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
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
	for _, label := range []string{"first scan (all new)", "rescan (unchanged)"} {
		r, err := runScan(ctx, base, root)
		if err != nil {
			return fmt.Errorf("%s: %w", label, err)
		}
		r.Previous = label
		logf("scan %s: wall %s, job %s, %d video files", label, r.Wall, r.Job, r.Seen)
		rep.scans = append(rep.scans, r)
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
				Seen int `json:"files_seen"`
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
			r := scanResult{Wall: time.Since(t0), Seen: job.Result.Seen}
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
