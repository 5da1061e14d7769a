package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// settle is how long a server idles between its first 200 and SIGTERM.
const settle = 500 * time.Millisecond

// measureStartStop times exec → first /health 200 (fresh database every
// run for vpo) and SIGTERM → exit, for vpo and for the floor server.
func measureStartStop(ctx context.Context, o options, rep *report) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	url := "http://127.0.0.1:" + strconv.Itoa(port) + "/health"
	for _, who := range []string{"vpo", "floor"} {
		var starts, stops []time.Duration
		for i := 0; i < o.runs; i++ {
			dir := filepath.Join(o.work, fmt.Sprintf("start-%s-%d", who, i))
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			var bin string
			var args, env []string
			if who == "vpo" {
				bin, args, env = o.vpo, []string{"serve"}, vpoEnv(dir, port)
			} else {
				bin, args, env = o.floor, []string{"-addr", "127.0.0.1:" + strconv.Itoa(port)}, []string{"HOME=" + dir}
			}
			t0 := time.Now()
			s, err := startServer(bin, args, env, filepath.Join(dir, "server.log"))
			if err != nil {
				return err
			}
			up, err := waitOK(ctx, url, s.exited, 30*time.Second)
			if err != nil {
				s.kill()
				return fmt.Errorf("%s run %d: %w (log in %s)", who, i, err, dir)
			}
			starts = append(starts, up.Sub(t0))
			time.Sleep(settle)
			d, err := s.stop(60 * time.Second)
			if err != nil {
				return fmt.Errorf("%s run %d: %w", who, i, err)
			}
			stops = append(stops, d)
		}
		logf("%s: start-up median %s, stop median %s", who, median(starts), median(stops))
		if who == "vpo" {
			rep.vpoStart, rep.vpoStop = starts, stops
		} else {
			rep.floorStart, rep.floorStop = starts, stops
		}
	}
	return nil
}
