-- Switchboard gateway schema, SQLite dialect. Times are milliseconds since the Unix epoch.
-- Flags are integers 0/1 in both dialects: the sqlx Any driver, which lets one query
-- layer serve both databases, cannot decode SQLite's BOOLEAN. Never edit a migration that has landed: add a new one.

CREATE TABLE businesses (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL
);

CREATE TABLE agents (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    business_id   BIGINT NOT NULL REFERENCES businesses(id),
    name          TEXT NOT NULL,
    display_name  TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('agent', 'supervisor', 'admin')),
    status        TEXT NOT NULL DEFAULT 'offline'
                  CHECK (status IN ('available', 'busy', 'wrap_up', 'away', 'offline')),
    status_at     BIGINT NOT NULL,
    created_at    BIGINT NOT NULL,
    UNIQUE (business_id, name)
);

-- Only the SHA-256 of a token is kept; the token itself is shown once.
CREATE TABLE api_tokens (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    agent_id    BIGINT NOT NULL REFERENCES agents(id),
    token_hash  TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL
);

-- config is JSON; credentials in it are "secret:NAME" references resolved at run time.
CREATE TABLE telephony_providers (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    business_id  BIGINT NOT NULL REFERENCES businesses(id),
    name         TEXT NOT NULL UNIQUE,
    kind         TEXT NOT NULL,
    config       TEXT NOT NULL DEFAULT '{}',
    enabled      INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    created_at   BIGINT NOT NULL
);

CREATE TABLE business_phone_numbers (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    business_id  BIGINT NOT NULL REFERENCES businesses(id),
    provider_id  BIGINT NOT NULL REFERENCES telephony_providers(id),
    e164         TEXT NOT NULL,
    label        TEXT NOT NULL,
    inbound      INTEGER NOT NULL CHECK (inbound IN (0, 1)),
    outbound     INTEGER NOT NULL CHECK (outbound IN (0, 1)),
    is_default   INTEGER NOT NULL DEFAULT 0 CHECK (is_default IN (0, 1)),
    created_at   BIGINT NOT NULL,
    UNIQUE (business_id, e164)
);

CREATE TABLE queues (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    business_id  BIGINT NOT NULL REFERENCES businesses(id),
    name         TEXT NOT NULL,
    is_default   INTEGER NOT NULL DEFAULT 0 CHECK (is_default IN (0, 1)),
    created_at   BIGINT NOT NULL,
    UNIQUE (business_id, name)
);

CREATE TABLE leads (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    business_id  BIGINT NOT NULL REFERENCES businesses(id),
    phone        TEXT NOT NULL,
    name         TEXT NOT NULL,
    company      TEXT,
    status       TEXT NOT NULL DEFAULT 'new',
    notes        TEXT,
    call_sid     TEXT UNIQUE,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    UNIQUE (business_id, phone)
);

CREATE TABLE call_records (
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
    UNIQUE (telephony_vendor, vendor_call_id),
    UNIQUE (voice_platform, voice_platform_call_id)
);
CREATE INDEX call_records_business_sid ON call_records (business_id, call_sid);
CREATE INDEX call_records_business_status ON call_records (business_id, status, created_at);
CREATE INDEX call_records_service_number ON call_records (service_number, status, created_at);
CREATE INDEX call_records_lead ON call_records (lead_id, created_at);

-- Append-only. The id is the resume cursor of GET /v1/events; AUTOINCREMENT guarantees
-- ids are never reused, so a cursor never skips a later event.
CREATE TABLE call_events (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    business_id  BIGINT NOT NULL REFERENCES businesses(id),
    call_sid     TEXT,
    kind         TEXT NOT NULL,
    payload      TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX call_events_business_id ON call_events (business_id, id);
CREATE INDEX call_events_call ON call_events (call_sid, id);

-- One row per accepted provider event: makes redelivery idempotent and is the proof that a
-- webhook acknowledged with 2xx was stored.
CREATE TABLE webhook_receipts (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    provider_id  BIGINT NOT NULL REFERENCES telephony_providers(id),
    event_id     TEXT NOT NULL,
    call_sid     TEXT,
    received_at  BIGINT NOT NULL,
    UNIQUE (provider_id, event_id)
);

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
