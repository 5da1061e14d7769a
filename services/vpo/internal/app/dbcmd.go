package app

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/alecthomas/kingpin/v2"

	"github.com/vpo-project/vpo/libs/config"
	"github.com/vpo-project/vpo/libs/store"
)

func addDB(app *kingpin.Application, env Env, cmds map[string]commandFunc) {
	db := app.Command("db", "Manage the library database (no daemon needed).")

	migrate := db.Command("migrate", "Bring the configured database (database.url, else the SQLite file at database.path) "+
		"to this binary's schema, and print its version; exit 4 when it cannot, or when its schema is newer than this binary.")
	migrateFlags := addConfigFlags(migrate, false)
	cmds[migrate.FullCommand()] = func(ctx context.Context) error {
		loaded, err := config.Load(migrateFlags.options(env))
		if err != nil {
			return withCode(ExitConfig, err)
		}
		st, err := openStore(ctx, loaded.Config, nil)
		if err != nil {
			return withCode(ExitDatabase, err)
		}
		defer st.Close()
		v, err := st.SchemaVersion(ctx)
		if err != nil {
			return withCode(ExitDatabase, err)
		}
		_, err = fmt.Fprintf(env.Stdout, "database %s: schema version %d (this binary's)\n", databaseName(loaded.Config), v)
		return err
	}

	cp := db.Command("copy", "Copy the SQLite database at database.path (jobs, files, plans, history, logs, events, the pause and the processing window) "+
		"into the PostgreSQL database of --to (default: database.url), keeping every id, in one transaction; "+
		"rows already copied are skipped, so it can run again; it ends by comparing the row counts of every table. "+
		"Stop the daemon first. Put the URL in VPO_DATABASE_URL rather than on the command line when it holds a password.")
	cpFlags := addConfigFlags(cp, false)
	to := cp.Flag("to", "PostgreSQL URL (postgres://user@host/db?sslmode=…); default: database.url.").PlaceHolder("URL").String()
	cmds[cp.FullCommand()] = func(ctx context.Context) error {
		loaded, err := config.Load(cpFlags.options(env))
		if err != nil {
			return withCode(ExitConfig, err)
		}
		target := *to
		if target == "" {
			target = loaded.Config.Database.URL
		}
		if target == "" {
			return withCode(ExitUsage, errors.New("db copy: no target: give --to postgres://… or set database.url"))
		}
		if !store.IsPostgresURL(target) {
			return withCode(ExitUsage, fmt.Errorf("db copy: --to %s is not a postgres:// URL", config.RedactPasswords(target)))
		}
		path := loaded.Config.Database.Path
		// Copying from a file that is not there would create an empty
		// database and copy nothing.
		if _, err := os.Stat(path); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				err = fmt.Errorf("no SQLite database at %s (database.path)", path)
			}
			return withCode(ExitDatabase, fmt.Errorf("db copy: %w", err))
		}
		// Read first without writing: an empty file or another program's
		// database is refused rather than given a schema.
		if v, err := store.ReadSchemaVersion(ctx, path); err != nil || v == 0 {
			if err == nil {
				err = errors.New("no schema")
			}
			return withCode(ExitDatabase, fmt.Errorf("db copy: %s is not a vpo database: %w", path, err))
		}
		src, err := store.Open(ctx, path, store.Options{})
		if err != nil {
			return withCode(ExitDatabase, err)
		}
		defer src.Close()
		dst, err := store.OpenPostgres(ctx, target, store.Options{})
		if err != nil {
			return withCode(ExitDatabase, err)
		}
		defer dst.Close()
		counts, err := src.CopyTo(ctx, dst)
		for _, c := range counts {
			fmt.Fprintf(env.Stdout, "%-14s %9d rows in SQLite, %9d in PostgreSQL (%d copied now)\n", c.Table, c.Source, c.Target, c.Copied)
		}
		if err != nil {
			return withCode(ExitDatabase, err)
		}
		_, err = fmt.Fprintf(env.Stdout, "copied %s into %s: every table holds the same number of rows\n", path, store.RedactURL(target))
		return err
	}
}

// openStore opens the configured library database: PostgreSQL when
// database.url is set, else the SQLite file at database.path. warn
// receives what SQLite's open notices but accepts (nil: dropped).
func openStore(ctx context.Context, cfg config.Config, warn func(string)) (*store.Store, error) {
	if cfg.Database.URL != "" {
		return store.OpenPostgres(ctx, cfg.Database.URL, store.Options{})
	}
	return store.Open(ctx, cfg.Database.Path, store.Options{Warn: warn})
}

// databaseName names the configured database for logs and messages: the
// PostgreSQL URL without its password, or the SQLite file.
func databaseName(cfg config.Config) string {
	if cfg.Database.URL != "" {
		return cfg.Database.RedactedURL()
	}
	return cfg.Database.Path
}

// hideSecrets removes the VPO_* variables that may hold secrets (the
// database URL's password, the API token) from this process's environment
// once the configuration has read them, so that the programs it starts do
// not inherit them.
func hideSecrets() {
	for _, k := range []string{"VPO_DATABASE_URL", "VPO_AUTH_TOKEN"} {
		_ = os.Unsetenv(k)
	}
}
