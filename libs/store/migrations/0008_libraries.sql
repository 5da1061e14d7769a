-- 0008: what watched libraries need: unique pending jobs, the content each
-- policy was last applied to, and the stored pause of the queue.

-- unique_key, when set, names what a queued job does (one file and one
-- policy, say): at most one queued job holds a key, so that events and
-- rescans that find the same file again never queue it twice. Once the job
-- is claimed the key is free again: a change made while it runs queues a
-- new job.
ALTER TABLE jobs ADD COLUMN unique_key TEXT;
CREATE UNIQUE INDEX jobs_unique_queued ON jobs (unique_key)
    WHERE unique_key IS NOT NULL AND status = 'queued';
-- and finds the running job of a key (UniqueJobRunning).
CREATE INDEX jobs_unique_running ON jobs (unique_key)
    WHERE unique_key IS NOT NULL AND status = 'running';

-- applied_files records, per file and policy, the size and modification
-- time the file had right after the policy was last applied to it with
-- success (a plan with nothing to do included). A file whose size and
-- mtime still match is not queued for that policy again.
CREATE TABLE applied_files (
    path       TEXT    NOT NULL,
    policy     TEXT    NOT NULL,
    size       INTEGER NOT NULL,
    mtime      TEXT    NOT NULL,
    applied_at TEXT    NOT NULL,
    PRIMARY KEY (path, policy)
) WITHOUT ROWID;

-- queue_state is one row: whether the queue is paused (claims nothing new)
-- and whether running jobs were left to finish (drain).
CREATE TABLE queue_state (
    id         INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    paused     INTEGER NOT NULL DEFAULT 0 CHECK (paused IN (0, 1)),
    drain      INTEGER NOT NULL DEFAULT 0 CHECK (drain IN (0, 1)),
    changed_at TEXT
);
INSERT INTO queue_state (id) VALUES (1);
