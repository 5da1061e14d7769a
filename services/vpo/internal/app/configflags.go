package app

import (
	"fmt"
	"os"
	"os/user"
	"runtime"
	"strings"

	"github.com/alecthomas/kingpin/v2"

	"github.com/vpo-project/vpo/libs/config"
)

// configFlags are the flags that feed libs/config.
type configFlags struct {
	path     string
	bind     string
	port     string
	level    string
	format   string
	bindSet  bool
	portSet  bool
	levelSet bool
	fmtSet   bool
}

func addConfigFlags(cmd *kingpin.CmdClause, overrides bool) *configFlags {
	f := &configFlags{}
	cmd.Flag("config", "Config file (default: $VPO_CONFIG_PATH, ~/.vpo/config.toml, /etc/vpo/config.toml).").
		PlaceHolder("PATH").StringVar(&f.path)
	if !overrides {
		return f
	}
	cmd.Flag("bind", "Address to listen on ([server] bind, default 127.0.0.1).").
		PlaceHolder("ADDR").IsSetByUser(&f.bindSet).StringVar(&f.bind)
	cmd.Flag("port", "TCP port to listen on ([server] port, default 8321).").
		PlaceHolder("N").IsSetByUser(&f.portSet).StringVar(&f.port)
	cmd.Flag("log-level", "Log level: debug, info, warning or error ([logging] level).").
		PlaceHolder("LEVEL").IsSetByUser(&f.levelSet).StringVar(&f.level)
	cmd.Flag("log-format", "Log format: text or json ([logging] format).").
		PlaceHolder("FORMAT").IsSetByUser(&f.fmtSet).StringVar(&f.format)
	return f
}

// options builds libs/config options from the flags and the process.
func (f *configFlags) options(env Env) config.Options {
	flags := map[string]string{}
	if f.bindSet {
		flags["server.bind"] = f.bind
	}
	if f.portSet {
		flags["server.port"] = f.port
	}
	if f.levelSet {
		flags["logging.level"] = f.level
	}
	if f.fmtSet {
		flags["logging.format"] = f.format
	}
	username, home := "", env.getenv("HOME")
	if u, err := user.Current(); err == nil {
		username = u.Username
		if home == "" {
			// No $HOME (system units, cron): the passwd entry's.
			home = u.HomeDir
		}
	}
	hostname, _ := os.Hostname()
	return config.Options{
		Hostname:       hostname,
		ExplicitPath:   f.path,
		Env:            env.Environ,
		Flags:          flags,
		Home:           home,
		Username:       username,
		StateDirectory: env.getenv("STATE_DIRECTORY"),
		NumCPU:         runtime.NumCPU(),
	}
}

// envHelp lists every setting's environment variable for --help.
func envHelp() string {
	var b strings.Builder
	b.WriteString("Environment variables (below the config file in precedence):\n")
	for _, k := range config.Keys() {
		if k.Env == "" {
			continue
		}
		def := k.Default
		if def == "" || def == `""` {
			def = "empty"
		}
		fmt.Fprintf(&b, "  %-30s %s (default %s)\n", k.Env, k.Name, def)
	}
	b.WriteString("  VPO_CONFIG_PATH                config file to read\n")
	return b.String()
}
