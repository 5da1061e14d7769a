package config

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
)

// CheckServe applies the checks that concern the combination of settings
// rather than one value, and that matter to a daemon about to serve (client
// commands load the same configuration without them). `vpo serve` and `vpo
// config check` both call it, so check passes exactly when serve would
// start. It refuses a non-loopback server.bind without
// server.auth_token: the jobs API would be open to the network. The error
// is an *Error naming where server.bind was set.
//
// It also checks the libraries against the file system: each path must
// be an existing directory (no two resolving, through symbolic links, to
// the same or nested directories), and each policy must have its file
// policies.dir/NAME.yaml or NAME.yml. These errors are *Errors naming the
// file, the line and the key library[N].path or library[N].policy (N
// counting from 1). Several problems are joined with errors.Join.
func (l *Loaded) CheckServe() error {
	var errs []error
	if err := l.checkBind(); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, l.checkLibraries()...)
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	return errors.Join(errs...)
}

// checkBind refuses a non-loopback bind without a token.
func (l *Loaded) checkBind() error {
	s := l.Config.Server
	if s.AuthToken != "" || s.LoopbackBind() {
		return nil
	}
	e := &Error{
		Key: "server.bind",
		Msg: fmt.Sprintf("refusing to listen on non-loopback address %s without [server] auth_token (or VPO_AUTH_TOKEN)", s.Bind),
	}
	o := l.origins["server.bind"]
	e.Source = o.source
	switch o.source {
	case SourceFile:
		e.File, e.Line, e.Value = o.file, o.line, strconv.Quote(s.Bind)
	case SourceEnv, SourceFlag:
		e.Name, e.Value = o.name, s.Bind
	}
	return e
}

// LoopbackBind reports whether Bind only reaches this machine: "localhost"
// or a loopback address (127.0.0.0/8, ::1).
func (s Server) LoopbackBind() bool {
	if s.Bind == "localhost" {
		return true
	}
	ip := net.ParseIP(s.Bind)
	return ip != nil && ip.IsLoopback()
}

// checkLibraries checks each library's directory and policy file.
func (l *Loaded) checkLibraries() []error {
	var errs []error
	fail := func(i int, field, value, msg string) {
		e := &Error{Source: SourceFile, File: l.File, Key: libraryName(i+1, field), Value: value, Msg: msg}
		if i < len(l.libraryLines) {
			e.Line = l.libraryLines[i].path
			if field == "policy" {
				e.Line = l.libraryLines[i].policy
			}
		}
		errs = append(errs, e)
	}
	resolved := make([]string, len(l.Config.Libraries))
	for i, lib := range l.Config.Libraries {
		value := strconv.Quote(lib.Path)
		fi, err := os.Stat(lib.Path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			fail(i, "path", value, "no such directory (create it, or correct the path)")
			continue
		case err != nil:
			fail(i, "path", value, "cannot access the directory: "+causeText(err))
			continue
		case !fi.IsDir():
			fail(i, "path", value, fmt.Sprintf("not a directory (%s)", fileKind(fi.Mode())))
			continue
		}
		if r, err := filepath.EvalSymlinks(lib.Path); err == nil {
			resolved[i] = r
			for j := range i {
				if resolved[j] == "" || lib.Path == l.Config.Libraries[j].Path {
					continue
				}
				if msg := libraryOverlap(r, resolved[j], j+1, nil); msg != "" {
					fail(i, "path", value, fmt.Sprintf("resolves (through symbolic links) to %s, %s", r, msg))
					break
				}
			}
		}
		if lib.Policy != "" {
			if msg := l.policyFileProblem(lib.Policy); msg != "" {
				fail(i, "policy", strconv.Quote(lib.Policy), msg)
			}
		}
	}
	return errs
}

// policyFileProblem says why policy has no single file in policies.dir,
// or "" when it has one.
func (l *Loaded) policyFileProblem(name string) string {
	dir := l.Config.Policies.Dir
	var found []string
	for _, ext := range []string{".yaml", ".yml"} {
		p := filepath.Join(dir, name+ext)
		if _, err := os.Stat(p); err == nil {
			found = append(found, p)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Sprintf("cannot access the policy file %s: %s", p, causeText(err))
		}
	}
	switch len(found) {
	case 0:
		return fmt.Sprintf("no such policy: neither %s.yaml nor %s.yml in policies.dir %s", name, name, dir)
	case 2:
		return fmt.Sprintf("ambiguous policy: both %s and %s exist; remove one", found[0], found[1])
	}
	return ""
}

// fileKind names the type of a file that is not a directory.
func fileKind(m fs.FileMode) string {
	if m.IsRegular() {
		return "a regular file"
	}
	return "mode " + m.Type().String()
}
