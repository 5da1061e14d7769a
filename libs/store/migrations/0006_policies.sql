-- 0006: policy application: child jobs, plans, change history, file ids.

-- A directory apply job hands its files to child jobs (parent_id) and waits
-- for them without holding a worker: it stays 'running' with no lease
-- (awaiting_children = 1), so lease recovery never touches it, and the
-- triggers below finish it in the same transaction in which its last
-- child reaches a terminal status. run_after delays a queued job: it is
-- not claimed before that time (a file still being written is tried again
-- later).
ALTER TABLE jobs ADD COLUMN parent_id TEXT;
ALTER TABLE jobs ADD COLUMN awaiting_children INTEGER NOT NULL DEFAULT 0 CHECK (awaiting_children IN (0, 1));
ALTER TABLE jobs ADD COLUMN run_after TEXT;

CREATE INDEX jobs_parent_seq ON jobs (parent_id, seq) WHERE parent_id IS NOT NULL;

ALTER TABLE jobs ADD COLUMN children_pending INTEGER NOT NULL DEFAULT 0 CHECK (children_pending >= 0);

-- children_pending counts the children of a waiting parent that are not
-- terminal yet: set by AwaitChildren, one less as each child reaches a
-- terminal status, one more when one is retried. When it reaches zero the
-- parent finishes: cancelled when its cancellation was requested, failed
-- when a child set the parent's error (FailFamily, for on_error: fail),
-- completed otherwise. Its result counts its children by the "outcome" of
-- their results; a child that failed or was cancelled counts as failed. A
-- parent may have done part of its work itself (a directory dry run plans
-- the files whose stored probe is still good and hands only the others to
-- children): AwaitChildren then stores its own counts (the same keys) in
-- its result, and they are added to its children's.
-- Each child's end costs one primary-key update; only the last one reads
-- the siblings.
CREATE TRIGGER jobs_child_finished AFTER UPDATE OF status ON jobs
    WHEN NEW.parent_id IS NOT NULL
     AND NEW.status IN ('completed', 'failed', 'cancelled')
     AND OLD.status NOT IN ('completed', 'failed', 'cancelled')
BEGIN
    UPDATE jobs SET children_pending = children_pending - 1,
        progress_message = 'child jobs left: ' || (children_pending - 1)
    WHERE id = NEW.parent_id AND awaiting_children = 1 AND children_pending > 0;
    UPDATE jobs SET
        status = CASE WHEN cancel_requested = 1 THEN 'cancelled'
                      WHEN error IS NOT NULL THEN 'failed' ELSE 'completed' END,
        finished_at = NEW.finished_at,
        awaiting_children = 0,
        progress_percent = 100,
        progress_message = 'all child jobs finished',
        result = (SELECT json_object(
                'files', count(*) + coalesce(json_extract(jobs.result, '$.files'), 0),
                'unchanged', coalesce(sum(o = 'unchanged'), 0) + coalesce(json_extract(jobs.result, '$.unchanged'), 0),
                'applied', coalesce(sum(o = 'applied'), 0) + coalesce(json_extract(jobs.result, '$.applied'), 0),
                'planned', coalesce(sum(o = 'planned'), 0) + coalesce(json_extract(jobs.result, '$.planned'), 0),
                'pending_approval', coalesce(sum(o = 'pending_approval'), 0)
                    + coalesce(json_extract(jobs.result, '$.pending_approval'), 0),
                'skipped', coalesce(sum(o = 'skipped'), 0) + coalesce(json_extract(jobs.result, '$.skipped'), 0),
                'failed', coalesce(sum(o = 'failed'), 0) + coalesce(json_extract(jobs.result, '$.failed'), 0))
            FROM (SELECT CASE WHEN c.status = 'completed'
                              THEN coalesce(json_extract(c.result, '$.outcome'), '') ELSE 'failed' END AS o
                  FROM jobs AS c WHERE c.parent_id = NEW.parent_id))
    WHERE id = NEW.parent_id AND awaiting_children = 1 AND children_pending = 0;
