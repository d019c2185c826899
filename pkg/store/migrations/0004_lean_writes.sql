-- Fewer b-trees touched per write (each is a page written per commit):
-- * events: seq without AUTOINCREMENT (events are never deleted, so max(seq)+1 never reuses a
--   number) and no index on id (ids are random UUIDs, never looked up);
-- * intents listed in insertion order by rowid, so no created_at index; the parent index holds
--   only children, and the status index (the status alone: rowid follows) is only rewritten when
--   the status changes.
CREATE TABLE events_v2 (
    seq             INTEGER PRIMARY KEY,
    id              TEXT NOT NULL,
    intent_id       TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    actor           TEXT NOT NULL,
    payload         TEXT NOT NULL,            -- JSON object
    trace_id        TEXT,
    parent_event_id TEXT,
    created_at      INTEGER NOT NULL
);
INSERT INTO events_v2 (seq, id, intent_id, event_type, actor, payload, trace_id, parent_event_id, created_at)
    SELECT seq, id, intent_id, event_type, actor, payload, trace_id, parent_event_id, created_at FROM events ORDER BY seq;
DROP TABLE events;
ALTER TABLE events_v2 RENAME TO events;
CREATE INDEX events_by_intent ON events (intent_id, seq);
CREATE INDEX events_by_intent_type ON events (intent_id, event_type, seq);

DROP INDEX intents_by_created;
DROP INDEX intents_by_status;
DROP INDEX intents_by_parent;
CREATE INDEX intents_by_status ON intents (status);
CREATE INDEX intents_by_parent ON intents (parent_id) WHERE parent_id IS NOT NULL;

