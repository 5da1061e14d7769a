// Package e2e_test proves the users' real path on every run: the vpo .deb
// installed with apt in a booted Debian with systemd (systemd-nspawn), then
// `systemctl enable --now vpo`, jobs, kill -9, stop, a broken config, an
// upgrade, remove and purge; and the .rpm installed into a scratch root.
//
// host.sh prepares and boots the machine, scenario.sh acts inside it and
// records facts and evidence; this test asserts on them. It skips, saying
// why, only where it cannot run: not root, not a Debian machine, or no
// debootstrap/systemd-nspawn installable (with CI set, it fails instead).
// Run it alone with
//
//	tools/bazel test //integration_tests/e2e:e2e_test
package e2e_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// hostRoot is where tools/bazel leaves the host's root when it pivots into
// its Debian sid root: systemd-nspawn must be the host's (sid's refuses
// cgroup v1 hosts).
const hostRoot = "/run/vpo-host"

// toHost runs a command with hostRoot as its root: pivot_root in a private
// mount namespace, not chroot, since chrooted processes may not create the
// user namespaces the packaged unit needs (PrivateUsers=yes).
const toHost = `PATH=/usr/sbin:/usr/bin:/sbin:/bin
h=$1; shift
old=$(mktemp -d "$h/tmp/.vpo-e2e-oldroot.XXXXXX")
cd "$h"
pr=$(command -v pivot_root || echo "$h/usr/sbin/pivot_root") # sid's minbase lacks it
"$pr" . "${old#"$h"/}"
umount -l "/${old#"$h"/}"
rmdir "/${old#"$h"/}"
exec "$@"`

// skipExit is host.sh's exit status for "this machine cannot run the test".
const skipExit = 77

// purgeKeepsUser is the packages' documented policy (packaging/deb/postrm):
// purge removes /var/lib/vpo and /etc/vpo but keeps the vpo user and group,
// since files elsewhere may still belong to them.
const purgeKeepsUser = true

func TestPackagedServiceInSystemd(t *testing.T) {
	if os.Geteuid() != 0 {
		skip(t, "needs root (it debootstraps a Debian rootfs and boots it with systemd-nspawn)")
	}
	inputs, err := resolveInputs()
	if err != nil {
		skip(t, err.Error())
	}
	start := time.Now()
	res := runHarness(t, inputs)
	t.Logf("e2e wall time %s (rootfs %s, container %ss); idle stop %ss, stop with a job %ss, restart after kill -9 %ss",
		time.Since(start).Round(100*time.Millisecond), res.rootfsCache, res.host["boot_seconds"],
		res.facts["stop.seconds"], res.facts["longstop.seconds"], res.facts["kill.restart_seconds"])

	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if err := c.check(res); err != nil {
				t.Errorf("%s: %v%s", c.name, err, res.evidence(c.evidence))
			}
		})
	}
}

func skip(t *testing.T, reason string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		// .ci/run (CI=1) runs on a Debian machine as root: a skip there
		// would hide that the users' path went untested.
		t.Fatalf("e2e cannot run here, and CI is set, where tests do not skip: %s", reason)
	}
	// Printed as well, so the reason shows in the test log without -test.v.
	fmt.Fprintf(os.Stderr, "e2e: SKIPPED: %s\n", reason)
	t.Skipf("SKIPPED: %s", reason)
}

// inputs are the files under test and the harness scripts.
type inputs struct{ deb, rpm, host, scenario string }

// resolveInputs reads the runfiles Bazel passes (or absolute paths).
func resolveInputs() (inputs, error) {
	var in inputs
	for _, v := range []struct {
		env string
		dst *string
	}{
		{"VPO_E2E_DEB", &in.deb}, {"VPO_E2E_RPM", &in.rpm},
		{"VPO_E2E_HOST_SCRIPT", &in.host}, {"VPO_E2E_SCENARIO", &in.scenario},
	} {
		rel := os.Getenv(v.env)
		if rel == "" {
			return in, fmt.Errorf("%s is not set: run it with tools/bazel test //integration_tests/e2e:e2e_test, which builds the packages", v.env)
		}
		p, err := runfile(rel)
		if err != nil {
			return in, err
		}
		*v.dst = p
	}
	return in, nil
}

