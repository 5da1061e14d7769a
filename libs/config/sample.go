package config

import "strings"

// Sample returns a complete config file for a packaged install in which
// every setting is present but commented out, showing its default and a
// one-line explanation, and ending with a commented example of a
// [[library]] table. Loading it yields exactly the defaults.
func Sample() string {
	var b strings.Builder
	b.WriteString(`# Configuration of vpo serve, the Video Policy Orchestrator daemon.
#
# Every setting is shown commented out with its default value; uncomment a
# line to change it. Precedence, highest first: command-line flags, this
# file, VPO_* environment variables, defaults.
`)
	packaged := Defaults(Options{Username: "vpo", NumCPU: 4})
	prev := ""
	for _, s := range settings() {
		k := s.key()
		if _, ok := s.(librarySetting); ok {
			b.WriteString("\n# " + k.Help + "\n" + librarySample)
			continue
		}
		sec := section(k.Name)
		if sec != prev {
			b.WriteString("\n[" + sec + "]\n")
			prev = sec
		} else {
			b.WriteString("\n")
		}
		b.WriteString("# " + k.Help + "\n")
		b.WriteString("# Environment: " + k.Env)
		if k.Flag != "" {
			b.WriteString(". Flag: " + k.Flag)
		}
		b.WriteString(".\n")
		b.WriteString("# " + strings.TrimPrefix(k.Name, sec+".") + " = " + s.literal(&packaged) + "\n")
	}
	return b.String()
}

// librarySample is the commented example of the [[library]] tables,
// after the library key's help line.
const librarySample = `#
# vpo watches a library for new and changed video files (inotify), waits
# until a file has not changed for "hold", scans it and, when the library
# has a policy, applies the policy to it. A full rescan at start-up and every
# "rescan_interval" catches what the watcher missed. Add one [[library]]
# table per directory; no directory may be inside another library. There
# is no library by default.
# [[library]]
# The library's directory: absolute, existing; required.
# path = "/srv/media/movies"
# Policy applied to new and changed files: the NAME of policies.dir/NAME.yaml;
# without it (or ""), vpo only scans.
# policy = "normalize"
# React to file-system events; false: only the rescans find new files. Many
# directories may need a higher fs.inotify.max_user_watches (see vpo doctor).
# watch = true
# A file must have been unchanged this long before vpo touches it (0s to 24h).
# hold = "2m"
# Time between full rescans; "0s": only at start-up, else at least 1m.
# rescan_interval = "6h"
`
