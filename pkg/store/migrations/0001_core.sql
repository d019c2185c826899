-- RFC-0001..0003: intents, their dependencies, events, agent assignments and leases.
-- Times are integer microseconds since the Unix epoch, UTC.
CREATE TABLE intents (
    id                TEXT PRIMARY KEY,
    title             TEXT NOT NULL,
    description       TEXT NOT NULL,
    created_by        TEXT NOT NULL,
    parent_id         TEXT,
    depends_on        TEXT NOT NULL,          -- JSON array, in insertion order
    constraints       TEXT NOT NULL,          -- JSON object
    state             TEXT NOT NULL,          -- JSON object
    status            TEXT NOT NULL,
    confidence        REAL NOT NULL DEFAULT 0,
    version           INTEGER NOT NULL,
    governance_policy TEXT,                   -- JSON object or NULL
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
);
CREATE INDEX intents_by_created ON intents (created_at DESC);
CREATE INDEX intents_by_status ON intents (status, created_at DESC);
CREATE INDEX intents_by_parent ON intents (parent_id);

CREATE TABLE intent_dependencies (
    intent_id     TEXT NOT NULL,
    dependency_id TEXT NOT NULL,
    PRIMARY KEY (intent_id, dependency_id)
) WITHOUT ROWID;
CREATE INDEX intent_dependencies_by_dependency ON intent_dependencies (dependency_id);

CREATE TABLE events (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    id              TEXT NOT NULL UNIQUE,
    intent_id       TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    actor           TEXT NOT NULL,
    payload         TEXT NOT NULL,            -- JSON object
    trace_id        TEXT,
    parent_event_id TEXT,
    created_at      INTEGER NOT NULL
);
CREATE INDEX events_by_intent ON events (intent_id, seq);
CREATE INDEX events_by_intent_type ON events (intent_id, event_type, seq);

CREATE TABLE assignments (
    id          TEXT PRIMARY KEY,
    intent_id   TEXT NOT NULL,
    agent_id    TEXT NOT NULL,
    role        TEXT NOT NULL,
    assigned_at INTEGER NOT NULL,
    UNIQUE (intent_id, agent_id)
);

CREATE TABLE leases (
    id          TEXT PRIMARY KEY,
    intent_id   TEXT NOT NULL,
    agent_id    TEXT NOT NULL,
    scope       TEXT NOT NULL,
    acquired_at INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    released_at INTEGER
);
CREATE INDEX leases_by_scope ON leases (intent_id, scope, expires_at);
