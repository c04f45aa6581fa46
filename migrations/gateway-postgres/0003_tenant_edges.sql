-- Tenant edges (issue 8): provider call ids are unique per business, each business has
-- its own gap-free event sequence, and tokens expire and can be revoked.

-- Two businesses' carriers may hand out the same call id (two PBXs both numbering calls
-- 1636598043.6); a global key made the second one unstorable and told its sender that
-- another business had that call.
ALTER TABLE call_records DROP CONSTRAINT call_records_telephony_vendor_vendor_call_id_key;
ALTER TABLE call_records DROP CONSTRAINT call_records_voice_platform_voice_platform_call_id_key;
ALTER TABLE call_records ADD CONSTRAINT call_records_business_vendor_call
    UNIQUE (business_id, telephony_vendor, vendor_call_id);
ALTER TABLE call_records ADD CONSTRAINT call_records_business_platform_call
    UNIQUE (business_id, voice_platform, voice_platform_call_id);

-- The stream cursor is per business: businesses.event_seq is the last number handed out,
-- bumped in the transaction that appends the event (its row lock orders one business's
-- appends, and nothing orders different businesses' against each other).
ALTER TABLE businesses ADD COLUMN event_seq BIGINT NOT NULL DEFAULT 0;
ALTER TABLE call_events ADD COLUMN seq BIGINT;
UPDATE call_events e SET seq = n.seq
  FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY business_id ORDER BY id) AS seq FROM call_events) n
 WHERE e.id = n.id;
ALTER TABLE call_events ALTER COLUMN seq SET NOT NULL;
CREATE UNIQUE INDEX call_events_business_seq ON call_events (business_id, seq);
DROP INDEX call_events_business_id;
UPDATE businesses b SET event_seq = COALESCE((SELECT MAX(seq) FROM call_events e WHERE e.business_id = b.id), 0);

-- Tokens expire and can be revoked; existing ones get the default lifetime (30 days).
ALTER TABLE api_tokens ADD COLUMN expires_at BIGINT;
ALTER TABLE api_tokens ADD COLUMN revoked_at BIGINT;
ALTER TABLE api_tokens ADD COLUMN label TEXT NOT NULL DEFAULT '';
UPDATE api_tokens SET expires_at = created_at + 2592000000;
ALTER TABLE api_tokens ALTER COLUMN expires_at SET NOT NULL;
CREATE INDEX api_tokens_agent ON api_tokens (agent_id);

-- The operator's own business: its admins may create other businesses over the API.
ALTER TABLE businesses ADD COLUMN platform INTEGER NOT NULL DEFAULT 0 CHECK (platform IN (0, 1));
