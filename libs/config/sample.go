package config

import "strings"

// Sample returns a complete config file for a packaged install in which
// every setting is present but commented out, showing its default and a
// one-line explanation. Loading it yields exactly the defaults.
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
