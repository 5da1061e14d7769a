package integration_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver the checks read PostgreSQL with

	"github.com/vpo-project/vpo/libs/pgtest"
)

// netLab is a bridge in the test's network namespace with "hosts" attached:
// each host is a network namespace of its own (kept by a holder process)
// with one address on the bridge's network, as separate machines on a LAN
// would be. The test process and PostgreSQL stay in the test's namespace,
// at the bridge's address.
type netLab struct {
	t      *testing.T
	net    int    // the third byte of 10.213.N.0/24
	bridge string // its bridge
}

// needNetLab skips (under CI: fails) when the test cannot make network
// namespaces: it needs root and the ip, unshare and nsenter commands.
func needNetLab(t *testing.T) {
	t.Helper()
	lacking := []string{}
	for _, tool := range []string{"ip", "unshare", "nsenter"} {
		if _, err := exec.LookPath(tool); err != nil {
			lacking = append(lacking, tool)
		}
	}
	if os.Geteuid() != 0 {
		lacking = append(lacking, "root")
	}
	if _, err := pgtest.Binaries(); err != nil {
		lacking = append(lacking, "postgresql")
	}
	if len(lacking) > 0 {
		missing(t, "network namespaces and PostgreSQL need "+strings.Join(lacking, ", "))
	}
}

