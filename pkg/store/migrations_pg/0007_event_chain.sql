-- RFC-0019: every event's hash and its intent's previous event's hash (32-byte SHA-256 digests),
-- linking each intent's events into a chain (migrations/0007_event_chain.sql). A PostgreSQL
-- store has hashed every event it ever stored, so there is nothing to backfill.
ALTER TABLE events ADD COLUMN event_hash BYTEA;
ALTER TABLE events ADD COLUMN previous_event_hash BYTEA;
