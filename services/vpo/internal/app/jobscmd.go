package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/vpo-project/vpo/libs/config"
	"github.com/vpo-project/vpo/libs/store"
	"github.com/vpo-project/vpo/services/vpo/internal/server"
)

// clientFlags locate the running daemon.
type clientFlags struct {
	cfg  *configFlags
	url  string
	json bool
}

func addClientFlags(cmd *kingpin.CmdClause) *clientFlags {
	f := &clientFlags{cfg: addConfigFlags(cmd, false)}
	cmd.Flag("url", "Daemon URL (default: from the config, http://127.0.0.1:8321).").PlaceHolder("URL").StringVar(&f.url)
	cmd.Flag("json", "Print JSON instead of a table.").BoolVar(&f.json)
	return f
}

// client builds an API client from the flags and the configuration.
func (f *clientFlags) client(env Env) (*apiClient, error) {
	loaded, err := config.Load(f.cfg.options(env))
	if err != nil {
		return nil, withCode(ExitConfig, err)
	}
	base := f.url
	if base == "" {
		host := loaded.Config.Server.Bind
		if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
			host = "127.0.0.1"
		}
		base = "http://" + net.JoinHostPort(host, strconv.Itoa(loaded.Config.Server.Port))
	}
	return newAPIClient(strings.TrimRight(base, "/"), loaded.Config.Server.AuthToken), nil
}

func addJobs(app *kingpin.Application, env Env, cmds map[string]commandFunc) {
	jobsCmd := app.Command("jobs", "Submit and manage jobs of a running daemon (over its HTTP API).")

	submit := jobsCmd.Command("submit", "Queue a job, e.g. vpo jobs submit scan --payload '{\"path\":\"/media\"}'.")
	sf := addClientFlags(submit)
	kind := submit.Arg("kind", "Job kind (e.g. scan).").Required().String()
	payload := submit.Flag("payload", "Job payload as JSON.").Default("{}").String()
	priority := submit.Flag("priority", "Priority 0..1000, lower runs first.").Default("500").Int()
	requires := submit.Flag("requires", "Comma-separated worker tags a node must offer (jobs.tags) to run the job, e.g. gpu.").String()
	cmds[submit.FullCommand()] = func(ctx context.Context) error {
		c, err := sf.client(env)
		if err != nil {
			return err
		}
		if !json.Valid([]byte(*payload)) {
			return withCode(ExitUsage, fmt.Errorf("--payload is not valid JSON: %s", *payload))
		}
		var job store.Job
		body := map[string]any{"kind": *kind, "payload": json.RawMessage(*payload), "priority": *priority}
		if *requires != "" {
			// Read as jobs.tags is; the daemon checks each tag (and names
			// a bad one).
			body["requires"] = config.CommaList(*requires)
		}
		if err := c.do(ctx, "POST", "/api/jobs", body, &job); err != nil {
			return err
		}
		return printJobs(env.Stdout, sf.json, job)
	}

	list := jobsCmd.Command("list", "List jobs, newest first.")
	lf := addClientFlags(list)
	status := list.Flag("status", "Only jobs with this status (queued, running, completed, failed, cancelled).").String()
	kindF := list.Flag("kind", "Only jobs of this kind.").String()
	limit := list.Flag("limit", "At most this many jobs.").Default("50").Int()
	cmds[list.FullCommand()] = func(ctx context.Context) error {
		c, err := lf.client(env)
		if err != nil {
			return err
		}
		q := fmt.Sprintf("/api/jobs?status=%s&kind=%s&limit=%d", urlQuery(*status), urlQuery(*kindF), *limit)
		var out struct {
			Jobs []store.Job `json:"jobs"`
		}
		if err := c.do(ctx, "GET", q, nil, &out); err != nil {
			return err
		}
		if !lf.json {
			// Why queued jobs may not start; a daemon that cannot say
			// (an older version) just leaves the line out.
			var st server.QueueStatus
			if c.do(ctx, "GET", "/api/queue", nil, &st) == nil {
				if notice := queueNotice(st, time.Now()); notice != "" {
					fmt.Fprintln(env.Stdout, notice)
				}
			}
		}
		return printJobs(env.Stdout, lf.json, out.Jobs...)
	}

	addJobsLogs(jobsCmd, env, cmds)

	for _, action := range []struct{ name, help, method, suffix string }{
		{"show", "Show one job; a running one with its progress and estimated time left.", "GET", ""},
		{"cancel", "Cancel a job: a queued job at once, a running one as soon as its handler stops.", "POST", "/cancel"},
		{"retry", "Queue a failed or cancelled job again.", "POST", "/retry"},
	} {
		cmd := jobsCmd.Command(action.name, action.help)
		cf := addClientFlags(cmd)
		id := cmd.Arg("id", "Job ID.").Required().String()
		method, suffix := action.method, action.suffix
		cmds[cmd.FullCommand()] = func(ctx context.Context) error {
			c, err := cf.client(env)
			if err != nil {
				return err
			}
			var job store.Job
			if err := c.do(ctx, method, "/api/jobs/"+urlQuery(*id)+suffix, nil, &job); err != nil {
				return err
			}
			if err := printJobs(env.Stdout, cf.json, job); err != nil || cf.json || job.Status != store.StatusRunning {
				return err
			}
			_, err = fmt.Fprintln(env.Stdout, "\n"+progressLine(job))
			return err
		}
	}
}

func printJobs(w io.Writer, asJSON bool, js ...store.Job) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if len(js) == 1 {
			return enc.Encode(js[0])
		}
		if js == nil {
			js = []store.Job{}
		}
		return enc.Encode(js)
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tKIND\tSTATUS\tNODE\tPRIORITY\tATTEMPTS\tPROGRESS\tCREATED\tMESSAGE")
	for _, j := range js {
		msg := j.ProgressMessage
		if j.Error != "" {
			msg = j.Error
		}
		if j.Status == store.StatusQueued && len(j.Requires) > 0 {
			msg = strings.TrimSpace("needs a node with " + strings.Join(j.Requires, ", ") + "; " + msg)
			msg = strings.TrimSuffix(msg, ";")
		}
		node := j.Node
		if node == "" {
			node = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d/%d\t%s\t%s\t%s\n", j.ID, j.Kind, j.Status, node, j.Priority,
			j.Attempts, j.MaxAttempts, progressCell(j), j.CreatedAt.Local().Format(time.DateTime), msg)
	}
	return tw.Flush()
}

// progressCell is a job's PROGRESS column: "42% eta 1m10s", "42%", or "-"
// for a queued job that has not started.
func progressCell(j store.Job) string {
	if j.Status == store.StatusQueued && j.ProgressPercent == 0 {
		return "-"
	}
	cell := fmt.Sprintf("%.0f%%", j.ProgressPercent)
	if j.ETASeconds != nil {
		cell += " eta " + formatETA(*j.ETASeconds)
	}
	return cell
}

// progressLine describes the progress of a running job for `vpo jobs
// show`: "progress: 42% eta 1m10s (encoding 0:42 of 1:40)".
func progressLine(j store.Job) string {
	line := "progress: " + progressCell(j)
	if j.ProgressMessage != "" {
		line += " (" + j.ProgressMessage + ")"
	}
	return line
}

// formatETA formats whole seconds without zero units: "45s", "1m10s",
// "2h", "1h5m".
func formatETA(seconds int64) string {
	s := (time.Duration(max(seconds, 0)) * time.Second).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
