-- Stored first responses of requests sent with an Idempotency-Key, replayed on a retry
-- (migrations/0002_idempotency.sql). The primary key is what claims a key: of several replicas
-- running the same request, one transaction inserts the row and the others find it taken.
CREATE TABLE idempotency_keys (
    principal    TEXT COLLATE "C" NOT NULL,     -- hash of the API key plus the acting agent
    key          TEXT COLLATE "C" NOT NULL,
    method       TEXT NOT NULL,
    path         TEXT NOT NULL,
    body_hash    TEXT NOT NULL,     -- sha256 of the request body
    status       INTEGER NOT NULL,
    content_type TEXT NOT NULL,
    body         BYTEA NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (principal, key)
);
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);
