-- RFC-0018: the proof (an agent's signature) a signed event carries, as the JSON of the
-- EventProof; NULL for events without one.
ALTER TABLE events ADD COLUMN proof TEXT;
