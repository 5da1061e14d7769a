-- 0012: nodes, the node each job last ran on, and the worker tags a job
-- requires (see SQLite's 0012).
CREATE TABLE nodes (
    name         text COLLATE "C" NOT NULL PRIMARY KEY,
    owner        text COLLATE "C" NOT NULL,
    version      text COLLATE "C" NOT NULL DEFAULT '',
    address      text COLLATE "C" NOT NULL DEFAULT '',
    started_at   text COLLATE "C" NOT NULL,
    heartbeat_at text COLLATE "C" NOT NULL,
    stopped_at   text COLLATE "C",
    workers      integer NOT NULL DEFAULT 0,
    tags         text COLLATE "C" NOT NULL DEFAULT '[]'
);

ALTER TABLE jobs ADD COLUMN node text COLLATE "C";

-- A transaction that adds events wakes the nodes listening (LISTEN
-- vpo_events) when it commits: idle workers elsewhere claim new work at
-- once, and event streams on every node follow without waiting for their
-- poll. (PostgreSQL sends one notification per transaction and channel.)
CREATE FUNCTION vpo_events_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('vpo_events', '');
    RETURN NULL;
END $$;
CREATE TRIGGER events_notify AFTER INSERT ON events FOR EACH STATEMENT EXECUTE FUNCTION vpo_events_notify();
ALTER TABLE jobs ADD COLUMN requires text COLLATE "C" NOT NULL DEFAULT '[]';
