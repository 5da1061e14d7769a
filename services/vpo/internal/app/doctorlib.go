package app

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/vpo-project/vpo/libs/config"
	"github.com/vpo-project/vpo/libs/policy"
)

// defaultProcSys is where the kernel's sysctl settings are read.
const defaultProcSys = "/proc/sys"

// inotifyWarnPercent is the share of fs.inotify.max_user_watches above
// which doctor warns: the limit counts every program of the user.
const inotifyWarnPercent = 90

// minSuggestedWatches is the least max_user_watches doctor suggests.
const minSuggestedWatches = 524288

// libraries checks each configured library: its directory is readable
// (and writable when it has a policy, which rewrites files), its policy
// exists; then the inotify watch limits against the directories of the
// watched libraries. With a vpo unit, it checks for the unit's user and
// that the unit's sandbox lets it write to libraries with a policy.
func (d *doctor) libraries(c config.Config, unit *unitInfo) {
	who := accessUser{name: currentUser()}
	if unit != nil && unit.user != nil {
		who = *unit.user
	}
	var watched []string
	for _, lib := range c.Libraries {
		if d.library(lib, c.Policies.Dir, who) && lib.Watch {
			watched = append(watched, lib.Path)
		}
		if unit != nil && lib.Policy != "" {
			if problem := unit.sandbox.blocks(lib.Path); problem != "" {
				d.report("FAIL", "service vpo, library "+lib.Path, problem)
			}
		}
	}
	if len(watched) > 0 {
		d.inotify(watched)
	}
}

// library checks one library and reports whether its directory can be
// read (and so watched).
func (d *doctor) library(lib config.Library, policiesDir string, who accessUser) bool {
	what := "library " + lib.Path
	fi, err := os.Stat(lib.Path)
	switch {
	case err != nil:
		d.report("FAIL", what, unwrapPath(err).Error())
		return false
	case !fi.IsDir():
		d.report("FAIL", what, "not a directory")
		return false
	}
	if err := who.access(lib.Path, accessRead|accessSearch); err != nil {
		d.report(deniedStatus(err), what, fmt.Sprintf("not readable by %s: %v", who.name, err))
		return false
	}
	how := "scan only"
	access := "readable by " + who.name
	if lib.Policy != "" {
		how = "policy " + lib.Policy
		if _, err := policy.FindName(policiesDir, lib.Policy); err != nil {
			d.report("FAIL", what, fmt.Sprintf("policy %s: %v", lib.Policy, err))
			return true
		}
		if ro := noWriteBits([]string{lib.Path}); ro != "" {
			d.report("FAIL", what, ro)
			return true
		}
		if err := who.access(lib.Path, accessWrite); err != nil {
			d.report(deniedStatus(err), what, fmt.Sprintf("not writable by %s (needed to apply policy %s; "+
				"give it write access, e.g. by group ownership and g+w): %v", who.name, lib.Policy, err))
			return true
		}
		access = "readable and writable by " + who.name
	}
	watch := "not watched"
	if lib.Watch {
		watch = "watched, hold " + shownDuration(lib.Hold)
	}
	rescan := "no periodic rescan"
	if lib.RescanInterval > 0 {
		rescan = "rescan every " + shownDuration(lib.RescanInterval)
	}
	d.report("ok", what, fmt.Sprintf("%s (%s; %s; %s)", access, how, watch, rescan))
	return true
}

// shownDuration formats a duration as the config file writes it: "2m".
func shownDuration(d time.Duration) string {
	return config.Duration{Duration: d}.String()
}

// inotify counts the directories of the watched libraries (one inotify
// watch each) and compares the count with the kernel's per-user limit.
func (d *doctor) inotify(roots []string) {
	dirs := 0
	for _, root := range roots {
		dirs += countDirs(root)
	}
	what := "inotify"
	counted := fmt.Sprintf("%s to watch in %s", pluralY(dirs, "director"), pluralY(len(roots), "watched librar"))
	watchesPath := filepath.Join(d.procSys, "fs", "inotify", "max_user_watches")
	watches, err := readSysctl(watchesPath)
	if err != nil {
		d.report("warn", what, fmt.Sprintf("%s; cannot read the limit: %v", counted, err))
		return
	}
	instances := "unknown"
	if n, err := readSysctl(filepath.Join(d.procSys, "fs", "inotify", "max_user_instances")); err == nil {
		instances = strconv.Itoa(n)
	}
	limits := fmt.Sprintf("fs.inotify.max_user_watches = %d, fs.inotify.max_user_instances = %s", watches, instances)
	if dirs*100 <= watches*inotifyWarnPercent {
		d.report("ok", what, counted+"; "+limits)
		return
	}
	n := suggestedWatches(dirs)
	state := fmt.Sprintf("more than %d%% of", inotifyWarnPercent)
	if dirs > watches {
		state = "more than"
	}
	d.report("warn", what, fmt.Sprintf("%s, %s %s (a per-user limit); vpo falls back to rescans where a watch "+
		"cannot be added. Raise it: sysctl -w fs.inotify.max_user_watches=%d and, for every boot, "+
		"echo fs.inotify.max_user_watches=%d > /etc/sysctl.d/60-vpo-inotify.conf",
		counted, state, limits, n, n))
}

// countDirs counts root and the directories below it, as a watcher adds
// them: root's own symbolic link is followed, the others are not.
func countDirs(root string) int {
	if r, err := filepath.EvalSymlinks(root); err == nil {
		root = r
	}
	n := 0
	_ = filepath.WalkDir(root, func(_ string, de fs.DirEntry, err error) error {
		// A directory that cannot be read is reported a second time,
		// with err: it was counted already.
		if err == nil && de.IsDir() {
			n++
		}
		return nil
	})
	return n
}

// readSysctl reads an integer sysctl file such as
// /proc/sys/fs/inotify/max_user_watches.
func readSysctl(path string) (int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		return 0, fmt.Errorf("%s: %q is not a number", path, strings.TrimSpace(string(data)))
	}
	if n < 0 {
		return 0, errors.New(path + ": negative")
	}
	return n, nil
}

// pluralY counts a noun ending in "y", given without it: "1 directory",
// "2 directories".
func pluralY(n int, stem string) string {
	if n == 1 {
		return "1 " + stem + "y"
	}
	return strconv.Itoa(n) + " " + stem + "ies"
}

// suggestedWatches is the max_user_watches doctor suggests for dirs
// directories: at least twice as many, a power of two, at least
// minSuggestedWatches.
func suggestedWatches(dirs int) int {
	n := minSuggestedWatches
	for n < 2*dirs {
		n *= 2
	}
	return n
}
