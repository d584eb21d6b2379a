-- Several API keys per account, each with a name, an optional expiry, a revocation time and
-- the time it was last used (issue 25, item 10). Each account's key moves over as the key
-- named 'default'. The key columns of accounts go, so nothing can authenticate against them
-- any more: a process of an older herald still running after this migration answers 500 to
-- API calls rather than accept a key revoked here (it fails closed).
CREATE TABLE api_keys (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id    bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name          text NOT NULL CHECK (name <> ''),
    prefix        text NOT NULL,
    hash          bytea NOT NULL UNIQUE CHECK (length(hash) = 32),
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz,
    revoked_at    timestamptz,
    last_used_at  timestamptz
);
CREATE UNIQUE INDEX api_keys_live_name_idx ON api_keys (account_id, name)
    WHERE revoked_at IS NULL;
CREATE INDEX api_keys_account_idx ON api_keys (account_id, id);
INSERT INTO api_keys (account_id, name, prefix, hash, created_at)
SELECT id, 'default', api_key_prefix, api_key_hash, created_at FROM accounts ORDER BY id;
ALTER TABLE accounts DROP COLUMN api_key_hash, DROP COLUMN api_key_prefix;
