-- Stored first responses of requests sent with an Idempotency-Key, replayed on a retry.
CREATE TABLE idempotency_keys (
    principal    TEXT NOT NULL,     -- hash of the API key plus the acting agent
    key          TEXT NOT NULL,
    method       TEXT NOT NULL,
    path         TEXT NOT NULL,
    body_hash    TEXT NOT NULL,     -- sha256 of the request body
    status       INTEGER NOT NULL,
    content_type TEXT NOT NULL,
    body         BLOB NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (principal, key)
);
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);
