package app

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/alecthomas/kingpin/v2"

	"github.com/vpo-project/vpo/libs/policy"
)

// planPageSize is how many plans one request of the CLI asks for.
const planPageSize = 100

// planRow is a stored plan as the daemon's /api/plans returns it.
type planRow struct {
	ID         int64       `json:"id"`
	JobID      string      `json:"job_id"`
	Policy     string      `json:"policy"`
	Path       string      `json:"path"`
	PathB64    string      `json:"path_b64,omitempty"` // the exact bytes of a path shown escaped
	Status     string      `json:"status"`
	DryRun     bool        `json:"dry_run"`
	CreatedAt  time.Time   `json:"created_at"`
	UpdatedAt  time.Time   `json:"updated_at"`
	Plan       policy.Plan `json:"plan"`
	FileSize   int64       `json:"file_size"`
	FileMTime  time.Time   `json:"file_mtime"`
	Error      string      `json:"error,omitempty"`
	ApplyJobID string      `json:"apply_job_id,omitempty"`
}

type planPage struct {
	Plans      []planRow `json:"plans"`
	NextCursor string    `json:"next_cursor"`
}

func addPlan(app *kingpin.Application, env Env, cmds map[string]commandFunc) {
	pc := app.Command("plan", "List, approve and reject the plans a running daemon stored (approval mode: [policies] require_approval).")

	list := pc.Command("list", "List stored plans, newest first.")
	lf := addClientFlags(list)
	status := list.Flag("status", "Only plans with this status (planned, pending, approved, rejected, applied, failed, superseded).").String()
	pol := list.Flag("policy", "Only plans of this policy.").PlaceHolder("NAME").String()
	path := list.Flag("path", "Only plans of this file path (as vpo prints it; a path that is not UTF-8 may also be given as it is).").PlaceHolder("P").String()
	job := list.Flag("job", "Only plans made by this job.").PlaceHolder("ID").String()
	limit := list.Flag("limit", "At most this many plans (0: all).").Default("50").Int()
	cmds[list.FullCommand()] = func(ctx context.Context) error {
		c, err := lf.client(env)
		if err != nil {
			return err
		}
		if *limit < 0 {
			return withCode(ExitUsage, fmt.Errorf("--limit %d is negative", *limit))
		}
		q := url.Values{}
		for k, v := range map[string]string{"status": *status, "policy": *pol, "path": *path, "job": *job} {
			if v != "" {
				q.Set(k, v)
			}
		}
		if !utf8.ValidString(*path) {
			// The exact bytes; ?path= takes the form vpo prints.
			q.Del("path")
			q.Set("path_b64", base64.StdEncoding.EncodeToString([]byte(*path)))
		}
		rows, err := listPlans(ctx, c, q, *limit)
		if err != nil {
			return err
		}
		if lf.json {
			if rows == nil {
				rows = []planRow{}
			}
			return writeJSON(env.Stdout, rows)
		}
		return printPlans(env.Stdout, rows)
	}

	for _, action := range []struct{ name, help string }{
		{"approve", "Approve a pending plan (the daemon queues an apply job for it, which plans again if the file changed)."},
		{"reject", "Reject a pending plan: its file is left as it is."},
	} {
		cmd := pc.Command(action.name, action.help+" With --all, every pending plan.")
		cf := addClientFlags(cmd)
		id := cmd.Arg("id", "Plan ID.").String()
		all := cmd.Flag("all", "Act on every pending plan.").Bool()
		verb := action.name
		cmds[cmd.FullCommand()] = func(ctx context.Context) error {
			if (*id == "") == !*all {
				return withCode(ExitUsage, fmt.Errorf("give a plan ID or --all, not both or neither"))
			}
			c, err := cf.client(env)
			if err != nil {
				return err
			}
			if !*all {
				if _, err := strconv.ParseInt(*id, 10, 64); err != nil {
					return withCode(ExitUsage, fmt.Errorf("plan ID %q is not a number", *id))
				}
				return decidePlan(ctx, c, env.Stdout, verb, *id, cf.json)
			}
			return decideAll(ctx, c, env, verb, cf.json)
		}
	}
}

