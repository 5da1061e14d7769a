-- 0009: what a rescan needs to skip the directories that did not change.
--
-- scan_dirs holds, per directory (its path with a trailing "/"), the digest
-- of the video files directly in it (names, sizes, mtimes) as a scan saw
-- them when it recorded the directory, the number of file rows recorded in
-- it then (missing ones included), how many of them were not missing, and
-- whether every one of those was probed. A rescan whose walk finds the
-- same digest knows that the recorded rows still match the disk without
-- reading them. Any write to a file row drops the digest of its directory
-- (the triggers below; for new rows, the store), so a digest only stands
-- for rows no one changed since it was written.
CREATE TABLE scan_dirs (
    dir    TEXT    NOT NULL PRIMARY KEY,
    digest BLOB    NOT NULL,
    rows   INTEGER NOT NULL,
    live   INTEGER NOT NULL,
    probed INTEGER NOT NULL CHECK (probed IN (0, 1))
) WITHOUT ROWID;

-- rtrim(p, replace(p, '/', '')) is p up to and including its last '/'.
-- No trigger on INSERT: the store drops the digests of the directories it
-- writes new rows in, once per directory and batch (a first scan writes
-- 100,000 rows, and rtrim costs several microseconds a row); a row inserted
-- by other means makes the rows under a root outnumber what the digests
-- account for, which a rescan checks.
CREATE TRIGGER files_drop_dir_digest_update AFTER UPDATE ON files
BEGIN
    DELETE FROM scan_dirs WHERE dir IN (rtrim(OLD.path, replace(OLD.path, '/', '')),
                                        rtrim(NEW.path, replace(NEW.path, '/', '')));
END;

CREATE TRIGGER files_drop_dir_digest_delete AFTER DELETE ON files
BEGIN
    DELETE FROM scan_dirs WHERE dir = rtrim(OLD.path, replace(OLD.path, '/', ''));
END;
