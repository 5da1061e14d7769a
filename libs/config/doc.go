// Package config loads the configuration of `vpo serve`, the daemon of the
// Video Policy Orchestrator.
//
// A configuration is assembled from four layers. The precedence, highest
// first, is:
//
//  1. command-line flags (only those the user actually set),
//  2. the TOML config file,
//  3. VPO_* environment variables,
//  4. built-in defaults.
//
// The config file deliberately beats the environment: the file is what an
// operator edits on a packaged install, while the environment is typically
// inherited from a unit file or a shell.
//
// The config file is the first of: Options.ExplicitPath (--config), the
// VPO_CONFIG_PATH environment variable, ~/.vpo/config.toml, and
// /etc/vpo/config.toml (Options.SystemPath). An explicitly named file must
// exist; the other candidates are skipped when absent.
//
// Every value is validated where it enters, so an error names its origin:
// the file and line, the environment variable, or the flag, together with the
// key and the offending value (see [Error]). Unknown keys and sections in the
// file are errors; unknown VPO_* environment variables are reported as
// warnings in [Loaded.Warnings].
//
// Libraries ([Library], the file's [[library]] tables) come only from the
// config file; there is no environment variable or flag for them. Their
// errors name the key library[N].KEY, N counting the tables from 1.
//
// The package has no package-level state and performs no I/O beyond finding
// and reading the config file, and the existence checks of
// [Loaded.CheckServe] (library directories, policy files): the environment,
// home directory, user name and CPU count are passed in through [Options],
// which keeps it hermetic in tests.
package config