func runfile(rel string) (string, error) {
	if filepath.IsAbs(rel) {
		return rel, nil
	}
	for _, base := range []string{os.Getenv("RUNFILES_DIR"), os.Getenv("TEST_SRCDIR")} {
		if base == "" {
			continue
		}
		if p := filepath.Join(base, rel); fileExists(p) {
			return p, nil
		}
	}
	return "", fmt.Errorf("runfile %q not found", rel)
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// results is what one run of the scenario left behind.
type results struct {
	facts       map[string]string
	host        map[string]string
	rootfsCache string
	out         string // the out directory, as seen from this process
	journal     []journalEntry
}

// runHarness runs host.sh (on the host: through hostRoot when this test
// runs in tools/bazel's chroot) and loads its results.
func runHarness(t *testing.T, in inputs) *results {
	t.Helper()
	root := ""
	if fileExists("/.vpo-chroot-recipe") {
		if !fileExists(filepath.Join(hostRoot, "etc/os-release")) {
			t.Fatalf("running in tools/bazel's sid root, but the host root is not at %s: "+
				"the Bazel server predates that tools/bazel; restart it with tools/bazel shutdown", hostRoot)
		}
		root = hostRoot
	}
	cache := os.Getenv("VPO_E2E_CACHE")
	if cache == "" {
		cache = "/var/cache/vpo-e2e"
	}
	if err := os.MkdirAll(filepath.Join(root, cache, "runs"), 0o755); err != nil {
		t.Fatal(err)
	}
	local, err := os.MkdirTemp(filepath.Join(root, cache, "runs"), "run-")
	if err != nil {
		t.Fatal(err)
	}
	run := strings.TrimPrefix(local, root) // the same directory, as the host sees it
	// The inputs are copied next to the run, so their paths are valid on the host.
	names := map[string]string{}
	for _, p := range []string{in.deb, in.rpm, in.host, in.scenario} {
		dst := filepath.Join(local, "in", filepath.Base(p))
		if err := copyFile(p, dst); err != nil {
			t.Fatal(err)
		}
		names[p] = filepath.Join(run, "in", filepath.Base(p))
	}
	args := []string{
		"/usr/bin/env", "-i", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=/root", "LANG=C.UTF-8", "VPO_E2E_CACHE=" + cache,
		"/bin/bash", names[in.host], "--deb", names[in.deb], "--rpm", names[in.rpm],
		"--scenario", names[in.scenario], "--run", run,
	}
	if root != "" {
		args = append([]string{"/usr/bin/unshare", "--mount", "--propagation", "private", "--",
			"/bin/bash", "-euc", toHost, "to-host", root}, args...)
	}
	ctx := context.Background()
	if dl, ok := t.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, dl.Add(-15*time.Second))
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	runErr := cmd.Run()
	out := filepath.Join(local, "out")
	t.Cleanup(func() {
		if !t.Failed() {
			_ = os.RemoveAll(local)
		} else {
			t.Logf("run directory kept for inspection: %s (on the host)", run)
		}
	})
	var ee *exec.ExitError
	if errors.As(runErr, &ee) && ee.ExitCode() == skipExit {
		reason, _ := os.ReadFile(filepath.Join(out, "skip-reason"))
		skip(t, strings.TrimSpace(string(reason)))
	}
	if runErr != nil {
		t.Fatalf("host.sh failed: %v\n%s", runErr, log.String())
	}
	t.Logf("host.sh:\n%s", log.String())

	res := &results{out: out}
	if res.facts, err = readTSV(filepath.Join(out, "facts.tsv")); err != nil {
		t.Fatalf("no results from the scenario: %v%s", err, res.evidence([]string{"console.log"}))
	}
	if res.host, err = readTSV(filepath.Join(out, "host.tsv")); err != nil {
		t.Fatal(err)
	}
	logPhases(t, res.host, filepath.Join(out, "phases.tsv"))
	cacheState, _ := os.ReadFile(filepath.Join(out, "rootfs-cache"))
	res.rootfsCache = strings.TrimSpace(string(cacheState))
	if !fileExists(filepath.Join(out, "done")) {
		t.Fatalf("the scenario did not run to its end (last fact: %s)%s", lastLine(filepath.Join(out, "facts.tsv")),
			res.evidence([]string{"scenario.log", "console.log"}))
	}
	if res.journal, err = readJournal(filepath.Join(out, "ev", "journal.json")); err != nil {
		t.Fatalf("read the exported journal: %v", err)
	}
	return res
}

// logPhases prints how long each phase of the run took: the rootfs (built
// or found), the container (boot, scenario, power-off), and each step of the
// scenario (phases.tsv, in order). Printed to stderr too, so the test log has
// it without -test.v.
func logPhases(t *testing.T, host map[string]string, phasesFile string) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "e2e phases (seconds):\n")
	fmt.Fprintf(&b, "  %-34s %8s\n", "rootfs (build or check)", host["rootfs_seconds"])
	fmt.Fprintf(&b, "  %-34s %8s\n", "container (boot, scenario, halt)", host["boot_seconds"])
	data, err := os.ReadFile(phasesFile)
	if err != nil {
		fmt.Fprintf(&b, "    (no scenario phases: %v)\n", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if name, secs, ok := strings.Cut(line, "\t"); ok {
			fmt.Fprintf(&b, "    %-32s %8s\n", name, secs)
		}
	}
	fmt.Fprint(os.Stderr, b.String())
	t.Log(b.String())
}

