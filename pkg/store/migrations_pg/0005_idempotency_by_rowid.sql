-- migrations/0005_idempotency_by_rowid.sql dropped SQLite's age index on idempotency keys, whose
-- rowids follow their age. PostgreSQL has no such rowids: the age index stays, for the sweep of
-- expired keys. Nothing changes.
SELECT 1;
