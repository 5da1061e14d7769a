-- 0014: the processing window of the whole cluster.
--
-- schedule and scheduled_kinds, when set (vpo queue window), are the
-- processing window every daemon sharing the database follows, in place
-- of its own jobs.schedule and jobs.scheduled_kinds: schedule is the
-- canonical text ("" = always open), scheduled_kinds a JSON array of job
-- kinds. NULL: none is set, each daemon follows its configuration.
ALTER TABLE queue_state ADD COLUMN schedule TEXT;
ALTER TABLE queue_state ADD COLUMN scheduled_kinds TEXT;
ALTER TABLE queue_state ADD COLUMN window_set_at TEXT;

-- A change of the window is an event, so that every daemon (and every
-- event stream) learns of it in commit order with pauses and resumes.
CREATE TRIGGER events_queue_window AFTER UPDATE ON queue_state
    WHEN OLD.schedule IS NOT NEW.schedule OR OLD.scheduled_kinds IS NOT NEW.scheduled_kinds
      OR OLD.window_set_at IS NOT NEW.window_set_at
BEGIN
    INSERT INTO events (type, data) VALUES ('queue.window',
        json_object('schedule', NEW.schedule,
                    'scheduled_kinds', json(coalesce(NEW.scheduled_kinds, 'null')),
                    'window_set_at', NEW.window_set_at));
END;