func sh(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

func newNetLab(t *testing.T) *netLab {
	t.Helper()
	l := &netLab{t: t, net: 1 + rand.IntN(250)}
	l.bridge = fmt.Sprintf("vpobr%d", l.net)
	sh(t, "ip", "link", "add", l.bridge, "type", "bridge")
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", l.bridge).Run() })
	sh(t, "ip", "addr", "add", l.gateway()+"/24", "dev", l.bridge)
	sh(t, "ip", "link", "set", l.bridge, "up")
	return l
}

// gateway is the bridge's address (the test's and PostgreSQL's).
func (l *netLab) gateway() string { return fmt.Sprintf("10.213.%d.1", l.net) }

// nsHost is one host of the lab.
type nsHost struct {
	addr string
	pid  int // the holder of its network namespace
}

// host makes host i (address 10.213.N.10+i).
func (l *netLab) host(i int) *nsHost {
	t := l.t
	t.Helper()
	holder := exec.Command("unshare", "--net", "sleep", "infinity")
	if err := holder.Start(); err != nil {
		t.Fatalf("unshare: %v", err)
	}
	t.Cleanup(func() { _ = holder.Process.Kill(); _ = holder.Wait() })
	h := &nsHost{addr: fmt.Sprintf("10.213.%d.%d", l.net, 10+i), pid: holder.Process.Pid}
	outer, inner := fmt.Sprintf("vh%d_%d", l.net, i), fmt.Sprintf("vn%d_%d", l.net, i)
	sh(t, "ip", "link", "add", outer, "type", "veth", "peer", "name", inner)
	sh(t, "ip", "link", "set", inner, "netns", strconv.Itoa(h.pid))
	sh(t, "ip", "link", "set", outer, "master", l.bridge)
	sh(t, "ip", "link", "set", outer, "up")
	in := func(args ...string) {
		sh(t, "nsenter", append([]string{"-t", strconv.Itoa(h.pid), "-n", "--", "ip"}, args...)...)
	}
	in("addr", "add", h.addr+"/24", "dev", inner)
	in("link", "set", inner, "up")
	in("link", "set", "lo", "up")
	return h
}

// command runs name in the host's network namespace (nsenter execs it: the
// process is name itself, for signals).
func (h *nsHost) command(name string, args ...string) *exec.Cmd {
	return exec.Command("nsenter", append([]string{"-t", strconv.Itoa(h.pid), "-n", "--", name}, args...)...)
}

const clusterToken = "cluster-test-token-0123456789"

// clusterNode is one vpo serve of the cluster test, on a host of its own.
type clusterNode struct {
	t      *testing.T
	name   string
	host   *nsHost
	config string
	dir    string
	mu     sync.Mutex
	cmd    *exec.Cmd
	logs   *syncBuffer // every run's stderr, one after the other
	done   chan struct{}
}

func (n *clusterNode) url(path string) string { return "http://" + n.host.addr + ":8321" + path }

// start runs the node (again) and waits for its /health.
func (n *clusterNode) start() {
	t := n.t
	t.Helper()
	cmd := n.host.command(vpoBinary, "serve", "--config", n.config)
	cmd.Env = baseEnv(n.dir)
	cmd.Stdout, cmd.Stderr = n.logs, n.logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start node %s: %v", n.name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	n.mu.Lock()
	n.cmd, n.done = cmd, done
	n.mu.Unlock()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if code, _ := n.health(); code == http.StatusOK {
			return
		}
		select {
		case <-done:
			t.Fatalf("node %s exited before it was healthy:\n%s", n.name, n.logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %s not healthy within 30s:\n%s", n.name, n.logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (n *clusterNode) signal(sig syscall.Signal) {
	n.mu.Lock()
	defer n.mu.Unlock()
	_ = n.cmd.Process.Signal(sig)
}

// kill ends the node with SIGKILL and waits for it.
func (n *clusterNode) kill() {
	n.signal(syscall.SIGKILL)
	n.mu.Lock()
	done := n.done
	n.mu.Unlock()
	<-done
}

var clusterClient = &http.Client{Timeout: 5 * time.Second}

func (n *clusterNode) do(method, path string, body any, out any) (int, error) {
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, err := http.NewRequest(method, n.url(path), rd)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+clusterToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := clusterClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			return resp.StatusCode, err
		}
	}
	return resp.StatusCode, nil
}

func (n *clusterNode) health() (int, error) { return n.do(http.MethodGet, "/health", nil, nil) }

// TestClusterOnPostgres: three nodes, each a host of its own (a network
// namespace with its own address), share one PostgreSQL and run 1,000
// jobs while nodes are killed (SIGKILL) at random times and restarted, one
// node is frozen (SIGSTOP) longer than the lease, and PostgreSQL restarts.
// Every job ends completed exactly once, none is lost, jobs that require
// the gpu tag run only on the node that has it, nodes report degraded
// while PostgreSQL is down and recover by themselves.
func TestClusterOnPostgres(t *testing.T) {
	needNetLab(t)
	lab := newNetLab(t)
	ctx := context.Background()
	pg, err := pgtest.StartWith(ctx, t.TempDir(), pgtest.Options{Listen: lab.gateway(), Port: 54000 + lab.net, Trust: []string{lab.gateway() + "/24"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pg.Stop() })
	dbName, err := pg.NewDatabaseName(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dbURL := pg.TCPURL(dbName)
	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	shared := t.TempDir() // the "NFS mount" every node sees at the same path
	record := filepath.Join(shared, "runs.log")
	const lease = 3 * time.Second
	var nodes []*clusterNode
	for i := 1; i <= 3; i++ {
		n := &clusterNode{t: t, name: fmt.Sprintf("n%d", i), host: lab.host(i), dir: t.TempDir(), logs: &syncBuffer{}}
		tags := "[]"
		if i == 3 {
			tags = `["gpu"]`
		}
		n.config = filepath.Join(n.dir, "config.toml")
		conf := fmt.Sprintf(`[server]
bind = %q
port = 8321
auth_token = %q
shutdown_timeout = "5s"

[database]
path = %q
url = %q

[node]
name = %q

[jobs]
workers = 4
lease_duration = "%s"
test_kinds = true
tags = %s
`, n.host.addr, clusterToken, filepath.Join(n.dir, "library.db"), dbURL, n.name, lease, tags)
		if err := os.WriteFile(n.config, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		n.start()
		nodes = append(nodes, n)
		t.Cleanup(func() {
			n.kill()
			if t.Failed() {
				t.Logf("node %s log:\n%s", n.name, n.logs.String())
			}
		})
	}

	// 1,000 jobs, 50 of which require the gpu tag, submitted to the nodes
	// in turn.
	const total, gpuJobs = 1000, 50
	seed := rand.Uint64()
	t.Logf("chaos seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	type submission struct {
		body map[string]any
		node *clusterNode
	}
	subs := make(chan submission)
	var wg sync.WaitGroup
	var submitErr error
	var errOnce sync.Once
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for s := range subs {
				if code, err := s.node.do(http.MethodPost, "/api/jobs", s.body, nil); err != nil || code != http.StatusCreated {
					errOnce.Do(func() { submitErr = fmt.Errorf("submit to %s: %d %v", s.node.name, code, err) })
				}
			}
		}()
	}
	for i := 0; i < total; i++ {
		body := map[string]any{
			"kind":         "test.sleep",
			"payload":      map[string]any{"seconds": 0.05 + rng.Float64()*0.25, "record": record},
			"max_attempts": 20,
		}
		if i%(total/gpuJobs) == 0 {
			body["requires"] = []string{"gpu"}
		}
		subs <- submission{body, nodes[i%3]}
	}
	close(subs)
	wg.Wait()
	if submitErr != nil {
		t.Fatal(submitErr)
	}

	// Chaos: a random order of two SIGKILLs (node restarted a second
	// later), one SIGSTOP for twice the lease and one PostgreSQL restart,
	// at random intervals.
	events := []string{"kill", "kill", "freeze", "pg"}
	rng.Shuffle(len(events), func(i, j int) { events[i], events[j] = events[j], events[i] })
	frozenHadJobs := false
	for _, ev := range events {
		time.Sleep(time.Duration(300+rng.IntN(1500)) * time.Millisecond)
		n := nodes[rng.IntN(3)]
		switch ev {
		case "kill":
			t.Logf("SIGKILL %s", n.name)
			n.kill()
			time.Sleep(time.Second)
			n.start()
		case "freeze":
			// The jobs this process runs (not those a killed earlier
			// process of the node left running, which others recover).
			var q struct {
				Running int `json:"running"`
			}
			_, _ = n.do(http.MethodGet, "/api/queue", nil, &q)
			running := q.Running
			// (Two or more: with one, it may end in the instant before the
			// freeze, and a frozen node with no run has none to lose.)
			frozenHadJobs = running >= 2
			t.Logf("SIGSTOP %s (%d running jobs) for %s", n.name, running, 2*lease)
			n.signal(syscall.SIGSTOP)
			time.Sleep(2 * lease)
			n.signal(syscall.SIGCONT)
			if frozenHadJobs {
				// Its runs were recovered by the others meanwhile: each
				// is stopped, its outcome discarded.
				deadline := time.Now().Add(2 * lease)
				for !strings.Contains(n.logs.String(), "job lease lost") && time.Now().Before(deadline) {
					time.Sleep(20 * time.Millisecond)
				}
				if !strings.Contains(n.logs.String(), "job lease lost") {
					t.Errorf("node %s, frozen longer than the lease with %d running jobs, did not stop a run as lost", n.name, running)
				}
			}
		case "pg":
			t.Log("PostgreSQL restart")
			if err := pg.Halt(ctx); err != nil {
				t.Fatal(err)
			}
			time.Sleep(300 * time.Millisecond)
			for _, m := range nodes {
				if code, err := m.health(); code != http.StatusServiceUnavailable {
					t.Errorf("node %s /health with PostgreSQL down = %d, %v; want 503", m.name, code, err)
				}
			}
			time.Sleep(time.Second)
			if err := pg.Resume(ctx); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(15 * time.Second)
			for _, m := range nodes {
				for {
					code, _ := m.health()
					if code == http.StatusOK {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("node %s did not recover after PostgreSQL came back (/health %d)", m.name, code)
					}
					time.Sleep(50 * time.Millisecond)
				}
			}
		}
	}

	// Every job ends; none is lost.
	deadline := time.Now().Add(3 * time.Minute)
	for {
		var done, all int
		err := db.QueryRow("SELECT count(*) FILTER (WHERE status IN ('completed', 'failed', 'cancelled')), count(*) FROM jobs").Scan(&done, &all)
		if err == nil && done == all && all == total {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 3 minutes: %d of %d jobs finished (%v)", done, all, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	query := func(q string) []string {
		rows, err := db.Query(q)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			out = append(out, s)
		}
		return out
	}
	if bad := query("SELECT id || ' ' || status || ' ' || coalesce(error, '') FROM jobs WHERE status <> 'completed'"); len(bad) > 0 {
		t.Errorf("%d jobs did not complete: %v", len(bad), bad)
	}
	// Exactly one end per job: the fencing token made every other run's
	// outcome a no-op.
	if twice := query("SELECT job_id || ': ' || count(*) FROM events WHERE type = 'job.finished' GROUP BY job_id HAVING count(*) <> 1"); len(twice) > 0 {
		t.Errorf("jobs that ended more than once: %v", twice)
	}
	if n := query("SELECT count(DISTINCT job_id)::text FROM events WHERE type = 'job.finished'"); n[0] != strconv.Itoa(total) {
		t.Errorf("%s jobs ended, want %d", n[0], total)
	}
	// Every claim is an attempt: a run is never counted twice or lost.
	if off := query(`SELECT j.id || ': ' || j.attempts || ' attempts, ' || count(e.id) || ' starts' FROM jobs j
		LEFT JOIN events e ON e.job_id = j.id AND e.type = 'job.started' GROUP BY j.id, j.attempts HAVING count(e.id) <> j.attempts`); len(off) > 0 {
		t.Errorf("attempts and starts differ: %v", off)
	}
	if wrong := query("SELECT id || ' on ' || coalesce(node, '?') FROM jobs WHERE requires <> '[]' AND node IS DISTINCT FROM 'n3'"); len(wrong) > 0 {
		t.Errorf("jobs requiring gpu ran elsewhere than n3: %v", wrong)
	}
	if n := query("SELECT count(*)::text FROM jobs WHERE requires <> '[]'"); n[0] != strconv.Itoa(gpuJobs) {
		t.Errorf("%s jobs require gpu, want %d", n[0], gpuJobs)
	}
	retried := query("SELECT count(*)::text FROM jobs WHERE attempts > 1")
	perNode := query("SELECT coalesce(node, '?') || '=' || count(*) FROM jobs GROUP BY node ORDER BY node")
	t.Logf("jobs per node %v; %s jobs needed more than one attempt", perNode, retried[0])
	// Every job's handler ran to its end at least once.
	runs, err := os.ReadFile(record)
	if err != nil {
		t.Fatal(err)
	}
	finished := map[string]bool{}
	for _, line := range strings.Split(string(runs), "\n") {
		if id, ok := strings.CutPrefix(line, "done "); ok {
			finished[id] = true
		}
	}
	if len(finished) != total {
		t.Errorf("%d jobs' handlers ran to the end, want %d", len(finished), total)
	}

	// Every node is up and listed by each.
	var list struct {
		Nodes []struct {
			Name, State string
			Tags        []string
		} `json:"nodes"`
	}
	if code, err := nodes[0].do(http.MethodGet, "/api/nodes", nil, &list); err != nil || code != http.StatusOK {
		t.Fatalf("GET /api/nodes = %d, %v", code, err)
	}
	if len(list.Nodes) != 3 {
		t.Fatalf("nodes = %+v, want n1, n2, n3", list.Nodes)
	}
	for _, n := range list.Nodes {
		if n.State != "up" || (n.Name == "n3") != (len(n.Tags) == 1) {
			t.Errorf("node %+v, want up (n3 with the gpu tag)", n)
		}
	}
}
