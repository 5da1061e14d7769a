package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/vpo-project/vpo/libs/config"
	"github.com/vpo-project/vpo/services/vpo/internal/server"
)

// queueWaitEvery is how often `vpo queue pause --wait` asks the daemon
// whether its running jobs are done.
const queueWaitEvery = 250 * time.Millisecond

func addQueue(app *kingpin.Application, env Env, cmds map[string]commandFunc) {
	queueCmd := app.Command("queue", "Pause, resume and show the job queue of a running daemon (over its HTTP API). "+
		"A pause is stored: it survives a restart until 'vpo queue resume'. "+
		"Exit codes: 0 done, 3 invalid configuration, 6 daemon unreachable or the request refused.")

	pause := queueCmd.Command("pause", "Stop starting jobs. Running jobs are interrupted and requeued without spending an attempt, "+
		"unless --drain lets them finish.")
	pf := addClientFlags(pause)
	drain := pause.Flag("drain", "Let the running jobs finish instead of requeueing them.").Bool()
	wait := pause.Flag("wait", "Return only once no job runs any more.").Bool()
	cmds[pause.FullCommand()] = func(ctx context.Context) error {
		c, err := pf.client(env)
		if err != nil {
			return err
		}
		var st server.QueueStatus
		if err := c.do(ctx, "POST", "/api/queue/pause", map[string]bool{"drain": *drain}, &st); err != nil {
			return err
		}
		if *wait {
			if st, err = waitDrained(ctx, c, st, env.Stderr); err != nil {
				return err
			}
		}
		return printQueue(env.Stdout, pf.json, st, time.Now())
	}

	resume := queueCmd.Command("resume", "Start jobs again after a pause.")
	rf := addClientFlags(resume)
	cmds[resume.FullCommand()] = func(ctx context.Context) error {
		c, err := rf.client(env)
		if err != nil {
			return err
		}
		var st server.QueueStatus
		if err := c.do(ctx, "POST", "/api/queue/resume", nil, &st); err != nil {
			return err
		}
		return printQueue(env.Stdout, rf.json, st, time.Now())
	}

	window := queueCmd.Command("window", "Set the processing window of every daemon that shares the database, in place of each one's "+
		"jobs.schedule: SCHEDULE is time ranges as in jobs.schedule (\"01:00-07:00, 22:00-23:30\", each node's local time), "+
		"or \"\" for always open. --clear goes back to each daemon's own jobs.schedule. Stored: it survives restarts.")
	wf := addClientFlags(window)
	windowArgs := window.Arg("schedule", `Time ranges ("01:00-07:00"), or "" for always open.`).Strings()
	var kindsGiven bool
	windowKinds := window.Flag("kinds", "Comma-separated job kinds the window holds back while closed (default: apply,transcode).").
		IsSetByUser(&kindsGiven).String()
	windowClear := window.Flag("clear", "Remove the cluster's window: each daemon follows its jobs.schedule again.").Bool()
	cmds[window.FullCommand()] = func(ctx context.Context) error {
		kinds := windowKinds
		if !kindsGiven {
			kinds = nil
		}
		req, path, method, err := windowRequest(*windowArgs, kinds, *windowClear)
		if err != nil {
			return withCode(ExitUsage, err)
		}
		c, err := wf.client(env)
		if err != nil {
			return err
		}
		var st server.QueueStatus
		if err := c.do(ctx, method, path, req, &st); err != nil {
			return err
		}
		return printQueue(env.Stdout, wf.json, st, time.Now())
	}

	status := queueCmd.Command("status", "Show whether the queue is paused, its processing window, and how many jobs run and wait.")
	sf := addClientFlags(status)
	cmds[status.FullCommand()] = func(ctx context.Context) error {
		c, err := sf.client(env)
		if err != nil {
			return err
		}
		var st server.QueueStatus
		if err := c.do(ctx, "GET", "/api/queue", nil, &st); err != nil {
			return err
		}
		return printQueue(env.Stdout, sf.json, st, time.Now())
	}
}

// windowRequest turns the arguments of `vpo queue window` into its
// request: PUT /api/queue/window with the schedule and kinds, or DELETE
// with --clear.
func windowRequest(args []string, kinds *string, clear bool) (body any, path, method string, err error) {
	const windowPath = "/api/queue/window"
	switch {
	case clear && (len(args) > 0 || kinds != nil):
		return nil, "", "", errors.New("queue window: --clear takes no schedule and no --kinds")
	case clear:
		return nil, windowPath, http.MethodDelete, nil
	case len(args) != 1:
		return nil, "", "", errors.New(`queue window: give one SCHEDULE (quote it: "01:00-07:00, 22:00-23:30"; "" for always open), or --clear`)
	}
	req := map[string]any{"schedule": args[0]}
	if kinds != nil {
		ks := config.CommaList(*kinds)
		if len(ks) == 0 {
			return nil, "", "", fmt.Errorf("queue window: --kinds %q names no job kind (omit it for apply and transcode)", *kinds)
		}
		req["scheduled_kinds"] = ks
	}
	return req, windowPath, http.MethodPut, nil
}

