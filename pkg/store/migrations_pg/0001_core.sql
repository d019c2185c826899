-- PostgreSQL schema, mirroring migrations/0001_core.sql (the SQLite file store's) step by step.
-- Times are integer microseconds since the Unix epoch, UTC; JSON is kept as text, byte for byte
-- as the store wrote it. Identifiers sort bytewise (COLLATE "C"), as SQLite's do. Tables that
-- SQLite lists in rowid order have an identity column, pos, in its place.
CREATE TABLE intents (
    pos               BIGINT GENERATED ALWAYS AS IDENTITY,
    id                TEXT COLLATE "C" PRIMARY KEY,
    title             TEXT NOT NULL,
    description       TEXT NOT NULL,
    created_by        TEXT NOT NULL,
    parent_id         TEXT COLLATE "C",
    depends_on        TEXT NOT NULL,          -- JSON array, in insertion order
    constraints       TEXT NOT NULL,          -- JSON object
    state             TEXT NOT NULL,          -- JSON object
    status            TEXT COLLATE "C" NOT NULL,
    confidence        DOUBLE PRECISION NOT NULL DEFAULT 0,
    version           BIGINT NOT NULL,
    governance_policy TEXT,                   -- JSON object or NULL
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);
CREATE UNIQUE INDEX intents_by_pos ON intents (pos);
CREATE INDEX intents_by_status ON intents (status, pos);
CREATE INDEX intents_by_parent ON intents (parent_id, pos);

CREATE TABLE intent_dependencies (
    intent_id     TEXT COLLATE "C" NOT NULL,
    dependency_id TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (intent_id, dependency_id)
);
CREATE INDEX intent_dependencies_by_dependency ON intent_dependencies (dependency_id);

-- seq is given by the store (the next after the largest, under the write lock), never by a
-- sequence: numbers are gapless and follow commit order.
CREATE TABLE events (
    seq             BIGINT PRIMARY KEY,
    id              TEXT COLLATE "C" NOT NULL UNIQUE,
    intent_id       TEXT COLLATE "C" NOT NULL,
    event_type      TEXT COLLATE "C" NOT NULL,
    actor           TEXT NOT NULL,
    payload         TEXT NOT NULL,            -- JSON object
    trace_id        TEXT,
    parent_event_id TEXT,
    created_at      BIGINT NOT NULL
);
CREATE INDEX events_by_intent ON events (intent_id, seq);
CREATE INDEX events_by_intent_type ON events (intent_id, event_type, seq);

CREATE TABLE assignments (
    pos         BIGINT GENERATED ALWAYS AS IDENTITY,
    id          TEXT COLLATE "C" PRIMARY KEY,
    intent_id   TEXT COLLATE "C" NOT NULL,
    agent_id    TEXT COLLATE "C" NOT NULL,
    role        TEXT NOT NULL,
    assigned_at BIGINT NOT NULL,
    UNIQUE (intent_id, agent_id)
);

CREATE TABLE leases (
    pos         BIGINT GENERATED ALWAYS AS IDENTITY,
    id          TEXT COLLATE "C" PRIMARY KEY,
    intent_id   TEXT COLLATE "C" NOT NULL,
    agent_id    TEXT NOT NULL,
    scope       TEXT COLLATE "C" NOT NULL,
    acquired_at BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    released_at BIGINT
);
CREATE INDEX leases_by_scope ON leases (intent_id, scope, expires_at);
CREATE INDEX leases_by_intent ON leases (intent_id, acquired_at, pos);
