-- A business's newest event number lives in a row of its own (as on PostgreSQL, where
-- that keeps the hot counter off the row every write's foreign key check locks).
CREATE TABLE event_heads (
    business_id  INTEGER PRIMARY KEY REFERENCES businesses(id),
    seq          INTEGER NOT NULL
);
INSERT INTO event_heads (business_id, seq) SELECT id, event_seq FROM businesses WHERE event_seq > 0;
ALTER TABLE businesses DROP COLUMN event_seq;
