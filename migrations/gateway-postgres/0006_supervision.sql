-- Supervisors on a call and an attended transfer in progress, as JSON on the call (the
-- record carries them to every desktop); whether agents are told that a supervisor is
-- listening (covert quality monitoring is the default; some workplaces must announce it).
ALTER TABLE call_records ADD COLUMN monitors TEXT;
ALTER TABLE call_records ADD COLUMN consult TEXT;
ALTER TABLE businesses ADD COLUMN announce_listening INTEGER NOT NULL DEFAULT 0;
