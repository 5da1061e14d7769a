-- 0014: the processing window of the whole cluster (see SQLite's 0014).
ALTER TABLE queue_state ADD COLUMN schedule text COLLATE "C";
ALTER TABLE queue_state ADD COLUMN scheduled_kinds text COLLATE "C";
ALTER TABLE queue_state ADD COLUMN window_set_at text COLLATE "C";

CREATE FUNCTION vpo_queue_window() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO events (type, data) VALUES ('queue.window',
        json_build_object('schedule', NEW.schedule,
                          'scheduled_kinds', NEW.scheduled_kinds::json,
                          'window_set_at', NEW.window_set_at)::text);
    RETURN NULL;
END $$;
CREATE TRIGGER queue_window_changed AFTER UPDATE ON queue_state FOR EACH ROW
    WHEN (OLD.schedule IS DISTINCT FROM NEW.schedule OR OLD.scheduled_kinds IS DISTINCT FROM NEW.scheduled_kinds
          OR OLD.window_set_at IS DISTINCT FROM NEW.window_set_at)
    EXECUTE FUNCTION vpo_queue_window();
