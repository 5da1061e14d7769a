-- 0002: fencing tokens for job leases.

-- lease_token counts the claims of a job: every claim adds one, nothing ever
-- lowers it (not a requeue, a recovery or a retry), so the value a claim
-- takes is unique to that claim. Renewals, progress and the outcome of a run
-- must name it; a run whose claim was superseded (its lease expired and the
-- job was claimed again, even by the same process) no longer matches.
ALTER TABLE jobs ADD COLUMN lease_token INTEGER NOT NULL DEFAULT 0 CHECK (lease_token >= 0);
