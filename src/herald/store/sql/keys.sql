-- Named queries of API keys (herald.store.accounts): several per account, each with a name,
-- an optional expiry, a revocation time and the time it was last used.

-- name: api_key_by_hash
-- The key a request presents, with its account's name: one probe of api_keys_hash_key. Revoked
-- and expired keys come back too, so the caller can say which it is.
SELECT k.id, k.account_id, a.name AS account_name, k.name, k.prefix, k.created_at,
       k.expires_at, k.revoked_at, k.last_used_at
FROM api_keys k JOIN accounts a ON a.id = k.account_id
WHERE k.hash = $1;

-- name: touch_api_key
-- Key $1 was used at $2. Callers only ask when the last_used_at they read is a minute old; the
-- condition keeps processes that read the same old value from writing it twice.
UPDATE api_keys SET last_used_at = $2
WHERE id = $1 AND (last_used_at IS NULL OR last_used_at <= $2::timestamptz - interval '1 minute');

-- name: lock_account_keys
-- Key changes of account $1 take turns (a transaction-level advisory lock, released at commit):
-- two revocations at once cannot each leave the other as the last key, nor two creations
-- both pass the limit. The account row itself is not locked, so runs taking credit never wait.
SELECT pg_advisory_xact_lock(hashtextextended('herald:api_keys:' || $1::bigint::text, 0));

-- name: live_api_keys
-- Account $1's keys that are not revoked, and how many of those still work at $2 (unexpired).
SELECT count(*) AS live,
       count(*) FILTER (WHERE expires_at IS NULL OR expires_at > $2) AS usable
FROM api_keys WHERE account_id = $1 AND revoked_at IS NULL;

-- name: insert_api_key
-- No row back: the account has a key of that name that is not revoked.
INSERT INTO api_keys (account_id, name, prefix, hash, created_at, expires_at)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (account_id, name) WHERE revoked_at IS NULL DO NOTHING
RETURNING id, account_id, name, prefix, created_at, expires_at, revoked_at, last_used_at;

-- name: get_api_key
SELECT id, account_id, name, prefix, created_at, expires_at, revoked_at, last_used_at
FROM api_keys WHERE account_id = $1 AND id = $2;

-- name: live_api_key_by_name
SELECT id, account_id, name, prefix, created_at, expires_at, revoked_at, last_used_at
FROM api_keys WHERE account_id = $1 AND name = $2 AND revoked_at IS NULL;

-- name: count_api_keys
SELECT count(*) FROM api_keys WHERE account_id = $1;

-- name: list_api_keys
-- Account $1's keys, revoked ones included, in id order: $2 rows from offset $3.
SELECT id, account_id, name, prefix, created_at, expires_at, revoked_at, last_used_at
FROM api_keys WHERE account_id = $1
ORDER BY id
LIMIT $2 OFFSET $3;

-- name: revoke_api_key
-- Key $2 of account $1 stops working at $3. No row back: not the account's, or revoked already.
UPDATE api_keys SET revoked_at = $3
WHERE account_id = $1 AND id = $2 AND revoked_at IS NULL
RETURNING id, account_id, name, prefix, created_at, expires_at, revoked_at, last_used_at;
