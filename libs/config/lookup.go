package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// configPathEnv names the config file, like --config but below it.
const configPathEnv = "VPO_CONFIG_PATH"

// findFile returns the config file to read, or "" if there is none. An
// explicitly named file (--config or VPO_CONFIG_PATH) must exist; the home
// and system candidates are skipped when absent.
func findFile(opts Options, env environment) (string, error) {
	if opts.ExplicitPath != "" {
		return opts.ExplicitPath, requireFile(opts.ExplicitPath, "named by --config")
	}
	if p := env.get(configPathEnv); p != "" {
		return p, requireFile(p, "named by "+configPathEnv)
	}
	var candidates []string
	if opts.Home != "" {
		candidates = append(candidates, filepath.Join(opts.Home, ".vpo", "config.toml"))
	}
	candidates = append(candidates, opts.systemPath())
	for _, p := range candidates {
		ok, err := fileExists(p)
		if err != nil {
			return "", err
		}
		if ok {
			return p, nil
		}
	}
	return "", nil
}

func requireFile(path, how string) error {
	ok, err := fileExists(path)
	if err != nil {
		return err
	}
	if !ok {
		return &Error{
			Source: SourceFile,
			File:   path,
			Msg:    "config file " + how + " does not exist",
			Err:    fs.ErrNotExist,
		}
	}
	return nil
}

// fileExists reports whether path is present. Errors other than absence
// (permission denied, a directory) are returned naming the path.
func fileExists(path string) (bool, error) {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	case err != nil:
		return false, &Error{Source: SourceFile, File: path, Msg: "cannot access config file: " + causeText(err), Err: err}
	case fi.IsDir():
		return false, &Error{Source: SourceFile, File: path, Msg: "config file is a directory"}
	}
	return true, nil
}

// causeText drops the path an *fs.PathError repeats.
func causeText(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// readFile reads the config file, naming it in any error.
func readFile(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &Error{Source: SourceFile, File: path, Msg: "cannot read config file: " + causeText(err), Err: err}
	}
	return data, nil
}
