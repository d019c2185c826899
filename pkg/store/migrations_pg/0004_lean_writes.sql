-- migrations/0004_lean_writes.sql rebuilt SQLite's events table without AUTOINCREMENT and
-- trimmed the intents' indexes. Here events never had a sequence, and the unique index on the
-- event id stays: inclusion proofs look events up by id. The intents' indexes become those the
-- store's queries use: the status index and the parent index (children only).
DROP INDEX intents_by_parent;
CREATE INDEX intents_by_parent ON intents (parent_id, pos) WHERE parent_id IS NOT NULL;
