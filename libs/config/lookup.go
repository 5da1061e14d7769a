package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// configPathEnv names the config file, like --config but below it.
const configPathEnv = "VPO_CONFIG_PATH"

// findFile returns the config file to read, or "" if there is none. An
// explicitly named file (--config or VPO_CONFIG_PATH) must exist; the home
// and system candidates are skipped when absent.
func findFile(opts Options, env environment) (string, error) {
	if opts.ReloadPath != "" {
		return opts.ReloadPath, requireFile(opts.ReloadPath, "that vpo started with")
	}
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
	case !fi.Mode().IsRegular():
		return false, notRegular(path, fi.Mode())
	}
	return true, nil
}

// maxFileSize bounds what is read of a config file: a real one is a few
// KiB; a bigger one is a mistake (a log, a disk image, /dev/zero).
const maxFileSize = 1 << 20

func notRegular(path string, mode fs.FileMode) *Error {
	return &Error{Source: SourceFile, File: path, Msg: fmt.Sprintf("config file is not a regular file (%s)", mode.Type())}
}

// causeText drops the path an *fs.PathError repeats.
func causeText(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// readFile reads the config file, naming it in any error. It reads only
// a regular file (a FIFO would block the reader, a device never ends) and
// at most maxFileSize bytes of it.
func readFile(path string) ([]byte, error) {
	fail := func(err error) ([]byte, error) {
		return nil, &Error{Source: SourceFile, File: path, Msg: "cannot read config file: " + causeText(err), Err: err}
	}
	// O_NONBLOCK: opening a FIFO that replaced the file since it was
	// looked up must not wait for a writer.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return fail(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fail(err)
	}
	if !fi.Mode().IsRegular() {
		return nil, notRegular(path, fi.Mode())
	}
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return fail(err)
	}
	if len(data) > maxFileSize {
		return nil, &Error{Source: SourceFile, File: path, Msg: fmt.Sprintf("config file is larger than %d bytes", maxFileSize)}
	}
	return data, nil
}
