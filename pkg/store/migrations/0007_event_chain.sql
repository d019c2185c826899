-- RFC-0019: every event's hash and its intent's previous event's hash (32-byte SHA-256 digests),
-- linking each intent's events into a chain. Events stored before this migration are hashed
-- when the store opens (event_chain_backfill holds 1 until then). No index on the event id:
-- inclusion proofs find an event within its checkpoint's range (ids are time-ordered UUIDs), so
-- appends pay for no extra b-tree.
ALTER TABLE events ADD COLUMN event_hash BLOB;
ALTER TABLE events ADD COLUMN previous_event_hash BLOB;
CREATE TABLE event_chain_backfill (pending INTEGER NOT NULL);
INSERT INTO event_chain_backfill (pending) VALUES (1);
