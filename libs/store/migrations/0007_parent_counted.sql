-- 0007: a waiting parent may have done part of its work itself.

-- A directory dry run plans the files whose stored probe is still good in
-- the parent job and hands only the others to child jobs. AwaitChildren
-- then stores the parent's own counts (a JSON object with the keys below)
-- in its result; when its last child finishes, its result is those counts
-- plus its children's, counted as before (a child that failed or was
-- cancelled counts as failed). A parent without counts of its own (result
-- NULL) gets its children's counts alone, as with 0006.
DROP TRIGGER jobs_child_finished;

CREATE TRIGGER jobs_child_finished AFTER UPDATE OF status ON jobs
    WHEN NEW.parent_id IS NOT NULL
     AND NEW.status IN ('completed', 'failed', 'cancelled')
     AND OLD.status NOT IN ('completed', 'failed', 'cancelled')
BEGIN
    UPDATE jobs SET children_pending = children_pending - 1,
        progress_message = 'child jobs left: ' || (children_pending - 1)
    WHERE id = NEW.parent_id AND awaiting_children = 1 AND children_pending > 0;
    UPDATE jobs SET
        status = CASE WHEN cancel_requested = 1 THEN 'cancelled'
                      WHEN error IS NOT NULL THEN 'failed' ELSE 'completed' END,
        finished_at = NEW.finished_at,
        awaiting_children = 0,
        progress_percent = 100,
        progress_message = 'all child jobs finished',
        result = (SELECT json_object(
                'files', count(*) + coalesce(json_extract(jobs.result, '$.files'), 0),
                'unchanged', coalesce(sum(o = 'unchanged'), 0) + coalesce(json_extract(jobs.result, '$.unchanged'), 0),
                'applied', coalesce(sum(o = 'applied'), 0) + coalesce(json_extract(jobs.result, '$.applied'), 0),
                'planned', coalesce(sum(o = 'planned'), 0) + coalesce(json_extract(jobs.result, '$.planned'), 0),
                'pending_approval', coalesce(sum(o = 'pending_approval'), 0)
                    + coalesce(json_extract(jobs.result, '$.pending_approval'), 0),
                'skipped', coalesce(sum(o = 'skipped'), 0) + coalesce(json_extract(jobs.result, '$.skipped'), 0),
                'failed', coalesce(sum(o = 'failed'), 0) + coalesce(json_extract(jobs.result, '$.failed'), 0))
            FROM (SELECT CASE WHEN c.status = 'completed'
                              THEN coalesce(json_extract(c.result, '$.outcome'), '') ELSE 'failed' END AS o
                  FROM jobs AS c WHERE c.parent_id = NEW.parent_id))
    WHERE id = NEW.parent_id AND awaiting_children = 1 AND children_pending = 0;
END;
