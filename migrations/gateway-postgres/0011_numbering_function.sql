-- The numbering run after each commit (crates/gateway/src/store/postgres.rs) as one call:
-- taking the advisory lock, numbering and NOTIFY were four statements of an explicit
-- transaction, five round trips with BEGIN and COMMIT. Called on its own (autocommit),
-- the lock is held until the call's implicit commit, and the numbering statement, which in
-- a VOLATILE function takes a snapshot of its own after the lock is granted, sees every
-- run that committed before it.
CREATE FUNCTION number_events() RETURNS BIGINT LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    numbered BIGINT;
BEGIN
    -- The key spells "SWBTNUMB"; one run at a time across every replica.
    PERFORM pg_advisory_xact_lock(6005341557980745026);
    WITH pending AS (
             SELECT id, business_id, ROW_NUMBER() OVER (PARTITION BY business_id ORDER BY id) AS n
             FROM call_events WHERE seq IS NULL),
         counts AS (SELECT business_id, MAX(n) AS c FROM pending GROUP BY business_id),
         bumped AS (
             INSERT INTO event_heads AS h (business_id, seq) SELECT business_id, c FROM counts
             ON CONFLICT (business_id) DO UPDATE SET seq = h.seq + excluded.seq
             RETURNING h.business_id, h.seq AS head),
         done AS (
             UPDATE call_events e SET seq = bumped.head - counts.c + pending.n
             FROM pending JOIN counts USING (business_id) JOIN bumped USING (business_id)
             WHERE e.id = pending.id RETURNING 1)
    SELECT COUNT(*) INTO numbered FROM done;
    IF numbered > 0 THEN
        PERFORM pg_notify('switchboard_events', '');
    END IF;
    RETURN numbered;
END
$$;
