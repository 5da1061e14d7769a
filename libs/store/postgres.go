package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// pgFirstVersion is the schema version PostgreSQL support starts at: the
// first file of pgmigrations creates that version's whole schema.
const pgFirstVersion = 11

// pgMinServer is the oldest PostgreSQL server the schema works on (SQL
// function bodies need 14).
const pgMinServer = 140000

// Defaults of the PostgreSQL connections, each used unless the URL sets it.
const (
	// pgIdleInTxTimeout ends the session of a node that stopped in the
	// middle of a transaction (frozen, or cut off), so that the write lock
	// it holds does not stop every other node for longer.
	pgIdleInTxTimeout = "10s"
	pgConnectTimeout  = 10 * time.Second
	pgMaxConns        = 16
)

// IsPostgresURL tells whether s names a PostgreSQL database (a URL with
// the scheme postgres or postgresql) rather than a file.
func IsPostgresURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// RedactURL returns the database URL u with its password replaced by
// "xxxxx" (in the user information and in a password query parameter),
// fit for logs, errors and status pages. A value it cannot parse is
// reduced to its scheme.
func RedactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		if i := strings.Index(u, "://"); i >= 0 {
			return u[:i+3] + "…"
		}
		return "…"
	}
	if _, ok := p.User.Password(); ok {
		p.User = url.UserPassword(p.User.Username(), "xxxxx")
	}
	q := p.Query()
	for k := range q {
		if strings.EqualFold(k, "password") || strings.EqualFold(k, "sslpassword") {
			q.Set(k, "xxxxx")
			p.RawQuery = q.Encode()
		}
	}
	return p.String()
}

// passwordInError matches what a driver error could repeat of a
// connection string's password.
var passwordInError = regexp.MustCompile(`(?i)(password=)\S+`)

// OpenPostgres opens the PostgreSQL database at dbURL (postgres://…, with
// libpq's settings: host, port, sslmode, sslrootcert, …) and brings its
// schema up to date, as Open does for SQLite: a schema newer than this
// binary knows is refused with ErrSchemaTooNew and left untouched. Errors
// and Path name the URL without its password.
func OpenPostgres(ctx context.Context, dbURL string, opts Options) (*Store, error) {
	shown := RedactURL(dbURL)
	s, err := openPostgres(ctx, dbURL, shown)
	if err != nil {
		msg := passwordInError.ReplaceAllString(err.Error(), "${1}xxxxx")
		if msg != err.Error() {
			err = fmt.Errorf("%s (%w)", msg, errorKind(err))
		}
		return nil, fmt.Errorf("open database %s: %w", shown, err)
	}
	return s, nil
}

// errorKind keeps the sentinel an error wraps when its text is rewritten.
func errorKind(err error) error {
	for _, k := range []error{ErrSchemaTooNew, ErrInvalid} {
		if errors.Is(err, k) {
			return k
		}
	}
	return errors.New("connection failed")
}

func openPostgres(ctx context.Context, dbURL, shown string) (*Store, error) {
	if !IsPostgresURL(dbURL) {
		return nil, fmt.Errorf("not a postgres:// URL: %w", ErrInvalid)
	}
	cfg, err := pgx.ParseConfig(dbURL)
	if err != nil {
		return nil, fmt.Errorf("parse URL: %w", errors.Join(ErrInvalid, unwrapParse(err)))
	}
	if _, ok := cfg.RuntimeParams["application_name"]; !ok {
		cfg.RuntimeParams["application_name"] = "vpo"
	}
	if _, ok := cfg.RuntimeParams["idle_in_transaction_session_timeout"]; !ok {
		cfg.RuntimeParams["idle_in_transaction_session_timeout"] = pgIdleInTxTimeout
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = pgConnectTimeout
	}
	db := stdlib.OpenDB(*cfg)
	queries := &pgQueries{}
	s := &Store{path: shown, pg: true, pgConfig: cfg,
		wdb: dbHandle{db: db, pg: true, writer: true, queries: queries}, rdb: dbHandle{db: db, pg: true, queries: queries}}
	db.SetMaxOpenConns(pgMaxConns)
	db.SetMaxIdleConns(4)
	db.SetConnMaxIdleTime(time.Minute)
	if err := s.verifyPostgres(ctx); err != nil {
		_ = db.Close()
		return nil, err
	}
	if err := s.migratePostgres(ctx); err != nil {
		_ = db.Close()
		return nil, err
	}
	if err := s.stmts.prepare(ctx, s.wdb); err != nil {
		_ = s.stmts.close()
		_ = db.Close()
		return nil, err
	}
	return s, nil
}

// unwrapParse drops pgx's parse error wrapper, whose text repeats the
// connection string (password included).
func unwrapParse(err error) error {
	var pe *pgconn.ParseConfigError
	if errors.As(err, &pe) && pe.Unwrap() != nil {
		return pe.Unwrap()
	}
	if errors.As(err, &pe) {
		return errors.New(pe.Error()[strings.LastIndex(pe.Error(), ":")+1:])
	}
	return err
}

// verifyPostgres checks that the server answers and is recent enough.
func (s *Store) verifyPostgres(ctx context.Context) error {
	var v int
	if err := s.rdb.db.QueryRowContext(ctx, "SELECT current_setting('server_version_num')::int").Scan(&v); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	if v < pgMinServer {
		return fmt.Errorf("PostgreSQL server version %d.%d is too old: vpo needs 14 or newer: %w", v/10000, v%10000, ErrInvalid)
	}
	return nil
}

