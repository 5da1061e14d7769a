package app

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/vpo-project/vpo/libs/config"
	"github.com/vpo-project/vpo/libs/policy"
	"github.com/vpo-project/vpo/libs/store"
	"github.com/vpo-project/vpo/services/vpo/internal/apply"
	"github.com/vpo-project/vpo/services/vpo/internal/proc"
)

// doctorToolTimeout bounds one run of a tool by vpo doctor.
const doctorToolTimeout = 10 * time.Second

const doctorHelp = "Check that vpo can work here: the tools (ffprobe, ffmpeg, mkvmerge, mkvpropedit), " +
	"the database (read-only, never migrated), the policies directory and each policy, each configured library " +
	"(readable, writable when it has a policy, its policy exists) and the inotify watch limit against the directories " +
	"of the watched libraries, and each PATH given " +
	"(exists, readable, writable for apply; with the vpo systemd unit, writable by the service). " +
	"One line per check: ok, warn or FAIL. Exit 0 when nothing needed is missing, 1 when a check FAILed, " +
	"3 when the configuration is invalid."

func addDoctor(app *kingpin.Application, env Env, cmds map[string]commandFunc) {
	cmd := app.Command("doctor", doctorHelp)
	cf := addConfigFlags(cmd, false)
	paths := cmd.Arg("path", "Media directories or files that policies will be applied to.").Strings()
	cmds[cmd.FullCommand()] = func(ctx context.Context) error {
		doc := &doctor{env: env, pathList: env.getenv("PATH"), out: env.Stdout, procSys: env.ProcSys}
		if doc.procSys == "" {
			doc.procSys = defaultProcSys
		}
		loaded, err := config.Load(cf.options(env))
		hideSecrets() // doctor runs the tools too
		if err != nil {
			doc.report("FAIL", "config", err.Error())
			return reported(ExitConfig)
		}
		src := loaded.File
		if src == "" {
			src = "no config file; built-in defaults and environment"
		}
		doc.report("ok", "config", src)
		doc.tools(ctx)
		if loaded.Config.Database.URL != "" {
			doc.postgres(ctx, loaded.Config)
		} else {
			doc.database(ctx, loaded.Config.Database.Path)
		}
		doc.policies(loaded.Config.Policies.Dir)
		unit := doc.unit(ctx)
		doc.libraries(loaded.Config, unit)
		doc.paths(*paths, unit)
		if unit != nil {
			doc.sandbox(*paths, unit.sandbox)
		}
		fmt.Fprintf(env.Stdout, "%s, %s\n", plural(doc.failed, "failure"), plural(doc.warned, "warning"))
		if doc.failed > 0 {
			return reported(ExitFailure)
		}
		return nil
	}
}

// doctor runs the checks of `vpo doctor` and prints one line for each.
type doctor struct {
	env      Env
	pathList string // $PATH
	procSys  string // /proc/sys
	out      io.Writer
	failed   int
	warned   int
}

func (d *doctor) report(status, what, detail string) {
	switch status {
	case "FAIL":
		d.failed++
	case "warn":
		d.warned++
	}
	fmt.Fprintf(d.out, "%-4s  %s: %s\n", status, what, oneLine(detail, 400))
}

// doctorTool is one external tool and what lacking it means.
type doctorTool struct {
	name, versionFlag string
	needed            bool
	missing           string
}

var doctorTools = [...]doctorTool{
	{"ffprobe", "-version", true, "needed to read video files (install ffmpeg)"},
	{"ffmpeg", "-version", true, "needed to change MP4 files and containers (install ffmpeg)"},
	{"mkvmerge", "--version", false, "MKV tracks cannot be removed or reordered (install mkvtoolnix)"},
	{"mkvpropedit", "--version", false, "MKV flags and titles cannot be changed (install mkvtoolnix)"},
}

func (d *doctor) tools(ctx context.Context) {
	for _, t := range doctorTools {
		what := "tool " + t.name
		p, err := lookPath(t.name, d.pathList)
		if err != nil {
			status := "warn"
			if t.needed {
				status = "FAIL"
			}
			d.report(status, what, "not found on PATH: "+t.missing)
			continue
		}
		v, err := toolVersion(ctx, p, t.versionFlag)
		if err != nil {
			d.report("FAIL", what, fmt.Sprintf("%s does not run: %v", p, err))
			continue
		}
		d.report("ok", what, p+" ("+v+")")
	}
}

