-- A new call's first event is matched to a call already in progress on the same service
-- number (crates/gateway/src/store/sql/ingest.rs, `correlate`). Without this index that
-- lookup walked every call of the business in the fallback window, live or long ended
-- (1.9 ms on SQLite with 4,000 calls in the hour); live calls are few, and this index
-- holds only them. Its status list must stay the one the lookup's query spells out
-- (checked by a unit test there).
CREATE INDEX call_records_live ON call_records (business_id, service_number, created_at)
    WHERE status IN ('ringing', 'queued', 'answered', 'on_hold', 'transferred');
