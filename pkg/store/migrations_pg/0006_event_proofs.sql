-- RFC-0018: the proof (an agent's signature) a signed event carries, as the JSON of the
-- EventProof; NULL for events without one (migrations/0006_event_proofs.sql).
ALTER TABLE events ADD COLUMN proof TEXT;
