-- 0005: the number of jobs in each status, kept exact by triggers.

-- job_counts holds one row per status; the triggers below change it in the
-- same transaction as every INSERT, DELETE and status change of jobs, so it
-- always equals SELECT status, count(*) FROM jobs GROUP BY status. The
-- queue length (/health) is then one primary-key lookup, whatever the size
-- of the jobs table or the number of queued jobs.
CREATE TABLE job_counts (
    status TEXT    NOT NULL PRIMARY KEY
           CHECK (status IN ('queued', 'running', 'completed', 'failed', 'cancelled')),
    n      INTEGER NOT NULL DEFAULT 0 CHECK (n >= 0)
) WITHOUT ROWID;

INSERT INTO job_counts (status, n)
    SELECT s.status, (SELECT count(*) FROM jobs WHERE jobs.status = s.status)
    FROM (SELECT 'queued' AS status UNION ALL SELECT 'running' UNION ALL SELECT 'completed'
          UNION ALL SELECT 'failed' UNION ALL SELECT 'cancelled') AS s;

CREATE TRIGGER job_counts_insert AFTER INSERT ON jobs
BEGIN
    UPDATE job_counts SET n = n + 1 WHERE status = NEW.status;
END;

CREATE TRIGGER job_counts_delete AFTER DELETE ON jobs
BEGIN
    UPDATE job_counts SET n = n - 1 WHERE status = OLD.status;
END;

-- UPDATE OF status fires whenever status is assigned, also to its own value
-- (the CASE expressions of cancel, fail and recovery); WHEN skips those.
CREATE TRIGGER job_counts_update AFTER UPDATE OF status ON jobs
    WHEN OLD.status IS NOT NEW.status
BEGIN
    UPDATE job_counts SET n = n - 1 WHERE status = OLD.status;
    UPDATE job_counts SET n = n + 1 WHERE status = NEW.status;
END;
