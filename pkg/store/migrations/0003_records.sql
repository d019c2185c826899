-- RFC-0004 and later resources (portfolios, memberships, governance records, subscriptions,
-- attachments, costs, retry policies, failures, ACL entries, access requests, tasks, plans, ...)
-- are stored as JSON documents of their wire model, one table for all kinds.
CREATE TABLE records (
    kind       TEXT NOT NULL,                 -- e.g. "portfolio", "cost"
    id         TEXT NOT NULL,
    parent     TEXT NOT NULL DEFAULT '',      -- owning resource (usually an intent id)
    ref        TEXT NOT NULL DEFAULT '',      -- a second resource it points at (e.g. a membership's intent)
    ukey       TEXT,                          -- unique within kind when set (e.g. agent/namespace/key)
    version    INTEGER NOT NULL,
    body       TEXT NOT NULL,                 -- JSON of the wire model
    created_at INTEGER NOT NULL,              -- microseconds since the epoch
    expires_at INTEGER,                       -- microseconds; the record is gone after it
    PRIMARY KEY (kind, id)
) WITHOUT ROWID;
CREATE INDEX records_by_parent ON records (kind, parent, created_at);
CREATE INDEX records_by_ref ON records (kind, ref);
CREATE UNIQUE INDEX records_by_key ON records (kind, ukey) WHERE ukey IS NOT NULL;
