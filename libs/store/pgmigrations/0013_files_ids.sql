-- 0013: nothing changes on PostgreSQL (see SQLite's 0013, which drops the
-- trigger that numbers file rows inserted without an id). Here the trigger
-- runs BEFORE INSERT, costs little, and stays: during an upgrade, a node
-- still running an older binary inserts rows without an id, and they must
-- get one.
SELECT 1;