func copyFile(src, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func readTSV(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m := map[string]string{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "\t")
		if ok {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m, sc.Err()
}

func lastLine(path string) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}

// evidence renders the tails of the named files of the run for a failure.
func (r *results) evidence(names []string) string {
	var b strings.Builder
	for _, n := range names {
		p := filepath.Join(r.out, n)
		if !strings.Contains(n, "/") && !fileExists(p) {
			p = filepath.Join(r.out, "ev", n)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			fmt.Fprintf(&b, "\n--- %s: %v", n, err)
			continue
		}
		lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
		if len(lines) > 60 {
			lines = append([]string{"[…]"}, lines[len(lines)-60:]...)
		}
		fmt.Fprintf(&b, "\n--- %s:\n%s", n, strings.Join(lines, "\n"))
	}
	return b.String()
}

// journalEntry is one record of `journalctl -o json`.
type journalEntry map[string]string

func readJournal(path string) ([]journalEntry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var entries []journalEntry
	dec := json.NewDecoder(f)
	for {
		var raw map[string]json.RawMessage
		if err := dec.Decode(&raw); err == io.EOF {
			return entries, nil
		} else if err != nil {
			return nil, err
		}
		e := journalEntry{}
		for k, v := range raw {
			var s string
			var bs []byte
			switch {
			case json.Unmarshal(v, &s) == nil:
				e[k] = s
			case json.Unmarshal(v, &bs) == nil: // non-UTF-8 values come as byte arrays
				e[k] = string(bs)
			default:
				e[k] = string(v)
			}
		}
		entries = append(entries, e)
	}
}

// daemonLines are the lines vpo itself wrote to the journal (its stderr),
// optionally only those of one invocation of the unit.
func (r *results) daemonLines(invocation string) []journalEntry {
	var out []journalEntry
	for _, e := range r.journal {
		if e["_SYSTEMD_UNIT"] != "vpo.service" || e["_TRANSPORT"] != "stdout" {
			continue
		}
		if invocation != "" && e["_SYSTEMD_INVOCATION_ID"] != invocation {
			continue
		}
		out = append(out, e)
	}
	return out
}

// line finds the daemon line containing text (in one invocation, if given).
func (r *results) line(invocation, text string) (journalEntry, error) {
	for _, e := range r.daemonLines(invocation) {
		if strings.Contains(e["MESSAGE"], text) {
			return e, nil
		}
	}
	return nil, fmt.Errorf("no journal line of vpo containing %q (invocation %q)", text, invocation)
}

// brokenConfigLines are vpo's "invalid configuration" lines logged after
// the broken-config start. They are found by time, not invocation: journald
// may not learn the invocation of a process that exits at once.
func (r *results) brokenConfigLines() ([]journalEntry, error) {
	since, err := r.num("broken.since_us")
	if err != nil {
		return nil, err
	}
	var out []journalEntry
	for _, e := range r.daemonLines("") {
		ts, _ := strconv.ParseFloat(e["__REALTIME_TIMESTAMP"], 64)
		if ts >= since && strings.Contains(e["MESSAGE"], "invalid configuration") {
			out = append(out, e)
		}
	}
	return out, nil
}

// debugLines splits the daemon's debug lines (PRIORITY=7) of one invocation
// into those logged before and after the time in the fact sinceKey (µs).
func (r *results) debugLines(invocation, sinceKey string) (before, after []journalEntry, err error) {
	since, err := r.num(sinceKey)
	if err != nil {
		return nil, nil, err
	}
	for _, e := range r.daemonLines(invocation) {
		if e["PRIORITY"] != "7" {
			continue
		}
		ts, _ := strconv.ParseFloat(e["__REALTIME_TIMESTAMP"], 64)
		if ts < since {
			before = append(before, e)
		} else {
			after = append(after, e)
		}
	}
	return before, after, nil
}

// linePriority checks that a daemon line exists with the given priority.
func (r *results) linePriority(invocation, text, prio string) error {
	e, err := r.line(invocation, text)
	if err != nil {
		return err
	}
	if e["PRIORITY"] != prio {
		return fmt.Errorf("journal line %q has PRIORITY=%s, want %s", e["MESSAGE"], e["PRIORITY"], prio)
	}
	return nil
}

// --- assertion helpers on facts ---------------------------------------------

func (r *results) eq(key, want string) error {
	if got, ok := r.facts[key]; !ok || got != want {
		return fmt.Errorf("%s = %q, want %q", key, r.facts[key], want)
	}
	return nil
}

func (r *results) oneOf(key string, want ...string) error {
	got := r.facts[key]
	for _, w := range want {
		if got == w {
			return nil
		}
	}
	return fmt.Errorf("%s = %q, want one of %q", key, got, want)
}

func (r *results) contains(key, want string) error {
	if !strings.Contains(r.facts[key], want) {
		return fmt.Errorf("%s = %q, want it to contain %q", key, r.facts[key], want)
	}
	return nil
}

func (r *results) num(key string) (float64, error) {
	v, err := strconv.ParseFloat(r.facts[key], 64)
	if err != nil {
		return 0, fmt.Errorf("%s = %q is not a number", key, r.facts[key])
	}
	return v, nil
}

// seconds parses a systemd time span such as "35s", "1min 30s" or "500ms".
func (r *results) seconds(key string) (float64, error) {
	v := r.facts[key]
	total, matched := 0.0, false
	for _, m := range regexp.MustCompile(`([0-9.]+)\s*(ms|us|min|h|s)`).FindAllStringSubmatch(v, -1) {
		n, _ := strconv.ParseFloat(m[1], 64)
		total += n * map[string]float64{"us": 1e-6, "ms": 1e-3, "s": 1, "min": 60, "h": 3600}[m[2]]
		matched = true
	}
	if !matched {
		return 0, fmt.Errorf("%s = %q is not a time span", key, v)
	}
	return total, nil
}

// all returns the first error of its arguments.
func all(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// --- the checks ------------------------------------------------------------

type check struct {
	name     string
	evidence []string // files of the run to show when it fails
	check    func(r *results) error
}

var checks = []check{
	{"apt install succeeds", []string{"apt-install.log"}, func(r *results) error {
		return all(r.eq("install.rc", "0"), r.eq("install.version", r.facts["deb.version"]))
	}},
	{"user vpo is a system user without a login shell", nil, func(r *results) error {
		if err := r.oneOf("user.shell", "/usr/sbin/nologin", "/sbin/nologin", "/bin/false", "/usr/bin/false"); err != nil {
			return err
		}
		uid, err := r.num("user.uid")
		if err != nil || uid >= 1000 || uid == 0 {
			return fmt.Errorf("user.uid = %q, want a system uid (1..999)", r.facts["user.uid"])
		}
		return nil
	}},
	{"/var/lib/vpo is owned by vpo", nil, func(r *results) error { return r.eq("statedir.owner", "vpo:vpo") }},
	{"/etc/vpo/config.toml is root:vpo 0640", nil, func(r *results) error { return r.eq("config.perms", "root:vpo 640") }},
	{"/etc/vpo/config.toml is a conffile", nil, func(r *results) error { return r.contains("install.conffiles", "/etc/vpo/config.toml ") }},
	{"/etc/vpo/policies is root:vpo 0750", nil, func(r *results) error { return r.eq("install.policies_perms", "root:vpo 750") }},
	{"the example policies are installed", nil, func(r *results) error {
		return all(r.contains("install.examples", ".yaml"), r.contains("install.recommends", "ffmpeg"),
			r.contains("install.recommends", "mkvtoolnix"))
	}},
	{"systemctl enable --now vpo", []string{"enable.log"}, func(r *results) error {
		return all(r.eq("enable.rc", "0"), r.eq("enable.is_enabled", "enabled"))
	}},
	{"Type=notify readiness reached", []string{"scenario.log"}, func(r *results) error {
		return all(r.eq("start.Type", "notify"), r.eq("start.ActiveState", "active"), r.eq("start.SubState", "running"),
			// STATUS= comes only through sd_notify, with READY=1.
			r.contains("start.StatusText", "serving on http://127.0.0.1:8321"))
	}},
	{"/health is 200 with the JSON schema", []string{"health.json"}, func(r *results) error {
		if err := r.eq("start.health_code", "200"); err != nil {
			return err
		}
		return healthSchema(filepath.Join(r.out, "ev", "health.json"), -1)
	}},
	{"the daemon runs as vpo", nil, func(r *results) error { return r.eq("start.user", "vpo") }},
	{"journal: startup lines are priority 6 (info)", []string{"journal.json"}, func(r *results) error {
		inv := r.facts["journal.start_invocation"]
		if err := all(r.linePriority(inv, "starting vpo", "6"), r.linePriority(inv, "vpo is ready", "6")); err != nil {
			return err
		}
		for _, e := range r.daemonLines("") {
			if strings.HasPrefix(e["MESSAGE"], "<") {
				return fmt.Errorf("journal line kept its priority prefix: %q", e["MESSAGE"])
			}
		}
		return nil
	}},
	{"journal: an error line is priority 3", []string{"broken-journal.txt"}, func(r *results) error {
		lines, err := r.brokenConfigLines()
		if err != nil {
			return err
		}
		if len(lines) == 0 {
			return errors.New("no 'invalid configuration' line of vpo in the journal after the broken start")
		}
		if lines[0]["PRIORITY"] != "3" {
			return fmt.Errorf("journal line %q has PRIORITY=%s, want 3", lines[0]["MESSAGE"], lines[0]["PRIORITY"])
		}
		return nil
	}},
	{"a scan job submitted with the CLI completes", []string{"scan-job.json", "files.json"}, func(r *results) error {
		return all(r.eq("scan.status", "completed"),
			r.eq("scan.files", "/srv/media/clip.mp4 /srv/media/movie.mkv /srv/media/shows/s01/e01.avi"))
	}},
	{"systemctl reload vpo: the unit stays active, same PID, no restart", []string{"reload.log", "scenario.log"}, func(r *results) error {
		return all(r.contains("reload.ExecReload", "/bin/kill -HUP $MAINPID"), r.eq("reload.edit", "1"), r.eq("reload.rc", "0"),
			r.eq("reload.ActiveState", "active"), r.eq("reload.SubState", "running"),
			r.eq("reload.MainPID", r.facts["reload.pid_before"]), r.eq("reload.NRestarts", r.facts["reload.NRestarts_before"]),
			r.eq("reload.InvocationID", r.facts["reload.invocation"]), r.eq("reload.restored", "0"))
	}},
	{"systemctl reload vpo: /health counts one reload and no error", []string{"health-reload.json"}, func(r *results) error {
		if err := all(r.eq("reload.health_code", "200"), r.eq("reload.config_reload_count", "1"),
			r.eq("reload.config_reload_error", "null")); err != nil {
			return err
		}
		path := filepath.Join(r.out, "ev", "health-reload.json")
		if err := healthSchema(path, -1); err != nil {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var h struct {
			LastConfigReload *string `json:"last_config_reload"`
		}
		if err := json.Unmarshal(data, &h); err != nil {
			return err
		}
		if h.LastConfigReload == nil {
			return fmt.Errorf("/health last_config_reload is null after a reload: %s", data)
		}
		if _, err := time.Parse(time.RFC3339, *h.LastConfigReload); err != nil {
			return fmt.Errorf("/health last_config_reload %q is not RFC 3339: %v", *h.LastConfigReload, err)
		}
		return nil
	}},
	{"systemctl reload vpo: the new log level is in effect", []string{"reload-journal.txt"}, func(r *results) error {
		before, after, err := r.debugLines(r.facts["reload.invocation"], "reload.since_us")
		if err != nil {
			return err
		}
		if len(before) > 0 {
			return fmt.Errorf("%d debug lines before the reload (level was info): %q", len(before), before[0]["MESSAGE"])
		}
		if len(after) == 0 {
			return errors.New("no debug line (PRIORITY=7) of vpo in the journal after logging.level = \"debug\" and systemctl reload")
		}
		return r.eq("reload.scan_status", "completed")
	}},
	{"kill -9: systemd restarts vpo", []string{"scenario.log"}, func(r *results) error {
		before, err := r.num("kill.NRestarts_before")
		if err != nil {
			return err
		}
		if err := r.eq("kill.NRestarts", strconv.Itoa(int(before)+1)); err != nil {
			return err
		}
		if r.facts["kill.MainPID"] == r.facts["kill.pid_before"] {
			return fmt.Errorf("MainPID is still %s after kill -9", r.facts["kill.MainPID"])
		}
		return r.eq("kill.ActiveState", "active")
	}},
	{"kill -9: the interrupted job is recovered", []string{"kill-job.json"}, func(r *results) error {
		attempts, err := r.num("kill.job_attempts")
		if err != nil {
			return err
		}
		if attempts < 2 {
			return fmt.Errorf("kill.job_attempts = %v, want >= 2 (it ran again after the crash)", attempts)
		}
		_, err = r.line(r.facts["kill.InvocationID"], "recovered jobs whose lease expired")
		return all(r.eq("kill.job_status_before", "running"), r.eq("kill.job_status_after", "completed"), err)
	}},
	{"systemctl stop: SIGTERM, clean exit, within TimeoutStopSec", []string{"journal.json"}, func(r *results) error {
		if err := all(r.eq("stop.KillSignal", "15"), r.eq("stop.rc", "0"), r.eq("stop.ActiveState", "inactive"),
			r.eq("stop.Result", "success"), r.eq("stop.ExecMainCode", "1"), r.eq("stop.ExecMainStatus", "0")); err != nil {
			return err
		}
		took, err := r.num("stop.seconds")
		if err != nil {
			return err
		}
		limit, err := r.seconds("stop.TimeoutStopUSec")
		if err != nil {
			return err
		}
		if took >= limit {
			return fmt.Errorf("idle stop took %.1fs, not under TimeoutStopSec %.0fs", took, limit)
		}
		inv := r.facts["stop.invocation"]
		return all(r.linePriority(inv, "received SIGTERM, shutting down gracefully", "6"),
			r.linePriority(inv, "vpo stopped cleanly", "6"))
	}},
	{"systemctl stop with a long job: within shutdown_timeout, job requeued", []string{"longstop-job.json", "journal.json"}, func(r *results) error {
		if err := all(r.eq("longstop.job_status_before", "running"), r.eq("longstop.rc", "0"),
			r.eq("longstop.Result", "success"), r.eq("longstop.ExecMainStatus", "0")); err != nil {
			return err
		}
		took, err := r.num("longstop.seconds")
		if err != nil {
			return err
		}
		timeout, err := r.seconds("longstop.shutdown_timeout")
		if err != nil {
			return err
		}
		// shutdown_timeout + the daemon's graces (up to 5 s), with a wide margin
		// for a slow machine; the job itself would take 120 s.
		if limit := timeout + 5 + 10; took > limit {
			return fmt.Errorf("stop with a running job took %.1fs, over shutdown_timeout %.0fs (+ margin: %.1fs)", took, timeout, limit)
		}
		_, err = r.line(r.facts["longstop.invocation"], "job interrupted by shutdown, requeued")
		return all(err, r.oneOf("longstop.job_status_after", "queued", "running"))
	}},
	{"broken config: fails once with exit 3, no restart loop", []string{"broken-start.log", "broken-journal.txt"}, func(r *results) error {
		if r.facts["broken.start_rc"] == "0" {
			return errors.New("systemctl start with a broken config succeeded")
		}
		if err := all(r.eq("broken.ActiveState", "failed"), r.eq("broken.Result", "exit-code"),
			r.eq("broken.ExecMainStatus", "3"), r.eq("broken.NRestarts_after", r.facts["broken.NRestarts_before"])); err != nil {
			return err
		}
		entries, err := r.brokenConfigLines()
		if err != nil {
			return err
		}
		var errLines []string
		for _, e := range entries {
			errLines = append(errLines, e["MESSAGE"])
		}
		if len(errLines) != 1 {
			return fmt.Errorf("%d 'invalid configuration' lines after the broken start, want exactly 1: %q", len(errLines), errLines)
		}
		// The clear error names the file, the line, the key and the value.
		for _, want := range []string{"/etc/vpo/broken.toml:2", "server.port", "eighty"} {
			if !strings.Contains(errLines[0], want) {
				return fmt.Errorf("the error %q does not name %q", errLines[0], want)
			}
		}
		return r.eq("broken.recovered_health", "200")
	}},
	{"upgrade keeps the config edit and the database", []string{"apt-upgrade.log", "upgrade-scan-job.json"}, func(r *results) error {
		if err := all(r.eq("upgrade.version_higher", "yes"), r.eq("upgrade.rc", "0"), r.eq("upgrade.version", r.facts["upgrade.built"]),
			r.eq("upgrade.edit_before", "1"), r.eq("upgrade.edit_after", "1"), r.eq("upgrade.config_perms", "root:vpo 640"),
			r.eq("upgrade.etc_files", "config.toml policies"), r.eq("upgrade.scan_status", "completed"),
			r.eq("upgrade.policies_perms", "root:vpo 750"), r.eq("upgrade.policy_kept", "yes")); err != nil {
			return err
		}
		if r.facts["upgrade.files_before"] == "0" || r.facts["upgrade.files_after"] != r.facts["upgrade.files_before"] {
			return fmt.Errorf("library files: %s before the upgrade, %s after", r.facts["upgrade.files_before"], r.facts["upgrade.files_after"])
		}
		return nil
	}},
	{"upgrade restarts the service on the new binary", []string{"apt-upgrade.log", "health-upgrade.json"}, func(r *results) error {
		if err := all(r.eq("upgrade.ActiveState", "active"), r.eq("upgrade.pid_changed", "yes"), r.eq("upgrade.binary_changed", "yes"),
			r.eq("upgrade.running_new_binary", "yes"), r.eq("upgrade.exe", "/usr/bin/vpo"), r.eq("upgrade.health_code", "200"),
			// workers = 3 is the config edit: the new process read it.
			r.contains("upgrade.StatusText", ", 3 workers")); err != nil {
			return err
		}
		return healthSchema(filepath.Join(r.out, "ev", "health-upgrade.json"), 3)
	}},
	{"policy apply under systemd: keep-english drops the French track, ownership kept", policyEvidence, policyApplied},
	{"transcode under systemd: MPEG-4 to H.264 in a transcode job, encode niced", transcodeEvidence, transcoded},
	{"watched library under systemd: a file moved in is applied by itself, once", libraryEvidence, libraryWatched},
	{"the service on PostgreSQL: a job, the nodes list, an outage survived", postgresEvidence, onPostgres},
	{"apt remove keeps /var/lib/vpo", []string{"apt-remove.log"}, func(r *results) error {
		return all(r.eq("remove.rc", "0"), r.eq("remove.binary", "no"), r.oneOf("remove.active", "inactive", "unknown"),
			r.eq("remove.statedir", "yes"), r.eq("remove.db", "yes"), r.eq("remove.config", "yes"))
	}},
	{"apt purge removes the data; the user per the documented policy", []string{"apt-purge.log"}, func(r *results) error {
		user := "no"
		if purgeKeepsUser {
			user = "yes"
		}
		return all(r.eq("purge.rc", "0"), r.eq("purge.statedir", "no"), r.eq("purge.etc", "no"), r.eq("purge.user", user))
	}},
	{"rpm installs into a scratch root with its scriptlets", []string{"rpm-install.log", "rpm-requires.txt"}, func(r *results) error {
		return all(r.eq("rpm.initdb_rc", "0"), r.eq("rpm.install_rc", "0"), r.eq("rpm.scriptlet_failures", "0"), r.eq("rpm.verify", ""))
	}},
	{"rpm layout, user and unit", []string{"rpm-unit-verify.log"}, func(r *results) error {
		return all(r.eq("rpm.binary", "root:root 755"), r.eq("rpm.unit", "root:root 644"), r.eq("rpm.sysusers", "root:root 644"),
			r.eq("rpm.config_perms", "root:vpo 640"), r.eq("rpm.policies_perms", "root:vpo 750"),
			r.contains("rpm.examples", ".yaml"), r.oneOf("rpm.user_shell", "/usr/sbin/nologin", "/sbin/nologin"),
			r.eq("rpm.unit_same_as_deb", "yes"), r.eq("rpm.unit_verify_rc", "0"))
	}},
	{"rpm: config.toml is %config(noreplace)", nil, func(r *results) error {
		return all(r.contains("rpm.config_flags", "c"), r.contains("rpm.config_flags", "n"))
	}},
	{"rpm erase keeps a modified config as .rpmsave", []string{"rpm-erase.log"}, func(r *results) error {
		return all(r.eq("rpm.erase_rc", "0"), r.eq("rpm.rpmsave", "1"), r.eq("rpm.erase_config", "no"),
			r.eq("rpm.erase_binary", "no"), r.eq("rpm.erase_data", "yes"))
	}},
}

// libraryEvidence are the files shown when the library step fails.
var libraryEvidence = []string{"library-list.json", "library-jobs.json", "library-journal.txt", "library-ffmpeg.log"}

// libraryWatched checks scenario.sh's library_step: after a reload added
// the library, the service watched it (inotify under the unit's sandbox),
// and a clip moved into it lost its French track through exactly one apply
// job (vpo's own rewrite did not queue another), with nothing left beside
// it.
func libraryWatched(r *results) error {
	if err := all(r.eq("library.ffmpeg_rc", "0"), r.eq("library.audio_before", "eng fre"), r.eq("library.reload_rc", "0")); err != nil {
		return fmt.Errorf("the step's set-up (media, reload) failed, not vpo's library: %w", err)
	}
	if err := r.eq("library.watching", "true"); err != nil {
		return fmt.Errorf("GET /api/libraries after the reload: the library is not watched: %w", err)
	}
	if err := r.eq("library.audio_after", "eng"); err != nil {
		return fmt.Errorf("%ss after the clip was moved into the library: %w", r.facts["library.seconds"], err)
	}
	return all(r.eq("library.apply_jobs", "1"), r.eq("library.dir_after", "w.mkv"))
}

// transcodeEvidence are the files shown when the transcode step fails.
var transcodeEvidence = []string{"transcode-submit.json", "transcode-job.json", "transcode-children.json", "transcode-journal.txt", "transcode-ffmpeg.log"}

// transcoded checks scenario.sh's transcode_step: the apply job handed the
// file to a transcode job that re-encoded it to H.264 with libx264, nothing
// was left next to it, and the packaged unit let vpo lower the encode's
// priority.
func transcoded(r *results) error {
	if err := all(r.eq("transcode.ffmpeg_rc", "0"), r.eq("transcode.codec_before", "mpeg4")); err != nil {
		return fmt.Errorf("the step's set-up (media) failed, not vpo's transcode: %w", err)
	}
	if err := all(r.eq("transcode.submit_code", "201"), r.eq("transcode.job_status", "completed"),
		r.eq("transcode.child_kind", "transcode"), r.eq("transcode.encoder", "libx264")); err != nil {
		return fmt.Errorf("apply job %s (error %q, %ss): %w", r.facts["transcode.job_id"], r.facts["transcode.job_error"], r.facts["transcode.seconds"], err)
	}
	if err := all(r.eq("transcode.codec_after", "h264"), r.eq("transcode.leftovers", "0")); err != nil {
		return fmt.Errorf("after the transcode job completed: %w", err)
	}
	if n := r.facts["transcode.priority_warnings"]; n != "0" {
		return fmt.Errorf("the journal has %s \"runs at vpo's priority\" warnings: the unit refused to lower the encode's priority", n)
	}
	return nil
}

// policyEvidence are the files shown when the policy step fails.
var postgresEvidence = []string{"pg-start.log", "pg-health.json", "pg-job.json", "pg-nodes.txt", "pg-outage.json", "pg-journal.txt"}

// onPostgres checks the PostgreSQL step: the installed service, pointed at
// Debian's postgresql in the container by a drop-in (database.url over the
// local socket, peer authentication), ran a job under its node name, listed
// itself in vpo nodes, answered 503 while PostgreSQL was stopped without
// being restarted by systemd, recovered by itself, and went back to its
// SQLite file.
func onPostgres(r *results) error {
	if err := all(r.eq("pg.start_rc", "0"), r.eq("pg.createdb_rc", "0")); err != nil {
		return fmt.Errorf("set-up of PostgreSQL in the container: %w", err)
	}
	if err := all(r.eq("pg.health_code", "200"), r.eq("pg.database", "connected")); err != nil {
		return fmt.Errorf("vpo on PostgreSQL did not become healthy: %w", err)
	}
	if err := all(r.eq("pg.job_status", "completed"), r.eq("pg.job_node", "e2e-node"), r.eq("pg.rows", "1")); err != nil {
		return fmt.Errorf("job %s on PostgreSQL: %w", r.facts["pg.job_id"], err)
	}
	if err := r.eq("pg.nodes_up", "1"); err != nil {
		return fmt.Errorf("vpo nodes does not list e2e-node (this) up: %w", err)
	}
	if err := all(r.eq("pg.outage_health", "503"), r.eq("pg.outage_database", "disconnected")); err != nil {
		return fmt.Errorf("with PostgreSQL stopped: %w", err)
	}
	if err := all(r.eq("pg.recovered", "yes"), r.eq("pg.restarts_during_outage", "0"), r.eq("pg.ActiveState", "active")); err != nil {
		return fmt.Errorf("after PostgreSQL came back: %w", err)
	}
	if err := r.eq("pg.journal_database", "1"); err != nil {
		return fmt.Errorf("the start-up log line does not name the database: %w", err)
	}
	return r.eq("pg.back_to_sqlite", "200")
}

var policyEvidence = []string{"policy-submit.json", "policy-job.json", "policy-journal.txt", "policy-ffmpeg.log"}

// policyApplied checks scenario.sh's policy_apply_step: the administrator's
// set-up worked, the daemon accepted the apply job and completed it, and the
// file lost its French track and nothing else (owner, group, mode, the files
// next to it). Each failure says which of these went wrong.
func policyApplied(r *results) error {
	if err := all(r.eq("policy.ffmpeg_rc", "0"), r.eq("policy.audio_before", "eng fre"), r.eq("policy.videos_before", "1"),
		r.eq("policy.dir_perms", "root:vpo 750"), r.eq("policy.ReadWritePaths", "/srv/media"),
		r.eq("policy.ProtectSystem", "strict"), r.eq("policy.ActiveState", "active")); err != nil {
		return fmt.Errorf("the step's set-up (media, policy file, drop-in, restart) failed, not vpo's apply: %w", err)
	}
	if code := r.facts["policy.submit_code"]; code != "201" {
		return fmt.Errorf("POST /api/jobs {\"kind\":\"apply\",\"payload\":{\"policy\":\"keep-english\",\"path\":\"/srv/media/x.mkv\"}} "+
			"answered HTTP %s, want 201: the daemon did not accept the apply job: %s", code, r.facts["policy.submit_body"])
	}
	if st := r.facts["policy.job_status"]; st != "completed" {
		return fmt.Errorf("apply job %s ended %q after %ss, want completed (error: %q)",
			r.facts["policy.job_id"], st, r.facts["policy.seconds"], r.facts["policy.job_error"])
	}
	if got := r.facts["policy.audio_after"]; got != "eng" {
		return fmt.Errorf("after the apply job completed, ffprobe finds audio languages %q in /srv/media/x.mkv, want \"eng\" (the French track removed)", got)
	}
	if got := r.facts["policy.videos_after"]; got != "1" {
		return fmt.Errorf("after the apply, /srv/media/x.mkv has %s video streams, want 1", got)
	}
	if before, after := r.facts["policy.owner_before"], r.facts["policy.owner_after"]; after != before {
		return fmt.Errorf("/srv/media/x.mkv was %q (owner:group mode) before the apply and is %q after", before, after)
	}
	if before, after := r.facts["policy.dir_before"], r.facts["policy.dir_after"]; after != before {
		return fmt.Errorf("/srv/media held %q before the apply and %q after (a temporary or original file left behind?)", before, after)
	}
	return nil
}

// healthSchema checks a /health answer: exactly the documented fields, of
// the documented types, healthy and ready. workers < 0: any count.
func healthSchema(path string, workers int) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var h map[string]any
	if err := json.Unmarshal(data, &h); err != nil {
		return fmt.Errorf("/health is not JSON: %v: %s", err, data)
	}
	want := map[string]string{
		"status": "string", "database": "string", "uptime_seconds": "number", "version": "string",
		"shutting_down": "bool", "ready": "bool", "jobs_queued": "number", "jobs_running": "number", "workers": "number",
		// The reload state (SIGHUP), named as upstream VPO names it.
		"config_reload_count": "number", "last_config_reload": "string or null", "config_reload_error": "string or null",
		// The queue's pause and processing window, and the libraries.
		"queue": "object", "libraries": "array",
	}
	var keys []string
	for k := range h {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if _, ok := want[k]; !ok {
			return fmt.Errorf("/health has an undocumented field %q: %s", k, data)
		}
	}
	for k, typ := range want {
		v, ok := h[k]
		if !ok {
			return fmt.Errorf("/health lacks %q: %s", k, data)
		}
		if !slices.Contains(strings.Split(typ, " or "), jsonType(v)) {
			return fmt.Errorf("/health %q is %T, want a %s: %s", k, v, typ, data)
		}
	}
	if h["status"] != "healthy" || h["database"] != "connected" || h["ready"] != true || h["shutting_down"] != false || h["version"] == "" {
		return fmt.Errorf("/health is not healthy and ready: %s", data)
	}
	if workers >= 0 && h["workers"] != float64(workers) {
		return fmt.Errorf("/health workers = %v, want %d: %s", h["workers"], workers, data)
	}
	return nil
}

// jsonType names the JSON type of a decoded value.
func jsonType(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "bool"
	case nil:
		return "null"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	}
	return fmt.Sprintf("%T", v)
}

// TestReloadChecks runs the reload checks on made-up results, without a
// machine: they pass for a daemon that reloads, fail, each, for one that
// dies of SIGHUP (what vpo did before it handled SIGHUP), and the log level
// check fails when no debug line follows the reload.
func TestReloadChecks(t *testing.T) {
	const health = `{"status":"healthy","database":"connected","uptime_seconds":9,"version":"0.1.0",` +
		`"shutting_down":false,"ready":true,"jobs_queued":0,"jobs_running":0,"workers":2,` +
		`"queue":{"paused":false,"drain":false,"window_open":true,"next_window":null},"libraries":[]%s}`
	reloaded := map[string]string{
		"reload.ExecReload": "{ path=/bin/kill ; argv[]=/bin/kill -HUP $MAINPID ; }", "reload.edit": "1", "reload.rc": "0",
		"reload.ActiveState": "active", "reload.SubState": "running", "reload.pid_before": "42", "reload.MainPID": "42",
		"reload.NRestarts_before": "0", "reload.NRestarts": "0", "reload.invocation": "inv1", "reload.InvocationID": "inv1",
		"reload.restored": "0", "reload.health_code": "200", "reload.config_reload_count": "1",
		"reload.config_reload_error": "null", "reload.since_us": "2000", "reload.scan_status": "completed",
	}
	line := func(prio, ts, msg string) journalEntry {
		return journalEntry{"_SYSTEMD_UNIT": "vpo.service", "_TRANSPORT": "stdout", "_SYSTEMD_INVOCATION_ID": "inv1",
			"PRIORITY": prio, "__REALTIME_TIMESTAMP": ts, "MESSAGE": msg}
	}
	tests := []struct {
		name    string
		facts   map[string]string
		health  string
		journal []journalEntry
		fails   int // how many of the reload checks must fail
	}{
		{"reloaded", reloaded, fmt.Sprintf(health, `,"config_reload_count":1,"last_config_reload":"2026-12-01T20:00:00Z","config_reload_error":null`),
			[]journalEntry{line("6", "1000", "vpo is ready"), line("7", "3000", "job started")}, 0},
		{"killed by SIGHUP", map[string]string{
			"reload.ExecReload": reloaded["reload.ExecReload"], "reload.edit": "1", "reload.rc": "0",
			"reload.ActiveState": "inactive", "reload.SubState": "dead", "reload.pid_before": "42", "reload.MainPID": "0",
			"reload.NRestarts_before": "0", "reload.NRestarts": "0", "reload.invocation": "inv1", "reload.InvocationID": "",
			"reload.restored": "0", "reload.health_code": "000", "reload.config_reload_count": "",
			"reload.config_reload_error": "", "reload.since_us": "2000", "reload.scan_status": "",
		}, "", []journalEntry{line("6", "1000", "vpo is ready")}, 3},
		{"reloaded, but not to debug", reloaded, fmt.Sprintf(health, `,"config_reload_count":1,"last_config_reload":"2026-12-01T20:00:00Z","config_reload_error":null`),
			[]journalEntry{line("6", "1000", "vpo is ready"), line("6", "3000", "job started")}, 1},
		{"debug lines before the reload", reloaded, fmt.Sprintf(health, `,"config_reload_count":1,"last_config_reload":"2026-12-01T20:00:00Z","config_reload_error":null`),
			[]journalEntry{line("7", "1000", "early"), line("7", "3000", "job started")}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := t.TempDir()
			if err := os.MkdirAll(filepath.Join(out, "ev"), 0o755); err != nil {
				t.Fatal(err)
			}
			if tt.health != "" {
				if err := os.WriteFile(filepath.Join(out, "ev", "health-reload.json"), []byte(tt.health), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			r := &results{facts: tt.facts, out: out, journal: tt.journal}
			n, failed := 0, []string{}
			for _, c := range checks {
				if !strings.HasPrefix(c.name, "systemctl reload vpo") {
					continue
				}
				n++
				if err := c.check(r); err != nil {
					failed = append(failed, fmt.Sprintf("%s: %v", c.name, err))
				}
			}
			if n != 3 {
				t.Fatalf("%d reload checks, want 3", n)
			}
			if len(failed) != tt.fails {
				t.Errorf("%d reload checks failed, want %d: %q", len(failed), tt.fails, failed)
			}
		})
	}
}

// TestTranscodeCheck runs the transcode check on made-up facts: it passes
// for a daemon that transcoded the clip, and fails for each way it can go
// wrong.
func TestTranscodeCheck(t *testing.T) {
	good := map[string]string{
		"transcode.ffmpeg_rc": "0", "transcode.codec_before": "mpeg4", "transcode.submit_code": "201",
		"transcode.job_id": "j2", "transcode.job_status": "completed", "transcode.child_kind": "transcode",
		"transcode.encoder": "libx264", "transcode.codec_after": "h264", "transcode.leftovers": "0",
		"transcode.priority_warnings": "0",
	}
	tests := []struct {
		name, key, value, want string
	}{
		{"transcoded", "", "", ""},
		{"job failed", "transcode.job_status", "failed", `"failed"`},
		{"not handed to a transcode job", "transcode.child_kind", "", "transcode.child_kind"},
		{"not re-encoded", "transcode.codec_after", "mpeg4", "transcode.codec_after"},
		{"temporary file left", "transcode.leftovers", "1", "transcode.leftovers"},
		{"priority refused", "transcode.priority_warnings", "1", "refused to lower"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			facts := maps.Clone(good)
			if tt.key != "" {
				facts[tt.key] = tt.value
			}
			err := transcoded(&results{facts: facts})
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("transcoded: %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("transcoded: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// TestPolicyCheck runs the policy check on made-up facts, without a machine:
// it passes for a daemon that applied keep-english, and fails, naming what
// went wrong, for each way the step can go wrong.
func TestPolicyCheck(t *testing.T) {
	good := map[string]string{
		"policy.ffmpeg_rc": "0", "policy.audio_before": "eng fre", "policy.videos_before": "1",
		"policy.dir_perms": "root:vpo 750", "policy.ReadWritePaths": "/srv/media", "policy.ProtectSystem": "strict",
		"policy.ActiveState": "active", "policy.submit_code": "201", "policy.submit_body": `{"id":"j1"}`,
		"policy.job_id": "j1", "policy.job_status": "completed", "policy.job_error": "", "policy.seconds": "1.2",
		"policy.audio_after": "eng", "policy.videos_after": "1",
		"policy.owner_before": "vpo:vpo 644", "policy.owner_after": "vpo:vpo 644",
		"policy.dir_before": "clip.mp4 movie.mkv x.mkv", "policy.dir_after": "clip.mp4 movie.mkv x.mkv",
	}
	with := func(kv ...string) map[string]string {
		m := maps.Clone(good)
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name  string
		facts map[string]string
		want  string // "" = passes; else a part of the error
	}{
		{"applied", good, ""},
		{"no apply job kind", with("policy.submit_code", "400", "policy.submit_body", `{"error":"unknown job kind \"apply\""}`,
			"policy.job_id", "", "policy.job_status", "", "policy.audio_after", "eng fre"), `answered HTTP 400, want 201`},
		{"job failed", with("policy.job_status", "failed", "policy.job_error", "open /srv/media/x.mkv: read-only file system"),
			`ended "failed"`},
		{"French track kept", with("policy.audio_after", "eng fre"), `audio languages "eng fre"`},
		{"video lost", with("policy.videos_after", "0"), "0 video streams"},
		{"mode changed", with("policy.owner_after", "vpo:vpo 600"), `"vpo:vpo 644" (owner:group mode) before the apply and is "vpo:vpo 600"`},
		{"temporary file left", with("policy.dir_after", "clip.mp4 movie.mkv x.mkv .x.mkv.tmp"), "left behind"},
		{"drop-in missing", with("policy.ReadWritePaths", ""), "set-up"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := policyApplied(&results{facts: tt.facts})
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("policyApplied: %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("policyApplied: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// TestPostgresCheck runs the PostgreSQL check on made-up facts, without a
// machine: it passes for a service that ran on PostgreSQL and weathered
// the outage, and fails, naming what went wrong, for each way the step can
// go wrong.
func TestPostgresCheck(t *testing.T) {
	good := map[string]string{
		"pg.start_rc": "0", "pg.createdb_rc": "0", "pg.health_code": "200", "pg.database": "connected",
		"pg.job_id": "j1", "pg.job_status": "completed", "pg.job_node": "e2e-node", "pg.rows": "1", "pg.nodes_up": "1",
		"pg.outage_health": "503", "pg.outage_database": "disconnected", "pg.recovered": "yes",
		"pg.restarts_during_outage": "0", "pg.ActiveState": "active", "pg.journal_database": "1", "pg.back_to_sqlite": "200",
	}
	tests := []struct{ name, key, value, want string }{
		{"weathered", "", "", ""},
		{"no PostgreSQL", "pg.start_rc", "5", "set-up"},
		{"never healthy", "pg.health_code", "503", "did not become healthy"},
		{"job on another node", "pg.job_node", "", "pg.job_node"},
		{"not in nodes", "pg.nodes_up", "0", "vpo nodes"},
		{"healthy while the database is down", "pg.outage_health", "200", "PostgreSQL stopped"},
		{"restarted by systemd in the outage", "pg.restarts_during_outage", "1", "came back"},
		{"not recovered", "pg.recovered", "no", "came back"},
		{"password-less URL not logged", "pg.journal_database", "0", "does not name the database"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			facts := maps.Clone(good)
			if tt.key != "" {
				facts[tt.key] = tt.value
			}
			err := onPostgres(&results{facts: facts})
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("onPostgres: %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("onPostgres: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
