package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// DirDigest is what a scan recorded of one directory: the digest of the
// video files directly in it as its walk saw them (see the scan package),
// the number of file rows recorded in it then (missing ones included),
// how many of them were not missing (Live), and whether each of those was
// probed with success. Any later write to a file row in the directory
// drops its digest (a trigger), so a digest read back still describes the
// rows as they are.
type DirDigest struct {
	Digest []byte
	Rows   int
	Live   int
	Probed bool
}

// DirDigests returns the digests recorded for root and the directories
// under it, keyed by directory path (no trailing "/"), and the number of
// file rows under root (missing ones included), both read in one read
// transaction. When the Rows of the digests add up to that number, every
// row under root lies in a directory with a digest.
func (s *Store) DirDigests(ctx context.Context, root string) (map[string]DirDigest, int, error) {
	lo, hi, err := underRoot(root)
	if err != nil {
		return nil, 0, fmt.Errorf("directory digests: %w", err)
	}
	out := map[string]DirDigest{}
	var rows int
	err = func() error {
		tx, err := s.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
		if err != nil {
			return err
		}
		defer func() { _ = tx.Rollback() }()
		// lo is root + "/": the root's own key is in the range.
		q, err := tx.QueryContext(ctx, `SELECT dir, digest, rows, live, probed FROM scan_dirs WHERE dir >= ? AND dir < ?`, lo, hi)
		if err != nil {
			return err
		}
		defer q.Close()
		for q.Next() {
			var (
				dir    string
				d      DirDigest
				probed int
			)
			if err := q.Scan(&dir, &d.Digest, &d.Rows, &d.Live, &probed); err != nil {
				return err
			}
			d.Probed = probed != 0
			out[strings.TrimSuffix(dir, "/")] = d
		}
		if err := q.Err(); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `SELECT count(*) FROM files WHERE path >= ? AND path < ?`, lo, hi).Scan(&rows)
	}()
	if err != nil {
		return nil, 0, fmt.Errorf("directory digests under %q: %w", root, err)
	}
	return out, rows, nil
}

// PutDirDigests records the digests of dirs (keyed by directory path, no
// trailing "/"), replacing those recorded, in one transaction; a DirDigest
// without Digest drops the directory's.
func (s *Store) PutDirDigests(ctx context.Context, dirs map[string]DirDigest) error {
	if len(dirs) == 0 {
		return nil
	}
	for dir, d := range dirs {
		if dir == "" || d.Rows < 0 || d.Live < 0 || d.Live > d.Rows {
			return fmt.Errorf("directory digest of %q: empty path, or counts %d/%d: %w", dir, d.Live, d.Rows, ErrInvalid)
		}
	}
	err := s.inWriteTx(ctx, func(tx *wtx) error {
		// Each statement prepared once: a first scan records a thousand
		// directories in this transaction, and preparing a statement costs
		// more than running it.
		put, err := tx.PrepareContext(ctx, `INSERT INTO scan_dirs (dir, digest, rows, live, probed) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (dir) DO UPDATE SET digest = excluded.digest, rows = excluded.rows,
				live = excluded.live, probed = excluded.probed`)
		if err != nil {
			return err
		}
		defer put.Close()
		drop, err := tx.PrepareContext(ctx, dropDirDigestSQL)
		if err != nil {
			return err
		}
		defer drop.Close()
		for dir, d := range dirs {
			key := strings.TrimRight(dir, "/") + "/"
			if d.Digest == nil {
				_, err = drop.ExecContext(ctx, key)
			} else {
				_, err = put.ExecContext(ctx, key, d.Digest, d.Rows, d.Live, boolInt(d.Probed))
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("record %d directory digests: %w", len(dirs), err)
	}
	return nil
}
