package pgtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
)

// ErrNoPostgres is returned by Start when no PostgreSQL server binaries
// are installed (Debian: apt-get install postgresql).
var ErrNoPostgres = errors.New("no PostgreSQL server installed (/usr/lib/postgresql/*/bin/initdb)")

// Superuser is the cluster's superuser; connections need no password
// (trust authentication over the cluster's private socket).
const Superuser = "postgres"

// Cluster is a running throwaway PostgreSQL cluster.
type Cluster struct {
	bin     string // directory of initdb, pg_ctl, postgres
	dir     string // holds data/, the socket and the log
	cred    *syscall.Credential
	version string
	opts    Options
	dbs     atomic.Int64
}

// Binaries returns the directory of the newest installed PostgreSQL's
// server programs.
func Binaries() (string, error) {
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(matches) == 0 {
		return "", ErrNoPostgres
	}
	slices.SortFunc(matches, func(a, b string) int { return majorOf(a) - majorOf(b) })
	return filepath.Dir(matches[len(matches)-1]), nil
}

func majorOf(initdb string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(initdb))))
	return n
}

// Start creates and starts a cluster in a new directory under base ("":
// the system's temporary directory). PostgreSQL refuses to run as root:
// under root the cluster runs as the user nobody, and its directory is
// made theirs.
func Start(ctx context.Context, base string) (*Cluster, error) {
	return StartWith(ctx, base, Options{})
}

// Options are the settings of StartWith.
type Options struct {
	// Listen, when set, is an IP address the server also accepts TCP
	// connections on (besides its socket), at Port.
	Listen string
	Port   int
	// Trust are networks (CIDR) whose TCP connections are trusted
	// without a password.
	Trust []string
	// Durable keeps PostgreSQL's default durability (fsync, synchronous
	// commits, full page writes), for benchmarks; tests turn it off.
	Durable bool
}

// StartWith is Start with TCP settings.
func StartWith(ctx context.Context, base string, o Options) (*Cluster, error) {
	bin, err := Binaries()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(base, "vpo-pg-")
	if err != nil {
		return nil, fmt.Errorf("postgres cluster directory: %w", err)
	}
	c := &Cluster{bin: bin, dir: dir, version: filepath.Base(filepath.Dir(bin)), opts: o}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("nobody")
		if err != nil {
			return nil, fmt.Errorf("postgres cannot run as root and there is no user nobody: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		// The user must reach the directory through its parents (test
		// temporary directories are often 0700).
		for d := filepath.Dir(dir); d != "/" && d != "."; d = filepath.Dir(d) {
			if fi, err := os.Stat(d); err == nil && fi.Mode().Perm()&0o001 == 0 {
				if err := os.Chmod(d, fi.Mode().Perm()|0o001); err != nil {
					return nil, fmt.Errorf("postgres cluster directory %s: %w", d, err)
				}
			}
		}
		if err := os.Chown(dir, uid, gid); err != nil {
			return nil, fmt.Errorf("postgres cluster directory: %w", err)
		}
	}
	data := filepath.Join(dir, "data")
	if out, err := c.run(ctx, "initdb", "-D", data, "-U", Superuser, "--auth=trust", "--encoding=UTF8",
		"--locale=C", "--no-sync"); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %w\n%s", err, out)
	}
	if len(o.Trust) > 0 {
		f, err := os.OpenFile(filepath.Join(data, "pg_hba.conf"), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			_ = os.RemoveAll(dir)
			return nil, fmt.Errorf("pg_hba.conf: %w", err)
		}
		for _, n := range o.Trust {
			fmt.Fprintf(f, "host all all %s trust\n", n)
		}
		if err := f.Close(); err != nil {
			_ = os.RemoveAll(dir)
			return nil, fmt.Errorf("pg_hba.conf: %w", err)
		}
	}
	if err := c.Resume(ctx); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	return c, nil
}

// Resume starts the server of a cluster that Halt stopped.
func (c *Cluster) Resume(ctx context.Context) error {
	opts := fmt.Sprintf("-c listen_addresses='%s' -c port=%d -c unix_socket_directories='%s' -c max_connections=200",
		c.opts.Listen, c.port(), c.dir)
	if !c.opts.Durable {
		opts += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
	}
	data := filepath.Join(c.dir, "data")
	if out, err := c.run(ctx, "pg_ctl", "start", "-w", "-t", "60", "-D", data, "-l", filepath.Join(c.dir, "log"), "-o", opts); err != nil {
		log, _ := os.ReadFile(filepath.Join(c.dir, "log"))
		return fmt.Errorf("pg_ctl start: %w\n%s\n%s", err, out, log)
	}
	return nil
}

// Halt stops the server (fast shutdown: sessions are ended, committed
// data kept), as an outage or a restart of the database would.
func (c *Cluster) Halt(ctx context.Context) error {
	if out, err := c.run(ctx, "pg_ctl", "stop", "-m", "fast", "-w", "-D", filepath.Join(c.dir, "data")); err != nil {
		return fmt.Errorf("pg_ctl stop: %w\n%s", err, out)
	}
	return nil
}

// port is the server's port (PostgreSQL's default unless Options.Port).
func (c *Cluster) port() int {
	if c.opts.Port != 0 {
		return c.opts.Port
	}
	return 5432
}

// TCPURL is the URL of database name over TCP (Options.Listen).
func (c *Cluster) TCPURL(name string) string {
	return fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable", Superuser, c.opts.Listen, c.opts.Port, name)
}

func (c *Cluster) run(ctx context.Context, prog string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(c.bin, prog), args...)
	cmd.Dir = c.dir
	cmd.Env = []string{"PATH=/usr/bin:/bin", "LANG=C", "TZ=UTC"}
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	}
	return cmd.CombinedOutput()
}

// Version is the PostgreSQL major version of the cluster ("15").
func (c *Cluster) Version() string { return c.version }

// URL is the connection URL of database name on the cluster (libpq form:
// the socket directory as host).
func (c *Cluster) URL(name string) string {
	return fmt.Sprintf("postgres://%s@/%s?host=%s&port=%d&sslmode=disable", Superuser, name, c.dir, c.port())
}

// NewDatabase creates a fresh, empty database and returns its URL.
func (c *Cluster) NewDatabase(ctx context.Context) (string, error) {
	name, err := c.NewDatabaseName(ctx)
	if err != nil {
		return "", err
	}
	return c.URL(name), nil
}

// NewDatabaseName creates a fresh, empty database and returns its name.
func (c *Cluster) NewDatabaseName(ctx context.Context) (string, error) {
	name := fmt.Sprintf("vpo_test_%d", c.dbs.Add(1))
	if out, err := c.run(ctx, "createdb", "-h", c.dir, "-p", strconv.Itoa(c.port()), "-U", Superuser, name); err != nil {
		return "", fmt.Errorf("createdb %s: %w\n%s", name, err, out)
	}
	return name, nil
}

// Stop stops the cluster at once and removes its directory.
func (c *Cluster) Stop() error {
	_, err := c.run(context.Background(), "pg_ctl", "stop", "-m", "immediate", "-w", "-D", filepath.Join(c.dir, "data"))
	if rmErr := os.RemoveAll(c.dir); err == nil {
		err = rmErr
	}
	return err
}