// running is the number of jobs a drained pause waits for: on every node
// (an older daemon reports only its own).
func running(st server.QueueStatus) int { return max(st.Running, st.RunningAll) }

// waitDrained polls the daemon until no job runs on any node.
func waitDrained(ctx context.Context, c *apiClient, st server.QueueStatus, progress io.Writer) (server.QueueStatus, error) {
	if running(st) > 0 {
		fmt.Fprintf(progress, "waiting for %d running job(s) to stop...\n", running(st))
	}
	t := time.NewTicker(queueWaitEvery)
	defer t.Stop()
	for running(st) > 0 {
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-t.C:
		}
		if err := c.do(ctx, "GET", "/api/queue", nil, &st); err != nil {
			return st, err
		}
	}
	return st, nil
}

// printQueue prints the queue's state: JSON, or the lines of queueLines.
func printQueue(w io.Writer, asJSON bool, st server.QueueStatus, now time.Time) error {
	if asJSON {
		return writeJSON(w, st)
	}
	_, err := fmt.Fprintln(w, strings.Join(queueLines(st, now), "\n"))
	return err
}

// queueLines describes the queue for people:
//
//	queue: paused since 2026-12-02 05:00:00 (draining: running jobs finish)
//	jobs: 1 running, 7 queued
//	processing window: 01:00-07:00 (apply, transcode); closed, opens at 01:00 (in 3h12m)
func queueLines(st server.QueueStatus, now time.Time) []string {
	var lines []string
	switch {
	case st.Paused && st.PausedAt != nil:
		lines = append(lines, "queue: paused since "+st.PausedAt.Local().Format(time.DateTime)+drainNote(st))
	case st.Paused:
		lines = append(lines, "queue: paused"+drainNote(st))
	default:
		lines = append(lines, "queue: running")
	}
	if st.RunningAll > st.Running {
		lines = append(lines, fmt.Sprintf("jobs: %d running (%d on this node), %d queued", st.RunningAll, st.Running, st.Queued))
	} else {
		lines = append(lines, fmt.Sprintf("jobs: %d running, %d queued", st.Running, st.Queued))
	}
	label := "processing window"
	if st.WindowSource == "cluster" {
		label += " (the cluster's"
		if st.WindowSetAt != nil {
			label += ", set " + st.WindowSetAt.Local().Format(time.DateTime)
		}
		label += ")"
	}
	switch {
	case st.Schedule == "":
		lines = append(lines, label+": always open")
	case st.WindowOpen:
		lines = append(lines, fmt.Sprintf("%s: %s (%s); open", label, st.Schedule, strings.Join(st.ScheduledKinds, ", ")))
	default:
		closed := "closed"
		if opens := windowOpens(st, now); opens != "" {
			closed += ", " + opens
		}
		lines = append(lines, fmt.Sprintf("%s: %s (%s); %s", label, st.Schedule, strings.Join(st.ScheduledKinds, ", "), closed))
	}
	if st.WindowError != "" {
		lines = append(lines, "warning: "+st.WindowError+" (not followed: set it again with 'vpo queue window SCHEDULE', or 'vpo queue window --clear')")
	}
	return lines
}

func drainNote(st server.QueueStatus) string {
	if st.Drain {
		return " (drain: running jobs finish)"
	}
	return ""
}

// windowOpens is "opens at 01:00 (in 3h12m)" for a closed window, with the
// date when it is a day or more away; "" when the daemon did not say.
func windowOpens(st server.QueueStatus, now time.Time) string {
	if st.NextWindow == nil {
		return ""
	}
	next := st.NextWindow.Local()
	at := next.Format("15:04")
	if next.Sub(now) >= 24*time.Hour {
		at = next.Format("2006-01-02 15:04")
	}
	return fmt.Sprintf("opens at %s (in %s)", at, roughDuration(next.Sub(now)))
}

// roughDuration is d for people: "45s", "3h12m", "2h".
func roughDuration(d time.Duration) string {
	if d < time.Minute {
		return max(d, 0).Round(time.Second).String()
	}
	return formatETA(int64(d.Round(time.Minute) / time.Second))
}

// queueNotice is the line `vpo jobs list` prints above its table when the
// queue does not start jobs, or not of every kind: "queue paused" and/or
// "processing window closed; opens at 01:00 (in 3h12m)"; "" otherwise.
func queueNotice(st server.QueueStatus, now time.Time) string {
	var parts []string
	if st.Paused {
		p := "queue paused"
		if st.Drain {
			p += " (drain: running jobs finish)"
		}
		parts = append(parts, p+"; 'vpo queue resume' starts jobs again")
	}
	if st.Schedule != "" && !st.WindowOpen {
		w := "processing window closed"
		if opens := windowOpens(st, now); opens != "" {
			w += "; " + opens
		}
		parts = append(parts, w+" ("+strings.Join(st.ScheduledKinds, ", ")+" wait)")
	}
	return strings.Join(parts, "\n")
}
