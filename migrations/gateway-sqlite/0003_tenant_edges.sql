-- Tenant edges (issue 8): provider call ids are unique per business, each business has
-- its own gap-free event sequence, and tokens expire and can be revoked.
--
-- SQLite cannot drop a UNIQUE written inside CREATE TABLE, so call_records is rebuilt:
-- a new table and a copy. Foreign keys stay on (the migration runs in a transaction,
-- where the pragma cannot change), so the one table that references call_records,
-- conversation_transcripts, is set aside first and rebuilt after, as it was: no row ever
-- points at a missing call.
CREATE TABLE transcripts_moving AS SELECT * FROM conversation_transcripts;
DROP TABLE conversation_transcripts;

-- Two businesses' carriers may hand out the same call id (two PBXs both numbering calls
-- 1636598043.6); a global key made the second one unstorable and told its sender that
-- another business had that call.
CREATE TABLE call_records_new (
    id                      INTEGER PRIMARY KEY AUTOINCREMENT,
    call_sid                TEXT NOT NULL UNIQUE,
    business_id             BIGINT NOT NULL REFERENCES businesses(id),
    direction               TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    status                  TEXT NOT NULL,
    status_at               BIGINT NOT NULL,
    status_seq              BIGINT NOT NULL DEFAULT 0,
    status_event            TEXT NOT NULL DEFAULT '',
    from_number             TEXT NOT NULL,
    to_number               TEXT NOT NULL,
    service_number          TEXT,
    lead_id                 BIGINT REFERENCES leads(id),
    agent_id                BIGINT REFERENCES agents(id),
    queue_id                BIGINT REFERENCES queues(id),
    number_id               BIGINT REFERENCES business_phone_numbers(id),
    provider_id             BIGINT REFERENCES telephony_providers(id),
    telephony_vendor        TEXT,
    vendor_call_id          TEXT,
    voice_platform          TEXT,
    voice_platform_call_id  TEXT,
    conversation_id         TEXT,
    transfer_to             TEXT,
    created_at              BIGINT NOT NULL,
    answered_at             BIGINT,
    ended_at                BIGINT,
    duration_secs           BIGINT,
    reported_duration_secs  BIGINT,
    disposition             TEXT,
    notes                   TEXT,
    recording_url           TEXT,
    recording_at            BIGINT,
    error_code              TEXT,
    error_message           TEXT,
    error_provider_code     TEXT,
    error_provider_message  TEXT,
    error_retryable         INTEGER CHECK (error_retryable IN (0, 1)),
    updated_at              BIGINT NOT NULL,
    UNIQUE (business_id, telephony_vendor, vendor_call_id),
    UNIQUE (business_id, voice_platform, voice_platform_call_id)
);
INSERT INTO call_records_new SELECT * FROM call_records;
DROP TABLE call_records;
ALTER TABLE call_records_new RENAME TO call_records;
CREATE TABLE conversation_transcripts (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    business_id  BIGINT NOT NULL REFERENCES businesses(id),
    call_sid     TEXT NOT NULL REFERENCES call_records(call_sid),
    role         TEXT NOT NULL,
    content      TEXT NOT NULL,
    occurred_at  BIGINT NOT NULL,
    sequence     BIGINT NOT NULL,
    source       TEXT NOT NULL,
    UNIQUE (call_sid, sequence)
);
INSERT INTO conversation_transcripts SELECT * FROM transcripts_moving;
DROP TABLE transcripts_moving;
CREATE INDEX call_records_business_sid ON call_records (business_id, call_sid);
CREATE INDEX call_records_business_status ON call_records (business_id, status, created_at);
CREATE INDEX call_records_service_number ON call_records (service_number, status, created_at);
CREATE INDEX call_records_lead ON call_records (lead_id, created_at);

-- The stream cursor is per business: businesses.event_seq is the last number handed out,
-- bumped in the transaction that appends the event.
ALTER TABLE businesses ADD COLUMN event_seq BIGINT NOT NULL DEFAULT 0;
ALTER TABLE call_events ADD COLUMN seq BIGINT NOT NULL DEFAULT 0;
UPDATE call_events SET seq = (SELECT n.seq FROM
    (SELECT id, ROW_NUMBER() OVER (PARTITION BY business_id ORDER BY id) AS seq FROM call_events) n
    WHERE n.id = call_events.id);
CREATE UNIQUE INDEX call_events_business_seq ON call_events (business_id, seq);
DROP INDEX call_events_business_id;
UPDATE businesses SET event_seq = COALESCE((SELECT MAX(seq) FROM call_events e WHERE e.business_id = businesses.id), 0);

-- Tokens expire and can be revoked; existing ones get the default lifetime (30 days).
ALTER TABLE api_tokens ADD COLUMN expires_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE api_tokens ADD COLUMN revoked_at BIGINT;
ALTER TABLE api_tokens ADD COLUMN label TEXT NOT NULL DEFAULT '';
UPDATE api_tokens SET expires_at = created_at + 2592000000;
CREATE INDEX api_tokens_agent ON api_tokens (agent_id);

-- The operator's own business: its admins may create other businesses over the API.
ALTER TABLE businesses ADD COLUMN platform INTEGER NOT NULL DEFAULT 0 CHECK (platform IN (0, 1));