// toolVersion runs path with flag and returns the first line it printed.
func toolVersion(ctx context.Context, path, flag string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, doctorToolTimeout)
	defer cancel()
	res, err := proc.Run(ctx, proc.Cmd{Path: path, Args: []string{flag}, MaxStdout: 4 << 10, MaxStderr: 4 << 10})
	switch {
	case err != nil:
		return "", err
	case ctx.Err() != nil:
		return "", fmt.Errorf("%s %s: no answer within %v", path, flag, doctorToolTimeout)
	case res.Exit != nil:
		if msg := firstLine(res.Stderr); msg != "" {
			return "", fmt.Errorf("%s %s: %w: %s", path, flag, res.Exit, msg)
		}
		return "", fmt.Errorf("%s %s: %w", path, flag, res.Exit)
	}
	v := firstLine(res.Stdout)
	if v == "" {
		v = "no version printed"
	}
	return v, nil
}

func firstLine(b []byte) string {
	line, _, _ := bytes.Cut(bytes.TrimSpace(b), []byte("\n"))
	return strings.TrimSpace(string(line))
}

func (d *doctor) database(ctx context.Context, path string) {
	what := "database " + path
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		d.report("warn", what, "does not exist yet; vpo serve creates it")
		return
	case err != nil:
		d.report("FAIL", what, unwrapPath(err).Error())
		return
	case !fi.Mode().IsRegular():
		d.report("FAIL", what, "not a regular file")
		return
	}
	if err := syscall.Access(path, 0o6); err != nil { // R_OK|W_OK
		d.report("FAIL", what, fmt.Sprintf("not readable and writable by %s: %v", currentUser(), err))
		return
	}
	ctx, cancel := context.WithTimeout(ctx, doctorToolTimeout)
	defer cancel()
	v, err := store.ReadSchemaVersion(ctx, path)
	if err != nil {
		d.report("FAIL", what, err.Error())
		return
	}
	d.schema(what, v, "readable and writable, ", "vpo serve migrates it to %d at its next start", "upgrade vpo")
}

// schema reports a database's schema version v against this binary's:
// newer fails (upgrade), older warns (migrate names how, with the version
// it gets), equal is ok; about prefixes the version in the warning and ok.
func (d *doctor) schema(what string, v int, about, migrate, upgrade string) {
	latest := store.LatestSchemaVersion()
	switch {
	case v > latest:
		d.report("FAIL", what, fmt.Sprintf("schema version %d is newer than this binary's %d: %s", v, latest, upgrade))
	case v < latest:
		d.report("warn", what, fmt.Sprintf("%sschema version %d; "+migrate, about, v, latest))
	default:
		d.report("ok", what, fmt.Sprintf("%sschema version %d", about, v))
	}
}

// maxClockSkew is how far this machine's clock may be from the database
// server's before doctor warns: a node's leases are checked against the
// clocks of the others.
const maxClockSkew = time.Second

// postgres checks the PostgreSQL database of database.url: reachable,
// schema version, clock.
func (d *doctor) postgres(ctx context.Context, cfg config.Config) {
	what := "database " + cfg.Database.RedactedURL()
	ctx, cancel := context.WithTimeout(ctx, doctorToolTimeout)
	defer cancel()
	before := time.Now()
	info, err := store.InspectPostgres(ctx, cfg.Database.URL)
	if err != nil {
		d.report("FAIL", what, err.Error())
		return
	}
	d.schema(what, info.SchemaVersion, "PostgreSQL "+info.ServerVersion+", ",
		"vpo serve (or vpo db migrate) migrates it to %d", "upgrade vpo on this node")
	// The server's clock was read between before and now.
	local := before.Add(time.Since(before) / 2)
	skew := info.ServerTime.Sub(local)
	if skew < 0 {
		skew = -skew
	}
	if skew > maxClockSkew {
		d.report("warn", "clock", fmt.Sprintf("this machine's clock is %s away from the database server's: job leases are compared across nodes; keep every node's clock in sync (NTP, systemd-timesyncd)", skew.Round(time.Millisecond)))
	} else {
		d.report("ok", "clock", fmt.Sprintf("within %s of the database server's", skew.Round(time.Millisecond)))
	}
	d.report("ok", "node", fmt.Sprintf("%s (tags: %s)", cfg.Node.Name, tagText(cfg.Jobs.Tags)))
}

