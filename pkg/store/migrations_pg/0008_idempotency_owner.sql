-- The server that claimed an Idempotency-Key: its store's id, which names its connections
-- (application_name 'openintent <id>'). A claim without a response whose server has no
-- connection left is abandoned (the server stopped between the commit and its response): a
-- retry on another replica is answered at once instead of waiting for a response that will not
-- come. '' for claims made before this column: waited for as before.
ALTER TABLE idempotency_keys ADD COLUMN owner TEXT COLLATE "C" NOT NULL DEFAULT '';
