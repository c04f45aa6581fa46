-- number_events() (0011) again, with the same lock, order and NOTIFY, but made of small
-- statements. Its one set-based statement (window function, aggregate, upsert and
-- update joined in four CTEs) cost more to start than to run: a numbering run usually
-- finds one to four events, and executor set-up of that plan dominated a profile of the
-- server (ExecInitAgg, projection builds, memory contexts). Measured with pgbench on a
-- copy of the schema, four writers each inserting an event and calling the function:
-- 262-296 us of server CPU a transaction against 296-346 us with 0011's; an empty run
-- 66-107 us against 95-136 us; a backlog of 5,000 events 142 ms against 160 ms.
CREATE OR REPLACE FUNCTION number_events() RETURNS BIGINT LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    numbered BIGINT := 0;
    business BIGINT;
    head BIGINT;
    pending RECORD;
BEGIN
    -- The key spells "SWBTNUMB"; one run at a time across every replica. The loop's
    -- query below takes its snapshot after the lock is granted, so it sees every
    -- earlier run's numbers and the heads they left.
    PERFORM pg_advisory_xact_lock(6005341557980745026);
    FOR pending IN
        SELECT id, business_id FROM call_events WHERE seq IS NULL ORDER BY business_id, id
    LOOP
        IF business IS DISTINCT FROM pending.business_id THEN
            IF business IS NOT NULL THEN
                INSERT INTO event_heads (business_id, seq) VALUES (business, head)
                ON CONFLICT (business_id) DO UPDATE SET seq = excluded.seq;
            END IF;
            business := pending.business_id;
            SELECT h.seq INTO head FROM event_heads h WHERE h.business_id = business;
            head := COALESCE(head, 0);
        END IF;
        head := head + 1;
        UPDATE call_events SET seq = head WHERE id = pending.id;
        numbered := numbered + 1;
    END LOOP;
    IF numbered > 0 THEN
        INSERT INTO event_heads (business_id, seq) VALUES (business, head)
        ON CONFLICT (business_id) DO UPDATE SET seq = excluded.seq;
        PERFORM pg_notify('switchboard_events', '');
    END IF;
    RETURN numbered;
END
$$;
