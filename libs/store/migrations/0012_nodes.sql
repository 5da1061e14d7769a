-- 0012: nodes (the vpo daemons sharing this database), the node each job
-- last ran on, and the worker tags a job requires.

-- A node writes its row at start and every few seconds (heartbeat_at);
-- stopped_at is set when it shuts down cleanly. owner is the lease owner
-- name of its worker pool (the jobs it runs carry it), tags the worker
-- tags it offers (a JSON array).
CREATE TABLE nodes (
    name         TEXT    NOT NULL PRIMARY KEY,
    owner        TEXT    NOT NULL,
    version      TEXT    NOT NULL DEFAULT '',
    address      TEXT    NOT NULL DEFAULT '',
    started_at   TEXT    NOT NULL,
    heartbeat_at TEXT    NOT NULL,
    stopped_at   TEXT,
    workers      INTEGER NOT NULL DEFAULT 0,
    tags         TEXT    NOT NULL DEFAULT '[]'
) WITHOUT ROWID;

-- node: the node whose worker claimed the job last (NULL: never claimed).
-- requires: worker tags a node must offer to claim the job (a JSON array
-- of names; '[]': any node).
ALTER TABLE jobs ADD COLUMN node TEXT;
ALTER TABLE jobs ADD COLUMN requires TEXT NOT NULL DEFAULT '[]';
