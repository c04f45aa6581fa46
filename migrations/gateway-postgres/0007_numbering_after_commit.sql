-- Events are inserted without a number and numbered right after their transaction commits
-- (see crates/gateway/src/store/postgres.rs), so a business's writers no longer queue on
-- its row. Readers only ever see numbered events (`seq > $n` is never true for NULL).
ALTER TABLE call_events ALTER COLUMN seq DROP NOT NULL;
CREATE INDEX call_events_unnumbered ON call_events (id) WHERE seq IS NULL;
