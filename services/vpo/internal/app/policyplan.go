package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/alecthomas/kingpin/v2"

	"github.com/vpo-project/vpo/libs/media"
	"github.com/vpo-project/vpo/libs/policy"
	"github.com/vpo-project/vpo/libs/store"
	"github.com/vpo-project/vpo/services/vpo/internal/applyjob"
	"github.com/vpo-project/vpo/services/vpo/internal/scan"
)

func addPolicyPlan(pc *kingpin.CmdClause, env Env, cmds map[string]commandFunc) {
	cmd := pc.Command("plan", "Show what a policy would change in the video files under PATH: probes each file with ffprobe "+
		"and plans it here, without a daemon; never changes a file. Exit 0, or 1 when a file could not be probed or planned.")
	cf := addConfigFlags(cmd, false)
	name := cmd.Arg("policy", "Policy NAME (in [policies] dir) or path of a .yaml/.yml file.").Required().String()
	path := cmd.Arg("path", "A video file, or a directory of them.").Required().String()
	asJSON := cmd.Flag("json", "Print a JSON array of {path, plan, error} instead of a table.").Bool()
	recursive := cmd.Flag("recursive", "Plan the files in subdirectories too (--no-recursive: only those directly in PATH).").
		Default("true").Bool()
	cmds[cmd.FullCommand()] = func(ctx context.Context) error {
		dir, err := policiesDir(env, cf)
		if err != nil {
			return err
		}
		p, err := loadPolicy(env, dir, *name)
		if err != nil {
			return err
		}
		ffprobe, err := lookPath("ffprobe", env.getenv("PATH"))
		if err != nil {
			return withCode(ExitFailure, fmt.Errorf("%w (install ffmpeg)", err))
		}
		files, err := videoFiles(*path, *recursive)
		if err != nil {
			return withCode(ExitFailure, err)
		}
		pl := &planner{policy: p, prober: &scan.FFProbe{Path: ffprobe}}
		out := newPlanPrinter(env.Stdout, *asJSON)
		failed := 0
		for _, f := range files {
			r := f
			if r.Error == "" {
				r = pl.plan(ctx, f.Path)
			}
			if r.Error != "" {
				failed++
			}
			if err := out.add(r); err != nil {
				return err
			}
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if err := out.close(); err != nil {
			return err
		}
		if failed > 0 {
			return reported(ExitFailure)
		}
		return nil
	}
}

// filePlan is what `vpo policy plan` says of one file.
type filePlan struct {
	Path  string       `json:"path"`
	Plan  *policy.Plan `json:"plan"`
	Error string       `json:"error,omitempty"`
}

// MarshalJSON writes "path" by the files API's rule: a path that is not
// UTF-8 (or holds a backslash) is escaped by store.EscapePath, with its
// exact bytes in "path_b64", so that two files never print the same path.
func (r filePlan) MarshalJSON() ([]byte, error) {
	type plain filePlan
	j := struct {
		Path    string `json:"path"`
		PathB64 string `json:"path_b64,omitempty"`
		plain
	}{PathB64: store.PathB64(r.Path), plain: plain(r)}
	j.Path, _ = store.EscapePath(r.Path)
	return json.Marshal(j)
}

// planner plans one file at a time.
type planner struct {
	policy *policy.Policy
	prober scan.Prober
}

func (p *planner) plan(ctx context.Context, path string) filePlan {
	info, err := p.prober.Probe(ctx, path)
	if err != nil {
		return filePlan{Path: path, Error: err.Error()}
	}
	f, err := media.FromFFProbe(info.Raw, p.policy.MediaOptions())
	if err != nil {
		return filePlan{Path: path, Error: fmt.Sprintf("read probe of %q: %v", path, err)}
	}
	plan, err := p.policy.Plan(f)
	if err != nil {
		return filePlan{Path: path, Error: err.Error()}
	}
	return filePlan{Path: path, Plan: &plan}
}

// videoFiles lists the video files at root as an apply job finds them:
// root itself when it is a file, else the regular files under it with a
// video extension (the scan's list), sorted, leaving out hidden files and
// directories (vpo's temporary files are hidden) and originals kept as
// NAME.original.EXT. A root that is a symbolic link to a directory is
// followed. A directory below root that cannot be read is an entry with an
// error; a root that cannot be read is the error.
func videoFiles(root string, recursive bool) ([]filePlan, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("path %q: %w", root, err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("path %q: %w", root, unwrapPath(err))
	}
	if !fi.IsDir() {
		if !fi.Mode().IsRegular() {
			return nil, fmt.Errorf("path %q is not a regular file or a directory", root)
		}
		if li, err := os.Lstat(abs); err == nil && li.Mode()&fs.ModeSymlink != 0 {
			// As apply: a rewrite would replace the link, not its target.
			return []filePlan{{Path: abs, Error: "a symbolic link: vpo changes only regular files (name the file it points to)"}}, nil
		}
		return []filePlan{{Path: abs}}, nil
	}
	var out []filePlan
	files, err := applyjob.VideoFiles(context.Background(), abs, recursive, func(p string, err error) error {
		out = append(out, filePlan{Path: p, Error: fmt.Sprintf("cannot read %q: %v", p, unwrapPath(err))})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read directory %q: %w", root, unwrapPath(err))
	}
	for _, f := range files {
		out = append(out, filePlan{Path: f})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// unwrapPath drops the path an fs.PathError repeats.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// planPrinter writes plans as they come: a table per file, or one JSON
// array.
type planPrinter struct {
	w      io.Writer
	json   bool
	n      int
	counts struct{ changes, compliant, skipped, failed int }
}

func newPlanPrinter(w io.Writer, asJSON bool) *planPrinter {
	return &planPrinter{w: w, json: asJSON}
}

func (p *planPrinter) add(r filePlan) error {
	p.n++
	switch {
	case r.Error != "":
		p.counts.failed++
	case r.Plan.Skipped != "":
		p.counts.skipped++
	case r.Plan.Empty():
		p.counts.compliant++
	default:
		p.counts.changes++
	}
	if p.json {
		b, err := json.MarshalIndent(r, "  ", "  ")
		if err != nil {
			return err
		}
		sep := ",\n  "
		if p.n == 1 {
			sep = "[\n  "
		}
		_, err = fmt.Fprintf(p.w, "%s%s", sep, b)
		return err
	}
	return writeFilePlan(p.w, r)
}

func (p *planPrinter) close() error {
	if p.json {
		if p.n == 0 {
			_, err := fmt.Fprintln(p.w, "[]")
			return err
		}
		_, err := fmt.Fprintln(p.w, "\n]")
		return err
	}
	if p.n == 0 {
		_, err := fmt.Fprintln(p.w, "no video files")
		return err
	}
	_, err := fmt.Fprintf(p.w, "%s: %d with changes, %d without, %d skipped, %d failed\n",
		plural(p.n, "file"), p.counts.changes, p.counts.compliant, p.counts.skipped, p.counts.failed)
	return err
}

// writeFilePlan writes the path, then one line per change (kind, track,
// from → to, phase: reason), or "no changes", "skipped: …", "error: …";
// then the plan's notes, one "note: …" line each (what the policy asked
// for and leaves undone, such as a transcode skip_if skipped).
func writeFilePlan(w io.Writer, r filePlan) error {
	if _, err := fmt.Fprintln(w, r.Path); err != nil {
		return err
	}
	switch {
	case r.Error != "":
		// A tool's message may span lines: each goes under the first.
		_, err := fmt.Fprintf(w, "    error: %s\n", strings.ReplaceAll(strings.TrimSpace(r.Error), "\n", "\n           "))
		return err
	case r.Plan.Skipped != "":
		if _, err := fmt.Fprintf(w, "    skipped: %s\n", r.Plan.Skipped); err != nil {
			return err
		}
	case r.Plan.Empty():
		if _, err := fmt.Fprintln(w, "    no changes"); err != nil {
			return err
		}
	default:
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		for _, c := range r.Plan.Changes {
			fmt.Fprintf(tw, "    %s\t%s\t%s\n", c.Kind, changeTrack(c), changeReason(c))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	for _, n := range r.Plan.Notes {
		if _, err := fmt.Fprintf(w, "    note: %s\n", n); err != nil {
			return err
		}
	}
	return nil
}

func changeTrack(c policy.Change) string {
	if c.Track < 0 {
		return "file"
	}
	s := "track " + strconv.Itoa(c.Track)
	if c.TrackType != "" {
		s += " (" + c.TrackType + ")"
	}
	return s
}

func changeReason(c policy.Change) string {
	s := c.Reason
	if c.From != "" || c.To != "" {
		s = fmt.Sprintf("%q → %q: %s", c.From, c.To, s)
	}
	if c.Phase != "" {
		s = c.Phase + ": " + s
	}
	return s
}
