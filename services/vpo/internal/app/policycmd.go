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
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/vpo-project/vpo/libs/config"
)

func addPolicy(app *kingpin.Application, env Env, d deps, cmds map[string]commandFunc) {
	pc := app.Command("policy", "Read, check, plan and apply policy files (YAML, in [policies] dir).")

	list := pc.Command("list", "List the policy files of [policies] dir with their status (no daemon needed).")
	lf := addConfigFlags(list, false)
	listJSON := list.Flag("json", "Print JSON instead of a table.").Bool()
	cmds[list.FullCommand()] = func(context.Context) error {
		dir, err := policiesDir(env, lf)
		if err != nil {
			return err
		}
		listing, err := d.policies.List(dir)
		if err != nil {
			return withCode(ExitFailure, err)
		}
		rows := policyRows(d.policies, listing)
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
		p, err := loadPolicy(env, d.policies, dir, *checkName)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(env.Stdout, "ok: %s (%s)\n", p.Name(), plural(p.Phases(), "phase"))
		return err
	}

	addPolicyPlan(pc, env, d, cmds)
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
func loadPolicy(env Env, eng policyEngine, dir, name string) (policyFile, error) {
	p, err := eng.Find(dir, name)
	if errors.Is(err, errPolicyNotFound) {
		return nil, withCode(ExitConfig, err)
	}
	if err == nil {
		err = p.Check()
	}
	if err != nil {
		printProblems(env.Stderr, eng.Problems(err))
		return nil, reported(ExitConfig)
	}
	return p, nil
}

// printProblems writes one line per problem: file:line: key: message.
func printProblems(w io.Writer, ps []policyProblem) {
	for _, p := range ps {
		fmt.Fprintln(w, p.String())
	}
}

func (p policyProblem) String() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File)
		if p.Line > 0 {
			b.WriteString(":" + strconv.Itoa(p.Line))
		}
		b.WriteString(": ")
	}
	if p.Key != "" {
		b.WriteString(p.Key + ": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// policyRow is one line of `vpo policy list`; its JSON has the fields of
// the daemon's GET /api/policies, plus phases and status.
type policyRow struct {
	Name              string     `json:"name"`
	Filename          string     `json:"filename"`
	FilePath          string     `json:"file_path"`
	LastModified      *time.Time `json:"last_modified"`
	SchemaVersion     int        `json:"schema_version"`
	Description       string     `json:"description"`
	AudioLanguages    []string   `json:"audio_languages"`
	SubtitleLanguages []string   `json:"subtitle_languages"`
	HasTranscode      bool       `json:"has_transcode"`
	HasTranscription  bool       `json:"has_transcription"`
	ParseError        *string    `json:"parse_error"`
	Unsupported       []string   `json:"unsupported"`
	Phases            int        `json:"phases"`
	Status            string     `json:"status"` // ok | parse_error | unsupported
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

func policyRows(eng policyEngine, l policyListing) []policyRow {
	rows := make([]policyRow, 0, len(l.Entries))
	for _, e := range l.Entries {
		r := policyRow{Name: e.Name, Filename: e.Filename, FilePath: e.Path, Status: "ok",
			AudioLanguages: []string{}, SubtitleLanguages: []string{}, Unsupported: []string{}}
		if !e.ModTime.IsZero() {
			mt := e.ModTime.UTC()
			r.LastModified = &mt
		}
		if e.Policy == nil {
			err := e.ParseErr
			if err == nil {
				err = fmt.Errorf("%s: cannot be read", e.Path)
			}
			msg := err.Error()
			r.Status, r.ParseError = "parse_error", &msg
			ps := eng.Problems(err)
			first := ps[0]
			first.File = ""
			r.problems = first.String()
			if len(ps) > 1 {
				r.problems += fmt.Sprintf(" (and %s)", plural(len(ps)-1, "more problem"))
			}
			rows = append(rows, r)
			continue
		}
		p := e.Policy
		r.SchemaVersion, r.Description, r.Phases = p.SchemaVersion(), p.Description(), p.Phases()
		r.AudioLanguages = append(r.AudioLanguages, p.AudioLanguages()...)
		r.SubtitleLanguages = append(r.SubtitleLanguages, p.SubtitleLanguages()...)
		r.HasTranscode, r.HasTranscription = p.HasTranscode(), p.HasTranscription()
		if err := p.Check(); err != nil {
			r.Status = "unsupported"
			var keys []string
			for _, pr := range eng.Problems(err) {
				text := pr.Text
				if text == "" {
					text = pr.String()
				}
				r.Unsupported = append(r.Unsupported, text)
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
