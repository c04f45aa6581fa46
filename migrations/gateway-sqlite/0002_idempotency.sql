-- Idempotency keys for actions a desktop may send more than once (its offline outbox
-- replays after a reconnect): the first request with a key applies, later ones do not.
CREATE TABLE idempotency_keys (
    business_id  BIGINT NOT NULL REFERENCES businesses(id),
    key          TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (business_id, key)
);