// listPlans pages through /api/plans with q until limit rows (0: all).
func listPlans(ctx context.Context, c *apiClient, q url.Values, limit int) ([]planRow, error) {
	var rows []planRow
	cursor := ""
	for {
		page := planPageSize
		if limit > 0 && limit-len(rows) < page {
			page = limit - len(rows)
		}
		q.Set("limit", strconv.Itoa(page))
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var out planPage
		if err := c.do(ctx, "GET", "/api/plans?"+q.Encode(), nil, &out); err != nil {
			return nil, err
		}
		rows = append(rows, out.Plans...)
		if out.NextCursor == "" || out.NextCursor == cursor || len(out.Plans) == 0 || (limit > 0 && len(rows) >= limit) {
			if limit > 0 && len(rows) > limit {
				rows = rows[:limit]
			}
			return rows, nil
		}
		cursor = out.NextCursor
	}
}

// decidePlan approves or rejects one plan.
func decidePlan(ctx context.Context, c *apiClient, w io.Writer, verb, id string, asJSON bool) error {
	var out struct {
		Plan  planRow `json:"plan"`
		JobID string  `json:"job_id"`
	}
	if err := c.do(ctx, "POST", "/api/plans/"+urlQuery(id)+"/"+verb, nil, &out); err != nil {
		return err
	}
	if asJSON {
		return writeJSON(w, out)
	}
	return printDecision(w, out.Plan, out.JobID)
}

func printDecision(w io.Writer, p planRow, jobID string) error {
	msg := fmt.Sprintf("plan %d %s: %s", p.ID, p.Status, p.Path)
	if jobID != "" {
		msg += " (apply job " + jobID + ")"
	}
	_, err := fmt.Fprintln(w, msg)
	return err
}

// decideAll approves or rejects every pending plan. The pending plans are
// listed first, then decided one by one; a plan that is no longer pending
// when its turn comes (decided by someone else) is reported and skipped.
func decideAll(ctx context.Context, c *apiClient, env Env, verb string, asJSON bool) error {
	rows, err := listPlans(ctx, c, url.Values{"status": {"pending"}}, 0)
	if err != nil {
		return err
	}
	if len(rows) == 0 {
		fmt.Fprintln(env.Stderr, "vpo: no pending plans")
		if asJSON {
			return writeJSON(env.Stdout, []any{})
		}
		return nil
	}
	type decided struct {
		Plan  planRow `json:"plan"`
		JobID string  `json:"job_id,omitempty"`
		Error string  `json:"error,omitempty"`
	}
	var results []decided
	failed := 0
	for _, r := range rows {
		var out struct {
			Plan  planRow `json:"plan"`
			JobID string  `json:"job_id"`
		}
		err := c.do(ctx, "POST", "/api/plans/"+strconv.FormatInt(r.ID, 10)+"/"+verb, nil, &out)
		var ee *exitError
		if err != nil && !(errors.As(err, &ee) && ee.code == ExitUnavailable && isRefusal(ee.err)) {
			return err // the daemon is gone: stop
		}
		if err != nil {
			failed++
			fmt.Fprintf(env.Stderr, "vpo: plan %d (%s): %v\n", r.ID, r.Path, err)
			results = append(results, decided{Plan: r, Error: err.Error()})
			continue
		}
		results = append(results, decided{Plan: out.Plan, JobID: out.JobID})
		if !asJSON {
			if err := printDecision(env.Stdout, out.Plan, out.JobID); err != nil {
				return err
			}
		}
	}
	if asJSON {
		if err := writeJSON(env.Stdout, results); err != nil {
			return err
		}
	}
	if failed > 0 {
		return withCode(ExitFailure, fmt.Errorf("%s of %d could not be %s", plural(failed, "plan"), len(rows), pastTense(verb)))
	}
	return nil
}

func pastTense(verb string) string { return verb + "d" }

// isRefusal tells the daemon's refusal of one plan (404: gone, 409: no
// longer pending) from a daemon that could not be reached or is failing.
func isRefusal(err error) bool {
	var de *daemonError
	return errors.As(err, &de) && (de.Status == 404 || de.Status == 409)
}

func printPlans(w io.Writer, rows []planRow) error {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATUS\tPOLICY\tCHANGES\tUPDATED\tPATH")
	for _, r := range rows {
		changes := strconv.Itoa(len(r.Plan.Changes))
		if r.Plan.Skipped != "" {
			changes = "skipped"
		}
		if r.DryRun {
			changes += " (dry run)"
		}
		path := r.Path
		if r.Error != "" {
			path += "  (" + oneLine(r.Error, 80) + ")"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Status, r.Policy, changes,
			r.UpdatedAt.Local().Format(time.DateTime), path)
	}
	return tw.Flush()
}
