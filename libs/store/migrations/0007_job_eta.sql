-- 0007: the estimated time left of a running job.

-- eta_seconds is the handler's latest estimate of the seconds left in the
-- current attempt (NULL: unknown). It is written with the progress and
-- cleared wherever the progress of an attempt is reset or the run ends.
ALTER TABLE jobs ADD COLUMN eta_seconds INTEGER;
