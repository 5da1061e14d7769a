package config

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Loaded is a validated configuration together with its provenance.
type Loaded struct {
	// Config is the effective configuration.
	Config Config
	// File is the config file that was read, "" if none.
	File string
	// Sources maps every key (as in Keys) to the layer its value came from.
	Sources map[string]Source
	// Warnings are problems that did not stop loading, such as unknown VPO_*
	// environment variables; the daemon should log them.
	Warnings []string

	origins map[string]origin
	// libraryLines locates each of Config.Libraries in File.
	libraryLines []libraryLines
}

// libraryLines are the lines of one [[library]] table's header and keys
// (0 when unknown).
type libraryLines struct {
	header, path, policy int
}

// Load assembles the configuration from defaults, VPO_* environment
// variables, the config file and flags, in increasing order of precedence,
// validating every value where it enters. Each returned problem is an *Error
// naming its origin; several problems are joined with errors.Join.
//
// A value that is invalid is an error even when a higher layer overrides it.
func Load(opts Options) (*Loaded, error) {
	env := newEnvironment(opts.Env)
	path, err := findFile(opts, env)
	if err != nil {
		return nil, err
	}

	ld := newLoader(opts)
	ld.applyEnv(env)
	if path != "" {
		data, err := readFile(path)
		if err != nil {
			return nil, err
		}
		ld.loaded.File = path
		ld.applyFile(path, data)
	}
	ld.applyFlags(opts.Flags)
	ld.checkFinal()

	switch len(ld.errs) {
	case 0:
		return ld.loaded, nil
	case 1:
		return nil, ld.errs[0]
	default:
		return nil, errors.Join(ld.errs...)
	}
}

// loader accumulates the layers into a Loaded.
type loader struct {
	home     string
	settings []setting
	loaded   *Loaded
	errs     []error
}

func newLoader(opts Options) *loader {
	ld := &loader{
		home:     opts.Home,
		settings: settings(),
		loaded: &Loaded{
			Config:  Defaults(opts),
			Sources: map[string]Source{},
			origins: map[string]origin{},
		},
	}
	for _, s := range ld.settings {
		ld.record(s.key().Name, origin{source: SourceDefault})
	}
	return ld
}

func (ld *loader) record(key string, o origin) {
	ld.loaded.Sources[key] = o.source
	ld.loaded.origins[key] = o
}

func (ld *loader) find(name string) (setting, bool) {
	for _, s := range ld.settings {
		if s.key().Name == name {
			return s, true
		}
	}
	return nil, false
}

// shown returns raw, or a mask if the setting is secret.
func shown(s setting, raw string) string {
	if s.secret() && raw != "" {
		return secretMask
	}
	return s.redacted(raw)
}

func (ld *loader) applyEnv(env environment) {
	known := []string{configPathEnv}
	for _, s := range ld.settings {
		k := s.key()
		known = append(known, k.Env)
		raw := env.get(k.Env)
		if raw == "" {
			continue
		}
		if err := s.fromString(&ld.loaded.Config, raw, ld.home); err != nil {
			ld.errs = append(ld.errs, &Error{
				Source: SourceEnv, Name: k.Env, Key: k.Name,
				Value: shown(s, raw), Msg: err.Error(), Err: err,
			})
			continue
		}
		ld.record(k.Name, origin{source: SourceEnv, name: k.Env})
	}
	for _, name := range env.names {
		if !strings.HasPrefix(name, envPrefix) || slices.Contains(known, name) || strings.HasPrefix(name, testEnvPrefix) {
			continue
		}
		w := fmt.Sprintf("ignoring unknown environment variable %s", name)
		if strings.HasPrefix(name, envPrefix+"LIBRAR") {
			w += " (libraries are set only in the config file, as [[library]] tables)"
		} else if guess, ok := closest(name, known); ok {
			w += fmt.Sprintf(" (did you mean %s?)", guess)
		}
		ld.loaded.Warnings = append(ld.loaded.Warnings, w)
	}
}

// testEnvPrefix starts the knobs of vpo's own tests (VPO_TEST_WATCH_LIMIT),
// which the daemon reads itself: not configuration, never warned about.
const testEnvPrefix = envPrefix + "TEST_"

func (ld *loader) applyFlags(flags map[string]string) {
	names := make([]string, 0, len(flags))
	for name := range flags {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		raw := flags[name]
		s, ok := ld.find(name)
		if !ok {
			if k, isFlag := FlagKey(name); isFlag {
				s, ok = ld.find(k)
			}
		}
		if !ok {
			ld.errs = append(ld.errs, &Error{Source: SourceFlag, Name: name, Value: raw, Msg: "no such setting"})
			continue
		}
		k := s.key()
		flag := k.Flag
		if flag == "" {
			flag = k.Name
		}
		if err := s.fromString(&ld.loaded.Config, raw, ld.home); err != nil {
			ld.errs = append(ld.errs, &Error{
				Source: SourceFlag, Name: flag, Key: k.Name,
				Value: shown(s, raw), Msg: err.Error(), Err: err,
			})
			continue
		}
		ld.record(k.Name, origin{source: SourceFlag, name: flag})
	}
}

// checkFinal validates what no single layer can: a default that could not
// be derived.
func (ld *loader) checkFinal() {
	if ld.loaded.Config.Database.Path == "" && ld.loaded.Sources["database.path"] == SourceDefault {
		ld.errs = append(ld.errs, &Error{
			Source: SourceDefault, Key: "database.path",
			Msg: "no default without a home directory; set database.path or VPO_DATABASE_PATH",
		})
	}
}
