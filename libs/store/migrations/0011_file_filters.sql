-- 0011: the dashboard's file filters. Partial indexes in path order hold
-- only the missing files and the files whose last probe failed, so a page
-- of either is read straight from its index, however few such files a
-- large library has.
CREATE INDEX files_missing_path ON files (path) WHERE missing = 1;
CREATE INDEX files_probe_failed_path ON files (path) WHERE probe_error != '';
