-- RFC-0004 and later resources, one table for all kinds (migrations/0003_records.sql).
CREATE TABLE records (
    kind       TEXT COLLATE "C" NOT NULL,     -- e.g. "portfolio", "cost"
    id         TEXT COLLATE "C" NOT NULL,
    parent     TEXT COLLATE "C" NOT NULL DEFAULT '',  -- owning resource (usually an intent id)
    ref        TEXT COLLATE "C" NOT NULL DEFAULT '',  -- a second resource it points at
    ukey       TEXT COLLATE "C",              -- unique within kind when set
    version    BIGINT NOT NULL,
    body       TEXT NOT NULL,                 -- JSON of the wire model
    created_at BIGINT NOT NULL,               -- microseconds since the epoch
    expires_at BIGINT,                        -- microseconds; the record is gone after it
    PRIMARY KEY (kind, id)
);
CREATE INDEX records_by_parent ON records (kind, parent, created_at);
CREATE INDEX records_by_ref ON records (kind, ref);
CREATE UNIQUE INDEX records_by_key ON records (kind, ukey) WHERE ukey IS NOT NULL;

-- The newest creation time handed to a record, so that records list in insertion order even
-- when replicas create them within one microsecond (a file store keeps it in memory).
CREATE TABLE record_clock (last_created BIGINT NOT NULL);
INSERT INTO record_clock (last_created) VALUES (0);