// migratePostgres applies the pending PostgreSQL migrations in one
// transaction that holds the write lock (so that nodes starting together
// apply each one once, and a failed one leaves nothing behind).
func (s *Store) migratePostgres(ctx context.Context) error {
	ms, err := loadMigrationsIn("pgmigrations", pgFirstVersion)
	if err != nil {
		return err
	}
	latest := ms[len(ms)-1].version
	return s.wdb.inTx(ctx, func(tx *wtx) error {
		// Only a database without it needs the right to create tables: a
		// role that may only read and write the tables can run vpo on a
		// database migrated by its owner (vpo db migrate).
		var exists bool
		if err := tx.Tx.QueryRowContext(ctx, "SELECT to_regclass('schema_migrations') IS NOT NULL").Scan(&exists); err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		if !exists {
			if _, err := tx.Tx.ExecContext(ctx, `CREATE TABLE schema_migrations (
				version    integer NOT NULL PRIMARY KEY,
				applied_at text    NOT NULL
			)`); err != nil {
				return fmt.Errorf("create schema_migrations (the role needs the right to create tables in the database's schema, or run vpo db migrate as its owner first): %w", err)
			}
		}
		var cur sql.NullInt64
		if err := tx.Tx.QueryRowContext(ctx, "SELECT max(version) FROM schema_migrations").Scan(&cur); err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		v := int(cur.Int64)
		if v > latest {
			return fmt.Errorf("schema version %d, this binary knows up to %d: %w", v, latest, ErrSchemaTooNew)
		}
		for _, m := range ms {
			if m.version <= v {
				continue
			}
			if _, err := tx.Tx.ExecContext(ctx, m.sql); err != nil {
				return fmt.Errorf("apply migration %s: %w", m.name, err)
			}
			if _, err := tx.Tx.ExecContext(ctx, "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
				m.version, formatTime(time.Now())); err != nil {
				return fmt.Errorf("record migration %s: %w", m.name, err)
			}
		}
		return nil
	})
}

// eventsChannel is the channel the events table notifies on commit.
const eventsChannel = "vpo_events"

// ListenEvents calls wake each time a transaction that added events
// commits, on any node (PostgreSQL's LISTEN on a connection of its own),
// and once after every (re)connection, since what was committed while it
// was not listening is not told; it reconnects after a lost connection,
// waiting retry in between, until ctx ends. On SQLite there is nothing to
// listen to: it returns nil at once (readers poll).
func (s *Store) ListenEvents(ctx context.Context, retry time.Duration, wake func()) error {
	if !s.pg {
		return nil
	}
	for ctx.Err() == nil {
		err := s.listen(ctx, wake)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil && s.listenErr != nil {
			s.listenErr(err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(retry):
		}
	}
	return nil
}

func (s *Store) listen(ctx context.Context, wake func()) error {
	conn, err := pgx.ConnectConfig(ctx, s.pgConfig)
	if err != nil {
		return fmt.Errorf("listen for events: %w", err)
	}
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()
	if _, err := conn.Exec(ctx, "LISTEN "+eventsChannel); err != nil {
		return fmt.Errorf("listen for events: %w", err)
	}
	wake()
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return fmt.Errorf("listen for events: %w", err)
		}
		wake()
	}
}

// OnListenError makes ListenEvents tell f of each failed connection.
func (s *Store) OnListenError(f func(error)) { s.listenErr = f }

// closeWait bounds how long Close waits, on PostgreSQL, for queries still
// waiting for a server that stopped answering: shutdown must end.
const closeWait = 5 * time.Second

// closePostgres closes the pool, giving up after closeWait.
func (s *Store) closePostgres(errs []error) error {
	done := make(chan error, 1)
	go func() { done <- s.wdb.db.Close() }()
	select {
	case err := <-done:
		errs = append(errs, err)
	case <-time.After(closeWait):
		errs = append(errs, fmt.Errorf("queries still wait for the server after %s: given up", closeWait))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close database %s: %w", s.path, err)
	}
	return nil
}

// Postgres tells whether the store is on PostgreSQL.
func (s *Store) Postgres() bool { return s.pg }

// PostgresInfo is what InspectPostgres reads.
type PostgresInfo struct {
	ServerVersion string
	// SchemaVersion is the highest migration applied (0: none).
	SchemaVersion int
	// ServerTime is the server's clock when it answered, for comparing
	// with this machine's: leases written by one node are checked against
	// the clocks of the others.
	ServerTime time.Time
}

// InspectPostgres connects to the PostgreSQL database at dbURL and reads
// its server version, schema version and clock, changing nothing (no
// migration). Errors do not name the database (the caller does) and never
// hold its password.
func InspectPostgres(ctx context.Context, dbURL string) (PostgresInfo, error) {
	cfg, err := pgx.ParseConfig(dbURL)
	if err != nil {
		return PostgresInfo{}, fmt.Errorf("parse URL: %w", unwrapParse(err))
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = pgConnectTimeout
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return PostgresInfo{}, errors.New(passwordInError.ReplaceAllString(err.Error(), "${1}xxxxx"))
	}
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()
	var info PostgresInfo
	if err := conn.QueryRow(ctx, "SELECT current_setting('server_version'), now()").Scan(&info.ServerVersion, &info.ServerTime); err != nil {
		return info, err
	}
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT to_regclass('schema_migrations') IS NOT NULL").Scan(&exists); err != nil {
		return info, err
	}
	if exists {
		var v *int
		if err := conn.QueryRow(ctx, "SELECT max(version) FROM schema_migrations").Scan(&v); err != nil {
			return info, fmt.Errorf("read schema version: %w", err)
		}
		if v != nil {
			info.SchemaVersion = *v
		}
	}
	return info, nil
}
