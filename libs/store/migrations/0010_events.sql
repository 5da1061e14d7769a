-- 0010: the change feed (events) and the log lines of each job.

-- events is an append-only feed of what changed, written by the triggers
-- below in the same transaction as the change itself: whatever process
-- made the change (the daemon, a CLI, another node), the feed has it, in
-- commit order, and a reader resumes from the last id it saw (SSE's
-- Last-Event-ID). Ids are never reused: pruning (PruneEvents) always keeps
-- the newest event, so the next id stays above every id given (no
-- AUTOINCREMENT, whose sqlite_sequence write costs every insert). data is
-- a JSON object that names its object.
CREATE TABLE events (
    id     INTEGER PRIMARY KEY,
    at     TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    type   TEXT    NOT NULL CHECK (type <> ''),
    job_id TEXT,
    data   TEXT    NOT NULL DEFAULT '{}'
);

CREATE TRIGGER events_job_created AFTER INSERT ON jobs
BEGIN
    INSERT INTO events (type, job_id, data) VALUES ('job.created', NEW.id,
        json_object('id', NEW.id, 'kind', NEW.kind, 'status', NEW.status,
                    'priority', NEW.priority, 'parent_id', NEW.parent_id,
                    'path', json_extract(NEW.payload, '$.path')));
END;

-- A status change: started (claimed), queued again (retry, requeue,
-- recovery) or finished (completed, failed, cancelled).
CREATE TRIGGER events_job_status AFTER UPDATE OF status ON jobs
    WHEN OLD.status IS NOT NEW.status
BEGIN
    INSERT INTO events (type, job_id, data) VALUES (
        CASE NEW.status WHEN 'running' THEN 'job.started'
                        WHEN 'queued'  THEN 'job.queued'
                        ELSE 'job.finished' END,
        NEW.id,
        json_object('id', NEW.id, 'kind', NEW.kind, 'status', NEW.status,
                    'attempts', NEW.attempts, 'max_attempts', NEW.max_attempts,
                    'error', NEW.error, 'parent_id', NEW.parent_id,
                    'path', json_extract(NEW.payload, '$.path')));
END;

-- A library's scan (the recursive scan of its root that its rescans and
-- start-up queue, holding the unique key 'scan:…') starting and ending.
CREATE TRIGGER events_library_scan AFTER UPDATE OF status ON jobs
    WHEN OLD.status IS NOT NEW.status AND NEW.kind = 'scan' AND NEW.unique_key LIKE 'scan:%'
     AND NEW.status <> 'queued'
BEGIN
    INSERT INTO events (type, job_id, data) VALUES (
        CASE NEW.status WHEN 'running' THEN 'library.scan_started' ELSE 'library.scan_finished' END,
        NEW.id,
        json_object('path', json_extract(NEW.payload, '$.path'), 'job_id', NEW.id, 'status', NEW.status,
                    'result', json(CASE WHEN NEW.status = 'completed' AND json_valid(NEW.result) THEN NEW.result END),
                    'error', NEW.error));
END;

-- Progress of a running job (the pool writes it at most once a second per
-- job); the claim that resets progress is a status change, not progress.
CREATE TRIGGER events_job_progress AFTER UPDATE OF progress_percent, progress_message ON jobs
    WHEN OLD.status IS NEW.status AND NEW.status = 'running'
     AND (OLD.progress_percent IS NOT NEW.progress_percent
          OR OLD.progress_message IS NOT NEW.progress_message)
BEGIN
    INSERT INTO events (type, job_id, data) VALUES ('job.progress', NEW.id,
        json_object('id', NEW.id, 'kind', NEW.kind, 'percent', NEW.progress_percent,
                    'message', NEW.progress_message, 'eta_seconds', NEW.eta_seconds));
END;

CREATE TRIGGER events_job_cancel_requested AFTER UPDATE OF cancel_requested ON jobs
    WHEN OLD.cancel_requested = 0 AND NEW.cancel_requested = 1 AND NEW.status = 'running'
BEGIN
    INSERT INTO events (type, job_id, data) VALUES ('job.cancel_requested', NEW.id,
        json_object('id', NEW.id, 'kind', NEW.kind));
END;

CREATE TRIGGER events_queue_state AFTER UPDATE ON queue_state
    WHEN OLD.paused IS NOT NEW.paused OR OLD.drain IS NOT NEW.drain
BEGIN
    INSERT INTO events (type, data) VALUES (
        CASE WHEN NEW.paused THEN 'queue.paused' ELSE 'queue.resumed' END,
        json_object('paused', json(CASE WHEN NEW.paused THEN 'true' ELSE 'false' END),
                    'drain', json(CASE WHEN NEW.drain THEN 'true' ELSE 'false' END)));
END;

-- job_logs keeps the log lines a job's handler emitted, numbered per job
-- (seq from 1); AppendJobLogs bounds them per job (lines and bytes). bytes
-- is the length of line, kept so that the bound is one indexed sum.
CREATE TABLE job_logs (
    job_id TEXT    NOT NULL,
    seq    INTEGER NOT NULL CHECK (seq >= 1),
    at     TEXT    NOT NULL,
    level  TEXT    NOT NULL,
    line   TEXT    NOT NULL,
    bytes  INTEGER NOT NULL CHECK (bytes >= 0),
    PRIMARY KEY (job_id, seq)
) WITHOUT ROWID;

-- A log line is also an event, so that a follower (vpo jobs logs --follow)
-- reads new lines from the same stream as everything else; its first 1024
-- characters (the whole line is in job_logs), to keep events small.
CREATE TRIGGER events_job_log AFTER INSERT ON job_logs
BEGIN
    INSERT INTO events (type, job_id, data) VALUES ('job.log', NEW.job_id,
        json_object('id', NEW.job_id, 'seq', NEW.seq, 'at', NEW.at, 'level', NEW.level,
                    'line', CASE WHEN length(NEW.line) > 1024 THEN substr(NEW.line, 1, 1024) || '…' ELSE NEW.line END));
END;

-- A job's log goes with the job (retention).
CREATE TRIGGER job_logs_delete AFTER DELETE ON jobs
BEGIN
    DELETE FROM job_logs WHERE job_id = OLD.id;
END;
