// Command clusterbench measures vpo's queue on PostgreSQL with one, two and
// three nodes against a bare-PostgreSQL floor (one client doing, per job,
// what a durable queue must at least do: insert, claim, complete) and
// against vpo on SQLite with one node, all in one run on one durable
// PostgreSQL cluster (Debian's postgresql, started in a temporary
// directory); and the time another node takes to run the job of a node
// killed with SIGKILL. It prints a Markdown section for docs/benchmarks.md.
//
//	go build -o /tmp/vpo ./services/vpo/cmd/vpo
//	go run ./tools/bench/clusterbench -vpo /tmp/vpo
package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver

	"github.com/vpo-project/vpo/libs/pgtest"
)

func main() {
	vpo := flag.String("vpo", "", "vpo binary")
	jobs := flag.Int("jobs", 2000, "jobs per throughput run")
	workers := flag.Int("workers", 4, "workers per node")
	lease := flag.Duration("lease", 3*time.Second, "jobs.lease_duration of the nodes")
	rounds := flag.Int("rounds", 3, "rounds of each throughput measurement and of the recovery")
	workJobs := flag.Int("work-jobs", 240, "jobs per run of the scale-out measurement (each sleeps -work)")
	work := flag.Duration("work", 200*time.Millisecond, "how long each job of the scale-out measurement works")
	flag.Parse()
	if *vpo == "" {
		fmt.Fprintln(os.Stderr, "clusterbench: -vpo is required")
		os.Exit(2)
	}
	if err := run(*vpo, *jobs, *workers, *lease, *rounds, *workJobs, *work); err != nil {
		fmt.Fprintln(os.Stderr, "clusterbench:", err)
		os.Exit(1)
	}
}

func logf(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }

