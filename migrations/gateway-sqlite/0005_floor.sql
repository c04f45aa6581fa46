-- The supervisor's floor: each queue's answer-time target (the "20" of "80/20"), and
-- today's calls of a business found by when they began.
ALTER TABLE queues ADD COLUMN service_level_secs BIGINT NOT NULL DEFAULT 20;
CREATE INDEX call_records_business_created ON call_records (business_id, created_at);
