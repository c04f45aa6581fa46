-- A business's newest event number moves out of its `businesses` row into a row of its
-- own. Every write of a business checks its foreign key to `businesses` (a KEY SHARE lock
-- on the row), and the numbering after each commit updated that same row: under load each
-- check then had to walk a freshly updated row locked by many writers at once (a new
-- MultiXact per locker). The heads table is referenced by nothing, so bumping it costs
-- the writers nothing.
CREATE TABLE event_heads (
    business_id  BIGINT PRIMARY KEY REFERENCES businesses(id),
    seq          BIGINT NOT NULL
);
INSERT INTO event_heads (business_id, seq) SELECT id, event_seq FROM businesses WHERE event_seq > 0;
ALTER TABLE businesses DROP COLUMN event_seq;