func run(vpo string, jobs, workers int, lease time.Duration, rounds, workJobs int, work time.Duration) error {
	ctx := context.Background()
	scratch, err := os.MkdirTemp("", "clusterbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(scratch)
	port, err := freePort()
	if err != nil {
		return err
	}
	pg, err := pgtest.StartWith(ctx, scratch, pgtest.Options{Listen: "127.0.0.1", Port: port, Trust: []string{"127.0.0.1/32"}, Durable: true})
	if err != nil {
		return err
	}
	defer pg.Stop()
	b := &bench{vpo: vpo, work: scratch, pg: pg, jobs: jobs, workers: workers, lease: lease}

	results := map[string][]float64{}
	order := []string{"floor", "sqlite-1", "pg-1", "pg-2", "pg-3"}
	// Interleaved rounds: each round measures every setup once, so that
	// drift of the machine spreads over all of them.
	for r := 0; r < rounds; r++ {
		for _, name := range order {
			var v float64
			var err error
			switch name {
			case "floor":
				v, err = b.floor(ctx)
			case "sqlite-1":
				v, err = b.throughput(ctx, 1, false, b.jobs, 0)
			default:
				v, err = b.throughput(ctx, int(name[3]-'0'), true, b.jobs, 0)
			}
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			logf("round %d: %s %.0f jobs/s", r+1, name, v)
			results[name] = append(results[name], v)
		}
	}
	scale := map[int][]float64{}
	for r := 0; r < rounds; r++ {
		for k := 1; k <= 3; k++ {
			v, err := b.throughput(ctx, k, true, workJobs, work)
			if err != nil {
				return fmt.Errorf("scale-out with %d nodes: %w", k, err)
			}
			logf("round %d: %d nodes, jobs of %s: %.1f jobs/s", r+1, k, work, v)
			scale[k] = append(scale[k], v)
		}
	}
	var recov []time.Duration
	for r := 0; r < rounds; r++ {
		d, err := b.recovery(ctx)
		if err != nil {
			return fmt.Errorf("recovery: %w", err)
		}
		logf("round %d: recovery %s", r+1, d.Round(time.Millisecond))
		recov = append(recov, d)
	}

	med := func(v []float64) float64 { s := slices.Clone(v); slices.Sort(s); return s[len(s)/2] }
	floor := med(results["floor"])
	fmt.Printf("PostgreSQL %s (durable: fsync and synchronous commit on), %d jobs a run, %d workers a node, lease %s, median of %d interleaved rounds.\n\n",
		pg.Version(), jobs, workers, lease, rounds)
	fmt.Println("| setup | jobs/s | vs bare PostgreSQL | vs vpo on SQLite |")
	fmt.Println("|---|---:|---:|---:|")
	lite := med(results["sqlite-1"])
	labels := map[string]string{
		"floor": "bare PostgreSQL, one client (insert + claim + complete)", "sqlite-1": "vpo on SQLite, 1 node",
		"pg-1": "vpo on PostgreSQL, 1 node", "pg-2": "vpo on PostgreSQL, 2 nodes", "pg-3": "vpo on PostgreSQL, 3 nodes",
	}
	for _, name := range order {
		v := med(results[name])
		fmt.Printf("| %s | %.0f | %.2f× | %.2f× |\n", labels[name], v, v/floor, v/lite)
	}
	one := med(scale[1])
	fmt.Printf("\nScale-out: jobs that each work %s (%d jobs a run, %d workers a node), on PostgreSQL:\n\n", work, workJobs, workers)
	fmt.Println("| nodes | jobs/s | vs 1 node | ideal |")
	fmt.Println("|---:|---:|---:|---:|")
	for k := 1; k <= 3; k++ {
		v := med(scale[k])
		fmt.Printf("| %d | %.1f | %.2f× | %d× |\n", k, v, v/one, k)
	}
	slices.Sort(recov)
	fmt.Printf("\nRecovery of a killed node's job by another node (SIGKILL to the other node's start of it), %d rounds: median %s, max %s; goal lease + 1 s = %s.\n",
		rounds, recov[len(recov)/2].Round(time.Millisecond), recov[len(recov)-1].Round(time.Millisecond), lease+time.Second)
	return nil
}

type bench struct {
	vpo     string
	work    string
	pg      *pgtest.Cluster
	jobs    int
	workers int
	lease   time.Duration
}

// floor does per job, from one client, what a durable queue must at least
// do: commit the job, commit its claim (FOR UPDATE SKIP LOCKED), commit
// its completion.
func (b *bench) floor(ctx context.Context) (float64, error) {
	name, err := b.pg.NewDatabaseName(ctx)
	if err != nil {
		return 0, err
	}
	db, err := sql.Open("pgx", b.pg.TCPURL(name))
	if err != nil {
		return 0, err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `CREATE TABLE q (seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, id text NOT NULL UNIQUE,
		status text NOT NULL, payload text NOT NULL, owner text, result text);
		CREATE INDEX q_status_seq ON q (status, seq)`); err != nil {
		return 0, err
	}
	start := time.Now()
	for i := 0; i < b.jobs; i++ {
		id := fmt.Sprintf("job-%d", i)
		if _, err := db.ExecContext(ctx, "INSERT INTO q (id, status, payload) VALUES ($1, 'queued', '{}')", id); err != nil {
			return 0, err
		}
		var got string
		if err := db.QueryRowContext(ctx, `UPDATE q SET status = 'running', owner = 'w' WHERE seq = (
			SELECT seq FROM q WHERE status = 'queued' ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING id`).Scan(&got); err != nil {
			return 0, err
		}
		if _, err := db.ExecContext(ctx, "UPDATE q SET status = 'completed', result = '{}' WHERE id = $1 AND status = 'running'", got); err != nil {
			return 0, err
		}
	}
	return float64(b.jobs) / time.Since(start).Seconds(), nil
}

// node is one vpo serve.
type node struct {
	cmd  *exec.Cmd
	port int
	done chan struct{}
	log  *bytes.Buffer
}

func (b *bench) startNode(ctx context.Context, name, dbURL string) (*node, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(b.work, name+"-")
	if err != nil {
		return nil, err
	}
	conf := fmt.Sprintf("[server]\nport = %d\n\n[database]\npath = %q\nurl = %q\n\n[node]\nname = %q\n\n[jobs]\nworkers = %d\nlease_duration = %q\ntest_kinds = true\n\n[logging]\nlevel = \"warning\"\n",
		port, filepath.Join(dir, "library.db"), dbURL, name, b.workers, b.lease.String())
	path := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	n := &node{cmd: exec.Command(b.vpo, "serve", "--config", path), port: port, done: make(chan struct{}), log: &bytes.Buffer{}}
	n.cmd.Env = []string{"HOME=" + dir, "PATH=" + os.Getenv("PATH")}
	n.cmd.Stderr = n.log
	if err := n.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { _ = n.cmd.Wait(); close(n.done) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(n.url("/health"))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return n, nil
			}
		}
		select {
		case <-n.done:
			return nil, fmt.Errorf("node %s exited: %s", name, n.log)
		default:
		}
		if time.Now().After(deadline) {
			n.stop()
			return nil, fmt.Errorf("node %s not healthy in 30s: %s", name, n.log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (n *node) url(path string) string { return fmt.Sprintf("http://127.0.0.1:%d%s", n.port, path) }

func (n *node) stop() {
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.done:
	case <-time.After(20 * time.Second):
		_ = n.cmd.Process.Kill()
		<-n.done
	}
}

func (n *node) submit(body string) (string, error) {
	resp, err := http.Post(n.url("/api/jobs"), "application/json", bytes.NewBufferString(body))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var j struct {
		ID string `json:"id"`
	}
	if resp.StatusCode != http.StatusCreated || json.NewDecoder(resp.Body).Decode(&j) != nil {
		return "", fmt.Errorf("submit: %s", resp.Status)
	}
	return j.ID, nil
}

// throughput runs b.jobs no-op jobs through k nodes: submitted by 8
// clients spread over the nodes while the workers run, timed from the
// first submission to the last completion.
func (b *bench) throughput(ctx context.Context, k int, pg bool, jobs int, work time.Duration) (float64, error) {
	dbURL := ""
	var db *sql.DB
	if pg {
		name, err := b.pg.NewDatabaseName(ctx)
		if err != nil {
			return 0, err
		}
		dbURL = b.pg.TCPURL(name)
		if db, err = sql.Open("pgx", dbURL); err != nil {
			return 0, err
		}
		defer db.Close()
	}
	var nodes []*node
	defer func() {
		for _, n := range nodes {
			n.stop()
		}
	}()
	for i := 0; i < k; i++ {
		n, err := b.startNode(ctx, fmt.Sprintf("n%d", i+1), dbURL)
		if err != nil {
			return 0, err
		}
		nodes = append(nodes, n)
	}
	ids := make(chan int)
	var wg sync.WaitGroup
	var failed error
	var once sync.Once
	start := time.Now()
	for c := 0; c < 8; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range ids {
				body := fmt.Sprintf(`{"kind":"test.sleep","payload":{"seconds":%g,"silent":true}}`, work.Seconds())
				if _, err := nodes[i%k].submit(body); err != nil {
					once.Do(func() { failed = err })
				}
			}
		}()
	}
	for i := 0; i < jobs; i++ {
		ids <- i
	}
	close(ids)
	wg.Wait()
	if failed != nil {
		return 0, failed
	}
	// Completed jobs, read from the API of the first node (SQLite) or
	// from PostgreSQL.
	deadline := time.Now().Add(10 * time.Minute)
	for {
		n, err := completed(nodes[0], db)
		if err != nil {
			return 0, err
		}
		if n >= jobs {
			return float64(jobs) / time.Since(start).Seconds(), nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("%d of %d jobs completed after 10 minutes", n, jobs)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func completed(n *node, db *sql.DB) (int, error) {
	if db != nil {
		var c int
		err := db.QueryRow("SELECT n FROM job_counts WHERE status = 'completed'").Scan(&c)
		return c, err
	}
	resp, err := http.Get(n.url("/api/queue"))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var q struct {
		Queued, Running int
	}
	if err := json.NewDecoder(resp.Body).Decode(&q); err != nil {
		return 0, err
	}
	if q.Queued == 0 && q.Running == 0 {
		return 1 << 30, nil
	}
	return 0, nil
}

// recovery starts node a, gives it a long job, starts node b, kills a with
// SIGKILL and returns the time until b started the job.
func (b *bench) recovery(ctx context.Context) (time.Duration, error) {
	name, err := b.pg.NewDatabaseName(ctx)
	if err != nil {
		return 0, err
	}
	dbURL := b.pg.TCPURL(name)
	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	a, err := b.startNode(ctx, "a", dbURL)
	if err != nil {
		return 0, err
	}
	id, err := a.submit(`{"kind":"test.sleep","payload":{"seconds":120}}`)
	if err != nil {
		a.stop()
		return 0, err
	}
	for {
		var st string
		if err := db.QueryRow("SELECT status FROM jobs WHERE id = $1", id).Scan(&st); err != nil {
			a.stop()
			return 0, err
		}
		if st == "running" {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	bn, err := b.startNode(ctx, "b", dbURL)
	if err != nil {
		a.stop()
		return 0, err
	}
	defer bn.stop()
	// The job's lease was renewed just now or up to lease/3 ago; killing
	// right after a renewal measures the whole lease.
	var renewed string
	_ = db.QueryRow("SELECT lease_expires_at FROM jobs WHERE id = $1", id).Scan(&renewed)
	for {
		var cur string
		_ = db.QueryRow("SELECT lease_expires_at FROM jobs WHERE id = $1", id).Scan(&cur)
		if cur != renewed {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	killed := time.Now()
	_ = a.cmd.Process.Kill()
	<-a.done
	deadline := time.Now().Add(b.lease*3 + 10*time.Second)
	for {
		var nodeName sql.NullString
		var st string
		if err := db.QueryRow("SELECT status, node FROM jobs WHERE id = $1", id).Scan(&st, &nodeName); err != nil {
			return 0, err
		}
		if st == "running" && nodeName.String == "b" {
			return time.Since(killed), nil
		}
		if time.Now().After(deadline) {
			return 0, errors.New("node b did not take the job over")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