END;

-- A failed or cancelled child retried while its parent still waits is
-- waited for again.
CREATE TRIGGER jobs_child_reopened AFTER UPDATE OF status ON jobs
    WHEN NEW.parent_id IS NOT NULL
     AND OLD.status IN ('completed', 'failed', 'cancelled')
     AND NEW.status NOT IN ('completed', 'failed', 'cancelled')
BEGIN
    UPDATE jobs SET children_pending = children_pending + 1,
        progress_message = 'child jobs left: ' || (children_pending + 1)
    WHERE id = NEW.parent_id AND awaiting_children = 1;
END;

-- Cancelling a parent cancels its children: queued ones at once, running
-- ones get cancel_requested (their workers stop them).
CREATE TRIGGER jobs_parent_cancelled AFTER UPDATE OF cancel_requested ON jobs
    WHEN NEW.cancel_requested = 1 AND OLD.cancel_requested = 0
BEGIN
    UPDATE jobs SET
        status = CASE WHEN status = 'queued' THEN 'cancelled' ELSE status END,
        finished_at = CASE WHEN status = 'queued'
                           THEN strftime('%Y-%m-%dT%H:%M:%f', 'now') || '000000Z' ELSE finished_at END,
        cancel_requested = 1
    WHERE parent_id = NEW.id AND status IN ('queued', 'running');
END;

-- Files get a stable integer id (the path stays the key): rowids of a
-- table without an INTEGER PRIMARY KEY may change on VACUUM, this column
-- does not. Files are never deleted (only marked missing), so max + 1 never
-- gives an id out twice.
ALTER TABLE files ADD COLUMN id INTEGER;
UPDATE files SET id = rowid;
CREATE UNIQUE INDEX files_id ON files (id);

CREATE TRIGGER files_assign_id AFTER INSERT ON files WHEN NEW.id IS NULL
BEGIN
    UPDATE files SET id = (SELECT coalesce(max(id), 0) + 1 FROM files) WHERE path = NEW.path;
END;

-- A plan is what a policy would do to one file, kept for dry runs,
-- approval and the record of applies. file_size and file_mtime are the
-- file the plan was made from: an approved plan is never applied to a
-- file that changed since.
CREATE TABLE plans (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id       TEXT    NOT NULL,
    policy       TEXT    NOT NULL,
    path         TEXT    NOT NULL,
    status       TEXT    NOT NULL
                 CHECK (status IN ('planned', 'pending', 'approved', 'rejected', 'applied', 'failed', 'superseded')),
    dry_run      INTEGER NOT NULL DEFAULT 0 CHECK (dry_run IN (0, 1)),
    created_at   TEXT    NOT NULL,
    updated_at   TEXT    NOT NULL,
    plan         TEXT    NOT NULL,
    file_size    INTEGER NOT NULL DEFAULT 0,
    file_mtime   TEXT    NOT NULL DEFAULT '',
    error        TEXT    NOT NULL DEFAULT '',
    apply_job_id TEXT    NOT NULL DEFAULT ''
);

CREATE INDEX plans_status_id ON plans (status, id);
CREATE INDEX plans_path_id ON plans (path, id);
CREATE INDEX plans_policy_id ON plans (policy, id);
CREATE INDEX plans_job_id ON plans (job_id, id);

-- One row per plan applied to a file, under the file's stable id.
CREATE TABLE file_history (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    file_id       INTEGER NOT NULL,
    path          TEXT    NOT NULL,
    policy        TEXT    NOT NULL,
    applied_at    TEXT    NOT NULL,
    job_id        TEXT    NOT NULL,
    executor      TEXT    NOT NULL,
    plan          TEXT    NOT NULL,
    tracks_before TEXT    NOT NULL DEFAULT '[]',
    tracks_after  TEXT    NOT NULL DEFAULT '[]'
);

CREATE INDEX file_history_file_id ON file_history (file_id, id);
