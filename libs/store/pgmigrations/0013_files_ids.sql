-- 0013: every insert into files gives the id (see SQLite's 0013); the
-- trigger that numbered rows inserted without one goes on both backends.
DROP TRIGGER files_assign_id ON files;
DROP FUNCTION vpo_files_assign_id();
