-- 0004: whether and when each file was probed, and the last probe error.

-- probed_at is when ffprobe last ran on the file (NULL: never, e.g. ffprobe
-- was not installed); probe_error is that run's error ('' when it worked).
ALTER TABLE files ADD COLUMN probed_at TEXT;
ALTER TABLE files ADD COLUMN probe_error TEXT NOT NULL DEFAULT '';

-- Rows written before this migration with stream details were probed
-- successfully by the scan that recorded them.
UPDATE files SET probed_at = last_scanned_at WHERE probe IS NOT NULL;
