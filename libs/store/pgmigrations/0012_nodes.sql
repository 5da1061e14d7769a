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
ALTER TABLE jobs ADD COLUMN requires text COLLATE "C" NOT NULL DEFAULT '[]';
