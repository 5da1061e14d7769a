-- Indexes for the jobs list filters (kind, status, submission time) and
-- for retention (finished jobs by the time they finished). The queue length
-- (/health) counts queued rows through jobs_status_priority_seq and so never
-- reads the finished jobs.

CREATE INDEX jobs_kind_seq ON jobs (kind, seq);
CREATE INDEX jobs_status_seq ON jobs (status, seq);
CREATE INDEX jobs_created_at ON jobs (created_at);
CREATE INDEX jobs_finished_at ON jobs (finished_at)
    WHERE status IN ('completed', 'failed', 'cancelled');