func tagText(tags []string) string {
	if len(tags) == 0 {
		return "none"
	}
	return strings.Join(tags, ", ")
}

func (d *doctor) policies(dir string) {
	what := "policies " + dir
	l, err := policy.List(dir)
	switch {
	case err != nil:
		d.report("FAIL", what, err.Error())
		return
	case !l.Exists:
		d.report("warn", what, "does not exist: no policies (create it and add NAME.yaml files)")
		return
	case len(l.Entries) == 0:
		d.report("warn", what, "no policy files (*.yaml, *.yml)")
		return
	}
	d.report("ok", what, plural(len(l.Entries), "policy file"))
	for _, e := range l.Entries {
		what := "policy " + e.Name
		var err error
		if e.Policy == nil {
			err = entryError(e)
		} else {
			err = e.Policy.Check()
		}
		if err != nil {
			var msgs []string
			for _, p := range problems(err) {
				msgs = append(msgs, problemLine(p, true))
			}
			d.report("FAIL", what, strings.Join(msgs, "; "))
			continue
		}
		d.report("ok", what, fmt.Sprintf("%s (%s)", e.Path, plural(len(e.Policy.Phases), "phase")))
	}
}

// paths checks that each path exists and is readable, and writable as apply
// needs: a directory, and a file and its directory (a rewritten file is
// renamed into place). It checks for the vpo unit's user when there is a
// unit and it runs as another user than this command, else for this
// command's user.
func (d *doctor) paths(paths []string, unit *unitInfo) {
	who := accessUser{name: currentUser()}
	if unit != nil && unit.user != nil {
		who = *unit.user
	}
	for _, p := range paths {
		what := "path " + p
		fi, err := os.Stat(p)
		if err != nil {
			d.report("FAIL", what, unwrapPath(err).Error())
			continue
		}
		if !fi.IsDir() && !fi.Mode().IsRegular() {
			d.report("FAIL", what, fmt.Sprintf("not a regular file or a directory (%s): vpo applies policies to regular files only", fi.Mode().Type()))
			continue
		}
		write := []string{p}
		if !fi.IsDir() {
			write = append(write, filepath.Dir(p))
		}
		read := uint32(accessRead)
		if fi.IsDir() {
			read |= accessSearch
		}
		if err := who.access(p, read); err != nil {
			d.report(deniedStatus(err), what, fmt.Sprintf("not readable by %s: %v", who.name, err))
			continue
		}
		if ro := noWriteBits(write); ro != "" {
			d.report("FAIL", what, ro)
			continue
		}
		if err := who.accessAll(write, accessWrite); err != nil {
			d.report(deniedStatus(err), what, fmt.Sprintf("not writable by %s (needed to apply policies; "+
				"give it write access, e.g. by group ownership and g+w): %v", who.name, err))
			continue
		}
		d.report("ok", what, "readable and writable by "+who.name)
	}
}

// noWriteBits names the first of paths that has no write permission bit
// at all, which apply treats as read-only even for root; "" when none.
func noWriteBits(paths []string) string {
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err == nil && apply.ReadOnlyMode(fi.Mode()) {
			return fmt.Sprintf("%s is read-only (mode %s): vpo never changes a file, or a file in a directory, "+
				"without any write permission bit, even as root; chmod u+w it to let policies change it", p, fi.Mode().Perm())
		}
	}
	return ""
}

// deniedStatus is FAIL for a denial, warn for one an access control list
// may lift.
func deniedStatus(err error) string {
	if errors.Is(err, errACL) {
		return "warn"
	}
	return "FAIL"
}

func currentUser() string {
	if u, err := user.Current(); err == nil {
		return "user " + u.Username
	}
	return fmt.Sprintf("uid %d", os.Getuid())
}

// unitInfo is what doctor reads of the vpo systemd unit.
type unitInfo struct {
	sandbox unitSandbox
	// user is the unit's user when it is not this command's; nil: the
	// same.
	user *accessUser
}

