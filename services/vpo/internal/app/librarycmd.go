package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/vpo-project/vpo/services/vpo/internal/library"
)

func addLibrary(app *kingpin.Application, env Env, cmds map[string]commandFunc) {
	libCmd := app.Command("library", "Show and rescan the libraries of a running daemon (the [[library]] tables of its configuration).")

	list := libCmd.Command("list", "List the libraries: watching or not (and why), last scan, next rescan, files held.")
	lf := addClientFlags(list)
	cmds[list.FullCommand()] = func(ctx context.Context) error {
		c, err := lf.client(env)
		if err != nil {
			return err
		}
		libs, err := fetchLibraries(ctx, c)
		if err != nil {
			return err
		}
		return printLibraries(env.Stdout, lf.json, libs, time.Now())
	}

	rescan := libCmd.Command("rescan", "Queue a rescan of the libraries given by id or path (all when none is given).")
	rf := addClientFlags(rescan)
	which := rescan.Arg("library", "Library id (see vpo library list) or path.").Strings()
	cmds[rescan.FullCommand()] = func(ctx context.Context) error {
		c, err := rf.client(env)
		if err != nil {
			return err
		}
		libs, err := fetchLibraries(ctx, c)
		if err != nil {
			return err
		}
		chosen, err := chooseLibraries(libs, *which)
		if err != nil {
			return withCode(ExitUsage, err)
		}
		var out []rescanResult
		for _, l := range chosen {
			var ans struct {
				JobID string `json:"job_id"`
			}
			if err := c.do(ctx, "POST", "/api/libraries/"+urlQuery(l.ID)+"/rescan", nil, &ans); err != nil {
				return err
			}
			out = append(out, rescanResult{ID: l.ID, Path: l.Path, JobID: ans.JobID})
		}
		if rf.json {
			if out == nil {
				out = []rescanResult{}
			}
			return writeJSON(env.Stdout, out)
		}
		if len(out) == 0 {
			_, err := fmt.Fprintln(env.Stdout, "no libraries configured")
			return err
		}
		for _, r := range out {
			if _, err := fmt.Fprintf(env.Stdout, "rescan of %s (%s) queued: job %s\n", r.Path, r.ID, r.JobID); err != nil {
				return err
			}
		}
		return nil
	}
}

// rescanResult is one line of `vpo library rescan`.
type rescanResult struct {
	ID    string `json:"id"`
	Path  string `json:"path"`
	JobID string `json:"job_id"`
}

func fetchLibraries(ctx context.Context, c *apiClient) ([]library.Status, error) {
	var out struct {
		Libraries []library.Status `json:"libraries"`
	}
	if err := c.do(ctx, "GET", "/api/libraries", nil, &out); err != nil {
		return nil, err
	}
	return out.Libraries, nil
}

// chooseLibraries picks the libraries named by id or path; all when
// names is empty. An unknown name is an error listing the known ones.
func chooseLibraries(libs []library.Status, names []string) ([]library.Status, error) {
	if len(names) == 0 {
		return libs, nil
	}
	var out []library.Status
	for _, n := range names {
		found := false
		for _, l := range libs {
			if l.ID == n || (filepath.IsAbs(n) && filepath.Clean(n) == l.Path) {
				out = append(out, l)
				found = true
				break
			}
		}
		if !found {
			known := ""
			for _, l := range libs {
				known += fmt.Sprintf("\n  %s  %s", l.ID, l.Path)
			}
			if known == "" {
				known = " none"
			}
			return nil, errors.New("no library with id or path " + fmt.Sprintf("%q", n) + "; the daemon's libraries:" + known)
		}
	}
	return out, nil
}

func printLibraries(w io.Writer, asJSON bool, libs []library.Status, now time.Time) error {
	if asJSON {
		if libs == nil {
			libs = []library.Status{}
		}
		return writeJSON(w, libs)
	}
	if len(libs) == 0 {
		_, err := fmt.Fprintln(w, "no libraries configured (add [[library]] tables to the configuration file)")
		return err
	}
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tPATH\tPOLICY\tWATCHING\tDIRS\tHELD\tLAST SCAN\tNEXT RESCAN")
	for _, l := range libs {
		policy := l.Policy
		if policy == "" {
			policy = "(scan only)"
		}
		watching := "no"
		switch {
		case l.Watching:
			watching = "yes"
		case l.FallbackReason != "":
			watching = "no (rescans)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\n", l.ID, l.Path, policy, watching, l.WatchedDirs, l.Pending,
			timeCell(l.LastScan, now), timeCell(l.NextRescan, now))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, l := range libs {
		if l.FallbackReason != "" {
			if _, err := fmt.Fprintf(w, "%s is not watched: %s\n", l.Path, l.FallbackReason); err != nil {
				return err
			}
		}
	}
	return nil
}

// timeCell shows a time with how far it is from now: "2026-12-02 06:00:00
// (5m ago)"; "-" for none.
func timeCell(t *time.Time, now time.Time) string {
	if t == nil {
		return "-"
	}
	d := t.Sub(now).Round(time.Second)
	rel := "in " + d.String()
	if d < 0 {
		rel = (-d).String() + " ago"
	}
	return t.Local().Format(time.DateTime) + " (" + rel + ")"
}
