-- Fewer b-trees touched per write (each is a page written per commit):
-- * events: seq without AUTOINCREMENT (events are never deleted, so max(seq)+1 never reuses a
--   number) and no index on id (ids are random UUIDs, never looked up);
-- * intents listed in insertion order by rowid, so no created_at index; the parent index holds
--   only children;
-- * idempotency keys clustered on their primary key.
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

CREATE TABLE idempotency_keys_v2 (
    principal    TEXT NOT NULL,     -- hash of the API key plus the acting agent
    key          TEXT NOT NULL,
    method       TEXT NOT NULL,
    path         TEXT NOT NULL,
    body_hash    TEXT NOT NULL,     -- sha256 of the request body
    status       INTEGER NOT NULL,  -- 0: claimed by a committed operation, response not recorded
    content_type TEXT NOT NULL,
    body         BLOB NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (principal, key)
) WITHOUT ROWID;
INSERT INTO idempotency_keys_v2 SELECT principal, key, method, path, body_hash, status, content_type, body, created_at FROM idempotency_keys;
DROP TABLE idempotency_keys;
ALTER TABLE idempotency_keys_v2 RENAME TO idempotency_keys;
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);
