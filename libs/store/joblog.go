package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// Bounds of a job's stored log: AppendJobLogs keeps the newest
// MaxJobLogLines lines of a job and, of those, the newest that fit in
// MaxJobLogBytes; a longer line is cut to MaxJobLogLine bytes.
const (
	MaxJobLogLines = 1000
	MaxJobLogBytes = 256 << 10
	MaxJobLogLine  = 8 << 10
)

// LogLine is one log line of a job.
type LogLine struct {
	JobID string
	Seq   int64 // from 1 in the order the lines were appended; set by AppendJobLogs
	At    time.Time
	Level string // "info", "warning", ...
	Line  string // the message and its fields, as the log shows them
}

// AppendJobLogs appends lines, in order, to the logs of their jobs in one
// transaction, numbering them after each job's last line, and then trims
// each log to its bounds. Lines of a job that does not exist (deleted by
// retention meanwhile) are dropped.
func (s *Store) AppendJobLogs(ctx context.Context, lines []LogLine) error {
	if len(lines) == 0 {
		return nil
	}
	err := s.inWriteTx(ctx, func(tx *wtx) error {
		next := make(map[string]int64) // job → seq of its next line; 0: no such job
		for _, l := range lines {
			seq, seen := next[l.JobID]
			if !seen {
				var last sql.NullInt64
				err := tx.QueryRowContext(ctx, `SELECT (SELECT max(seq) FROM job_logs WHERE job_id = ?1) AS newest
					FROM jobs WHERE id = ?1`, l.JobID).Scan(&last)
				switch {
				case errors.Is(err, sql.ErrNoRows):
					seq = 0
				case err != nil:
					return err
				default:
					seq = last.Int64 + 1
				}
				next[l.JobID] = seq
			}
			if seq == 0 {
				continue
			}
			line := cutLine(l.Line)
			if _, err := tx.ExecContext(ctx, `INSERT INTO job_logs (job_id, seq, at, level, line, bytes)
				VALUES (?, ?, ?, ?, ?, ?)`, l.JobID, seq, formatTime(l.At), l.Level, line, len(line)); err != nil {
				return err
			}
			next[l.JobID] = seq + 1
		}
		for job, seq := range next {
			if seq == 0 {
				continue
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM job_logs WHERE job_id = ? AND seq < ?`,
				job, seq-MaxJobLogLines); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM job_logs WHERE job_id = ?1 AND seq < (
				SELECT min(seq) FROM (SELECT seq, sum(bytes) OVER (ORDER BY seq DESC) AS total
				                        FROM job_logs WHERE job_id = ?1) AS newest
				 WHERE total <= ?2)`, job, MaxJobLogBytes); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("append %d job log lines: %w", len(lines), err)
	}
	return nil
}

// cutLine shortens line to at most MaxJobLogLine bytes, on a character
// boundary, marking the cut.
func cutLine(line string) string {
	if len(line) <= MaxJobLogLine {
		return line
	}
	const mark = " …(cut)"
	cut := MaxJobLogLine - len(mark)
	for cut > 0 && !utf8.RuneStart(line[cut]) {
		cut--
	}
	return line[:cut] + mark
}

// JobLog returns up to limit lines of job id's log with a seq greater than
// after, oldest first. A job without lines has an empty log; a job that
// does not exist is ErrNotFound.
func (s *Store) JobLog(ctx context.Context, id string, after int64, limit int) ([]LogLine, error) {
	if limit <= 0 || limit > MaxJobLogLines {
		return nil, fmt.Errorf("read log of job %s: limit %d not in 1..%d: %w", id, limit, MaxJobLogLines, ErrInvalid)
	}
	var exists bool
	if err := s.rdb.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM jobs WHERE id = ?)`, id).Scan(&exists); err != nil {
		return nil, fmt.Errorf("read log of job %s: %w", id, err)
	}
	if !exists {
		return nil, fmt.Errorf("job %s: %w", id, ErrNotFound)
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT seq, at, level, line FROM job_logs
		WHERE job_id = ? AND seq > ? ORDER BY seq LIMIT ?`, id, after, limit)
	if err != nil {
		return nil, fmt.Errorf("read log of job %s: %w", id, err)
	}
	defer rows.Close()
	var out []LogLine
	for rows.Next() {
		l := LogLine{JobID: id}
		var at string
		if err := rows.Scan(&l.Seq, &at, &l.Level, &l.Line); err != nil {
			return nil, fmt.Errorf("read log of job %s: %w", id, err)
		}
		if l.At, err = parseStoredTime(at); err != nil {
			return nil, fmt.Errorf("read log of job %s: %w", id, err)
		}
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read log of job %s: %w", id, err)
	}
	return out, nil
}
