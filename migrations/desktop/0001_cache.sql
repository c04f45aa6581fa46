-- The desktop's offline cache. Records are kept as the gateway's JSON plus the few columns
-- the console searches and sorts by. The token is never stored here (OS keyring only).

CREATE TABLE settings (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);

CREATE TABLE calls (
    call_sid     TEXT PRIMARY KEY,
    created_at   INTEGER NOT NULL,
    status       TEXT NOT NULL,
    direction    TEXT NOT NULL,
    from_number  TEXT NOT NULL,
    to_number    TEXT NOT NULL,
    lead_id      INTEGER,
    record       TEXT NOT NULL
);
CREATE INDEX calls_created ON calls (created_at);

CREATE TABLE leads (
    id      INTEGER PRIMARY KEY,
    phone   TEXT NOT NULL,
    name    TEXT NOT NULL,
    record  TEXT NOT NULL
);
CREATE INDEX leads_phone ON leads (phone);

CREATE TABLE transcripts (
    call_sid  TEXT NOT NULL,
    sequence  INTEGER NOT NULL,
    turn      TEXT NOT NULL,
    PRIMARY KEY (call_sid, sequence)
);

CREATE TABLE numbers (
    id      INTEGER PRIMARY KEY,
    record  TEXT NOT NULL
);

CREATE TABLE agents (
    id      INTEGER PRIMARY KEY,
    record  TEXT NOT NULL
);

-- Stream events already applied: a replayed event is skipped, so nothing applies twice.
CREATE TABLE applied_events (
    id          INTEGER PRIMARY KEY,
    applied_at  INTEGER NOT NULL
);

-- Actions that can wait for the network, sent in order, each with an idempotency key so
-- the gateway applies it once however often it is sent.
CREATE TABLE outbox (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    kind        TEXT NOT NULL,
    payload     TEXT NOT NULL,
    idem_key    TEXT NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL,
    state       TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'failed')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT,
    sent_at     INTEGER
);

-- The number an agent last called a lead from.
CREATE TABLE number_choice (
    lead_id    INTEGER PRIMARY KEY,
    number_id  INTEGER NOT NULL
);
