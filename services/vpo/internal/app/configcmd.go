package app

import (
	"context"
	"fmt"

	"github.com/alecthomas/kingpin/v2"

	"github.com/vpo-project/vpo/libs/config"
)

func addConfig(app *kingpin.Application, env Env, cmds map[string]commandFunc) {
	cfg := app.Command("config", "Inspect the configuration.")

	check := cfg.Command("check", "Parse and validate the configuration as serve does; exit 0 when valid, 3 with the error when not.")
	checkFlags := addConfigFlags(check, true) // the flags serve takes, to check a command line too
	cmds[check.FullCommand()] = func(context.Context) error {
		loaded, err := config.Load(checkFlags.options(env))
		if err != nil {
			return withCode(ExitConfig, err)
		}
		// The same checks as serve: check passes exactly when serve
		// would accept the configuration.
		if err := loaded.CheckServe(); err != nil {
			return withCode(ExitConfig, err)
		}
		for _, w := range loaded.Warnings {
			fmt.Fprintf(env.Stderr, "vpo: warning: %s\n", w)
		}
		src := loaded.File
		if src == "" {
			src = "no config file; built-in defaults and environment"
		}
		_, err = fmt.Fprintf(env.Stdout, "configuration OK (%s)\n", src)
		return err
	}

	show := cfg.Command("show", "Print the effective configuration and where each value came from (default, env, file, flag).")
	showFlags := addConfigFlags(show, true)
	cmds[show.FullCommand()] = func(context.Context) error {
		loaded, err := config.Load(showFlags.options(env))
		if err != nil {
			return withCode(ExitConfig, err)
		}
		return loaded.Show(env.Stdout)
	}

	sample := cfg.Command("sample", "Print a commented sample config file with every setting at its default.")
	cmds[sample.FullCommand()] = func(context.Context) error {
		_, err := fmt.Fprint(env.Stdout, config.Sample())
		return err
	}
}

// splitJoined returns the errors joined in err (errors.Join), or err.
func splitJoined(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
