-- Providers and numbers are managed through the API while the gateway runs. Removing one
-- keeps its row (calls and receipts refer to it) and stamps when it was removed; a removed
-- row is invisible to everything but history, and adding the same name or number again
-- brings the row back.
ALTER TABLE telephony_providers ADD COLUMN removed_at BIGINT;
ALTER TABLE business_phone_numbers ADD COLUMN removed_at BIGINT;
-- What the carrying provider could do when the call started (JSON), so the desktop can
-- disable the controls a call's provider lacks.
ALTER TABLE call_records ADD COLUMN capabilities TEXT;
