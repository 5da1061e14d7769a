package integration_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vpo-project/vpo/libs/pgtest"
)

// closedSchedule is a window that opens in two hours and closes in three
// (local time): closed now.
func closedSchedule() string {
	now := time.Now()
	return now.Add(2*time.Hour).Format("15:04") + "-" + now.Add(3*time.Hour).Format("15:04")
}

// TestQueueWindowStoredOverridesConfig: `vpo queue window` stores a
// processing window that takes the place of jobs.schedule (here: opens a
// queue the configuration holds closed), survives a restart, and `--clear`
// brings the configured window back; bad schedules and kinds are refused,
// naming them, and change nothing.
func TestQueueWindowStoredOverridesConfig(t *testing.T) {
	dir := t.TempDir()
	port := queuePort(t)
	schedule := closedSchedule()
	extra := fmt.Sprintf("\n[jobs]\ntest_kinds = true\nschedule = %q\nscheduled_kinds = [\"test.sleep\"]\n", schedule)
	d := start(t, startOpts{dir: dir, port: port, extra: extra, wait: true})
	held := d.submit("test.sleep", `{"seconds": 0}`)
	d.stillQueued(held.ID)

	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"window", "25:00-26:00"}, 6, "schedule: "},
		{[]string{"window", "01:00-02:00", "--kinds", "test.sleep,nope"}, 6, `"nope" is not a job kind`},
		{[]string{"window"}, exitUsage, "give one SCHEDULE"},
		{[]string{"window", "01:00-02:00", "--kinds="}, exitUsage, "names no job kind"},
		{[]string{"window", "--clear", "01:00-02:00"}, exitUsage, "--clear takes no schedule"},
	} {
		code, _, stderr := d.queueRun(tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.want) {
			t.Errorf("vpo queue %s = exit %d, %q; want %d naming %q", strings.Join(tc.args, " "), code, stderr, tc.code, tc.want)
		}
	}
	if st := d.queueState(); st.WindowSource != "config" || st.Schedule != schedule {
		t.Fatalf("after refused windows: %+v; want the configured %s", st, schedule)
	}

	out := d.queueCLI("window", "")
	if !strings.Contains(out, "processing window (the cluster's, set ") || !strings.Contains(out, "always open") {
		t.Errorf("vpo queue window \"\" printed:\n%s", out)
	}
	d.waitJob(held.ID, "completed", 10*time.Second)

	// Stored: a restart keeps it, and says so in the log.
	d.signal(syscall.SIGTERM)
	if code := d.wait(20 * time.Second); code != exitOK {
		t.Fatalf("stop: exit %d", code)
	}
	d = start(t, startOpts{dir: dir, port: port, args: []string{"--config", filepath.Join(dir, "config.toml")}, wait: true})
	st := d.queueState()
	if st.WindowSource != "cluster" || st.Schedule != "" || !st.WindowOpen || st.WindowSetAt == nil {
		t.Fatalf("after a restart: %+v; want the cluster's always-open window", st)
	}
	if !strings.Contains(d.stderr.String(), "processing window of the cluster") {
		t.Errorf("the start-up did not log the cluster's window:\n%s", d.stderr.String())
	}
	d.waitJob(d.submit("test.sleep", `{"seconds": 0}`).ID, "completed", 10*time.Second)

	// Cleared: the configured window holds jobs again.
	out = d.queueCLI("window", "--clear")
	if !strings.Contains(out, "processing window: "+schedule+" (test.sleep); closed") {
		t.Errorf("vpo queue window --clear printed:\n%s", out)
	}
	d.stillQueued(d.submit("test.sleep", `{"seconds": 0}`).ID)
}

// needPostgres skips (under CI: fails) without Debian's postgresql.
func needPostgres(t *testing.T) {
	t.Helper()
	if _, err := pgtest.Binaries(); err != nil {
		missing(t, fmt.Sprintf("PostgreSQL (the postgresql package) is not installed: %v", err))
	}
}

// TestQueueWindowClusterWide: two daemons share one PostgreSQL; a window
// set through one holds the jobs of both, reaches the other within a
// moment (change feed, LISTEN/NOTIFY) and after its restart, and cleared
// through the other lets both run the jobs again.
func TestQueueWindowClusterWide(t *testing.T) {
	needPostgres(t)
	ctx := context.Background()
	pg, err := pgtest.Start(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pg.Stop() })
	dbURL, err := pg.NewDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	startNode := func(name, dir string, port int) *daemon {
		d := start(t, startOpts{dir: dir, port: port, extra: testKinds,
			env: []string{"VPO_DATABASE_URL=" + dbURL, "VPO_NODE_NAME=" + name}})
		d.waitHealthy()
		return d
	}
	a := startNode("a", t.TempDir(), queuePort(t))
	dirB, portB := t.TempDir(), queuePort(t) // (a holds its port by now)
	b := startNode("b", dirB, portB)

	schedule := closedSchedule()
	out := a.queueCLI("window", schedule, "--kinds", "test.sleep")
	if !strings.Contains(out, "processing window (the cluster's") || !strings.Contains(out, "; closed") {
		t.Errorf("vpo queue window on a printed:\n%s", out)
	}
	set := time.Now()
	for {
		st := b.queueState()
		if st.WindowSource == "cluster" && st.Schedule == schedule && !st.WindowOpen {
			t.Logf("node b took the window %s after it was set on a", time.Since(set).Round(time.Millisecond))
			break
		}
		if time.Since(set) > 5*time.Second {
			t.Fatalf("node b's queue 5s after the window was set on a: %+v", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(b.stderr.String(), "(by another node): "+schedule+" (test.sleep)") {
		t.Errorf("node b did not log the window it took:\n%s", b.stderr.String())
	}
	j1 := b.submit("test.sleep", `{"seconds": 0}`)
	j2 := a.submit("test.sleep", `{"seconds": 0}`)
	b.stillQueued(j1.ID)
	a.stillQueued(j2.ID)

	// A restarted node starts with the cluster's window, not its own.
	b.signal(syscall.SIGTERM)
	if code := b.wait(20 * time.Second); code != exitOK {
		t.Fatalf("stop b: exit %d", code)
	}
	b = startNode("b", dirB, portB)
	if st := b.queueState(); st.WindowSource != "cluster" || st.Schedule != schedule || st.WindowOpen {
		t.Fatalf("node b after its restart: %+v; want the cluster's closed window", st)
	}
	b.stillQueued(j1.ID)

	// Cleared through b: both follow their configuration (always open)
	// and run the held jobs.
	b.queueCLI("window", "--clear")
	a.waitJob(j1.ID, "completed", 10*time.Second)
	a.waitJob(j2.ID, "completed", 10*time.Second)
	if st := a.queueState(); st.WindowSource != "config" || st.Schedule != "" {
		t.Errorf("node a after the window was cleared on b: %+v", st)
	}
}
