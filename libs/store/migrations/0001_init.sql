-- 0001: job queue and scanned files.

-- Jobs are identified by id (a UUIDv7, unique and immutable). seq is the
-- submission order, used for FIFO within a priority and for paging; it is the
-- table's rowid alias, so it costs no extra index and VACUUM keeps it.
CREATE TABLE jobs (
    seq              INTEGER PRIMARY KEY,
    id               TEXT    NOT NULL UNIQUE,
    kind             TEXT    NOT NULL CHECK (kind <> ''),
    payload          TEXT    NOT NULL DEFAULT '{}',
    status           TEXT    NOT NULL DEFAULT 'queued'
                     CHECK (status IN ('queued', 'running', 'completed', 'failed', 'cancelled')),
    priority         INTEGER NOT NULL DEFAULT 0 CHECK (priority BETWEEN 0 AND 1000),
    attempts         INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts     INTEGER NOT NULL DEFAULT 3 CHECK (max_attempts >= 1),
    created_at       TEXT    NOT NULL,
    started_at       TEXT,
    finished_at      TEXT,
    lease_owner      TEXT,
    lease_expires_at TEXT,
    progress_percent REAL    NOT NULL DEFAULT 0,
    progress_message TEXT    NOT NULL DEFAULT '',
    error            TEXT,
    result           TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0 CHECK (cancel_requested IN (0, 1))
);

CREATE INDEX jobs_status_priority_seq ON jobs (status, priority, seq);

CREATE TABLE files (
    path             TEXT    NOT NULL PRIMARY KEY,
    size             INTEGER NOT NULL DEFAULT 0,
    mtime            TEXT,
    container        TEXT    NOT NULL DEFAULT '',
    last_scanned_at  TEXT,
    missing          INTEGER NOT NULL DEFAULT 0 CHECK (missing IN (0, 1)),
    probe            TEXT,
    codec            TEXT    NOT NULL DEFAULT '',
    duration_seconds REAL    NOT NULL DEFAULT 0,
    tracks           INTEGER NOT NULL DEFAULT 0
);