// unit reads the vpo unit's settings with systemctl, and reports them;
// nil when there is no systemctl, no service manager or no vpo unit.
func (d *doctor) unit(ctx context.Context) *unitInfo {
	systemctl, err := lookPath("systemctl", d.pathList)
	if err != nil {
		return nil // no systemd here
	}
	ctx, cancel := context.WithTimeout(ctx, doctorToolTimeout)
	defer cancel()
	res, err := proc.Run(ctx, proc.Cmd{
		Path: systemctl,
		Args: []string{"show", "vpo", "-p", "LoadState", "-p", "User",
			"-p", "ProtectSystem", "-p", "ProtectHome", "-p", "ReadWritePaths"},
		MaxStdout: 64 << 10, MaxStderr: 4 << 10,
	})
	switch {
	case err != nil:
		d.report("warn", "service vpo", fmt.Sprintf("systemctl show vpo: %v", err))
		return nil
	case ctx.Err() != nil:
		d.report("warn", "service vpo", fmt.Sprintf("systemctl show vpo: no answer within %v", doctorToolTimeout))
		return nil
	case res.Exit != nil:
		// systemctl show answers for any unit name, LoadState=not-found
		// for a unit that does not exist; it fails only when there is no
		// service manager to ask (a container, a system booted without
		// systemd), where no vpo unit can run.
		return nil
	}
	props := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(res.Stdout))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			props[k] = v
		}
	}
	if ls := props["LoadState"]; ls == "not-found" || ls == "" {
		return nil // no vpo unit
	}
	u := &unitInfo{sandbox: unitSandbox{
		protectSystem: props["ProtectSystem"],
		protectHome:   props["ProtectHome"],
		readWrite:     strings.Fields(props["ReadWritePaths"]),
	}}
	name := props["User"]
	if name == "" {
		name = "root"
	}
	detail := fmt.Sprintf("User=%s ProtectSystem=%s ProtectHome=%s ReadWritePaths=%s",
		name, u.sandbox.protectSystem, u.sandbox.protectHome, strings.Join(u.sandbox.readWrite, " "))
	if cur, err := user.Current(); err != nil || cur.Username != name {
		who, err := lookupAccessUser(name)
		if err != nil {
			d.report("warn", "service vpo", fmt.Sprintf("%s; paths are checked for %s: %v", detail, currentUser(), err))
			return u
		}
		u.user = &who
	}
	d.report("ok", "service vpo", detail)
	return u
}

// sandbox checks that the unit's sandbox lets the service write to each
// path.
func (d *doctor) sandbox(paths []string, s unitSandbox) {
	for _, p := range paths {
		if problem := s.blocks(p); problem != "" {
			d.report("FAIL", "service vpo, path "+p, problem)
		}
	}
}

// unitSandbox is what of a unit's sandboxing decides whether it may write
// to a path.
type unitSandbox struct {
	protectSystem, protectHome string
	readWrite                  []string
}

// blocks says why the service cannot write to path and how to fix it, or
// "" when it can.
func (s unitSandbox) blocks(path string) string {
	abs := resolvePath(path)
	fix := "systemctl edit vpo → [Service] ReadWritePaths=" + abs
	if s.protectHome == "yes" || s.protectHome == "read-only" || s.protectHome == "tmpfs" {
		for _, home := range []string{"/home", "/root", "/run/user"} {
			if under(abs, home) {
				return fmt.Sprintf("ProtectHome=%s hides or protects %s from the service; fix: systemctl edit vpo → [Service] ProtectHome=no and ReadWritePaths=%s",
					s.protectHome, home, abs)
			}
		}
	}
	if s.protectSystem != "strict" {
		return ""
	}
	for _, rw := range s.readWrite {
		rw = strings.TrimLeft(rw, "-+")
		if rw != "" && under(abs, resolvePath(rw)) {
			return ""
		}
	}
	return fmt.Sprintf("read-only for the service (ProtectSystem=strict and not under ReadWritePaths); fix: %s, then systemctl restart vpo", fix)
}

// resolvePath makes p absolute and resolves its symbolic links, as far as
// they exist.
func resolvePath(p string) string {
	abs, err := filepath.Abs(p)
	if err != nil {
		return filepath.Clean(p)
	}
	if r, err := filepath.EvalSymlinks(abs); err == nil {
		return r
	}
	return abs
}

// under reports whether p is dir or inside it.
func under(p, dir string) bool {
	if dir == "/" {
		return true
	}
	return p == dir || strings.HasPrefix(p, dir+"/")
}
