package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/alecthomas/kingpin/v2"

	"github.com/vpo-project/vpo/libs/config"
	"github.com/vpo-project/vpo/libs/policy"
)

func addPolicy(app *kingpin.Application, env Env, cmds map[string]commandFunc) {
	pc := app.Command("policy", "Read, check, plan and apply policy files (YAML, in [policies] dir).")

	list := pc.Command("list", "List the policy files of [policies] dir with their status (no daemon needed).")
	lf := addConfigFlags(list, false)
	listJSON := list.Flag("json", "Print JSON instead of a table.").Bool()
	cmds[list.FullCommand()] = func(context.Context) error {
		dir, err := policiesDir(env, lf)
		if err != nil {
			return err
		}
		listing, err := policy.List(dir)
		if err != nil {
			return withCode(ExitFailure, err)
		}
		rows := policyRows(listing)
		if *listJSON {
			return writeJSON(env.Stdout, policyListJSON{
				Dir: listing.Dir, Exists: listing.Exists, Total: len(rows), Policies: rows,
			})
		}
		if !listing.Exists {
			fmt.Fprintf(env.Stderr, "vpo: no policies: directory %s does not exist (set [policies] dir)\n", listing.Dir)
			return nil
		}
		if len(rows) == 0 {
			fmt.Fprintf(env.Stderr, "vpo: no policy files (*.yaml, *.yml) in %s\n", listing.Dir)
			return nil
		}
		return printPolicyRows(env.Stdout, rows)
	}

	check := pc.Command("check", "Check a policy file; exit 0 when vpo can apply it, 3 with every problem as file:line: key: message.")
	cf := addConfigFlags(check, false)
	checkName := check.Arg("policy", "Policy NAME (in [policies] dir) or path of a .yaml/.yml file.").Required().String()
	cmds[check.FullCommand()] = func(context.Context) error {
		dir, err := policiesDir(env, cf)
		if err != nil {
			return err
		}
		p, err := loadPolicy(env, dir, *checkName)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(env.Stdout, "ok: %s (%s)\n", p.Name, plural(len(p.Phases), "phase"))
		return err
	}

	addPolicyPlan(pc, env, cmds)
	addPolicyApply(pc, env, cmds)
}

// policiesDir is [policies] dir of the configuration the flags load.
func policiesDir(env Env, f *configFlags) (string, error) {
	loaded, err := config.Load(f.options(env))
	if err != nil {
		return "", withCode(ExitConfig, err)
	}
	return loaded.Config.Policies.Dir, nil
}

// loadPolicy finds a policy and checks it. A policy that does not parse,
// or uses what vpo does not support, has every problem printed to stderr
// and gives ExitConfig; one that does not exist gives ExitConfig and the
// error.
func loadPolicy(env Env, dir, name string) (*policy.Policy, error) {
	p, err := policy.Find(dir, name)
	if errors.Is(err, policy.ErrNotFound) {
		return nil, withCode(ExitConfig, err)
	}
	if err == nil {
		err = p.Check()
	}
	if err != nil {
		for _, pr := range problems(err) {
			fmt.Fprintln(env.Stderr, problemLine(pr, true))
		}
		return nil, reported(ExitConfig)
	}
	return p, nil
}

// problems are the policy problems err reports (see policy.Problems); an
// error that is not a policy problem is one problem with its text as the
// message.
func problems(err error) []*policy.Error {
	if ps := policy.Problems(err); len(ps) > 0 {
		return ps
	}
	return []*policy.Error{{Msg: err.Error()}}
}

// problemLine is the problem as FILE:LINE: KEY: MSG, the parts it lacks
// left out (and the file when withFile is false).
func problemLine(p *policy.Error, withFile bool) string {
	if withFile && p.File != "" {
		return p.Error()
	}
	var b strings.Builder
	if p.Key != "" {
		b.WriteString(p.Key + ": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// policyRow is one line of `vpo policy list`; its JSON has the fields of
// the daemon's GET /api/policies, plus phases and status.
type policyRow struct {
	policy.Summary
	Phases int    `json:"phases"`
	Status string `json:"status"` // ok | parse_error | unsupported
	// problems is the STATUS column's detail: the first parse problem
	// without the file name, or the unsupported features' keys.
	problems string
}

type policyListJSON struct {
	Policies []policyRow `json:"policies"`
	Total    int         `json:"total"`
	Dir      string      `json:"policies_directory"`
	Exists   bool        `json:"directory_exists"`
}

func policyRows(l policy.Listing) []policyRow {
	rows := make([]policyRow, 0, len(l.Entries))
	for _, e := range l.Entries {
		r := policyRow{Summary: e.Summary(), Status: "ok"}
		if e.Policy == nil {
			r.Status = "parse_error"
			ps := problems(entryError(e))
			r.problems = problemLine(ps[0], false)
			if len(ps) > 1 {
				r.problems += fmt.Sprintf(" (and %s)", plural(len(ps)-1, "more problem"))
			}
			rows = append(rows, r)
			continue
		}
		r.Phases = len(e.Policy.Phases)
		if err := e.Policy.Check(); err != nil {
			r.Status = "unsupported"
			var keys []string
			for _, pr := range problems(err) {
				if pr.Key != "" {
					keys = append(keys, pr.Key)
				} else {
					keys = append(keys, pr.Msg)
				}
			}
			r.problems = strings.Join(keys, ", ")
		}
		rows = append(rows, r)
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].Name < rows[j].Name })
	return rows
}

// entryError is why e has no policy: its Err, or the parse error its
// summary reports when a listing left Err nil.
func entryError(e policy.Entry) error {
	if e.Err != nil {
		return e.Err
	}
	return errors.New(*e.Summary().ParseError)
}

func printPolicyRows(w io.Writer, rows []policyRow) error {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tPHASES\tDESCRIPTION\tSTATUS")
	for _, r := range rows {
		status := r.Status
		switch r.Status {
		case "parse_error":
			status = "parse error: " + r.problems
		case "unsupported":
			status = "unsupported: " + r.problems
		}
		phases := strconv.Itoa(r.Phases)
		if r.Status == "parse_error" {
			phases = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Name, phases, oneLine(r.Description, 60), oneLine(status, 200))
	}
	return tw.Flush()
}

// oneLine folds s onto one line of at most max runes.
func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > max {
		return string(r[:max-1]) + "…"
	}
	return s
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
