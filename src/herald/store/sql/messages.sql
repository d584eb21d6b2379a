-- Named queries of messages one by one (herald.campaigns.messages) and of idempotency keys
-- (herald.campaigns.idempotency).

-- --- message requests ------------------------------------------------------------------------

-- name: create_message_campaign
-- A request to POST /v1/messages: a campaign of kind 'message' (transactional traffic) that
-- runs at once, named '~' and a UUID (campaign names from the API cannot start with '~').
-- campaign table: (new, schedule) -> scheduled; the run moves it on.
INSERT INTO campaigns (
    account_id, name, sender_id, template, fallback_values, flash, transcode,
    respect_quiet_hours, quiet_hours, callback_url, validity_minutes, in_reply_to,
    status, kind, traffic_class)
VALUES ($1, '~' || gen_random_uuid(), $2, $3, $4, $5, $6, $7, $8, $9, $10, $11,
        'scheduled', 'message', 'transactional')
RETURNING id;

-- name: batch_messages
-- The messages a run of campaign $1 expanded into (batch $2), in id order: what the answer
-- to the request lists.
SELECT m.id, m.phone, m.status, m.reason, m.encoding, m.part_count, m.client_ref
FROM batches b
JOIN messages m ON m.id BETWEEN b.first_message_id AND b.last_message_id AND m.batch_id = b.id
WHERE b.id = $2 AND b.campaign_id = $1
ORDER BY m.id;

-- name: account_message
-- Message $1 if it is account $2's, with its parts, its sender and what it belongs to.
SELECT m.id, m.batch_id, m.campaign_id, c.kind, m.phone, m.status, m.reason, m.text,
       m.encoding, m.part_count, m.attempts, m.route, m.bind, m.created_at, m.not_before,
       m.sent_at, m.done_at, m.client_ref, s.address AS sender,
       coalesce((
           SELECT jsonb_agg(jsonb_build_object(
                      'seq', p.seq, 'state', p.state, 'bind', p.bind,
                      'smsc_message_id', p.smsc_id, 'command_status', p.command_status,
                      'submitted_at', p.submitted_at, 'receipt_state', p.receipt_state,
                      'receipt_error', p.receipt_error, 'network_error', p.network_error,
                      'receipt_at', p.receipt_at)
                  ORDER BY p.seq)
           FROM parts p WHERE p.message_id = m.id), '[]'::jsonb) AS parts
FROM messages m
JOIN campaigns c ON c.id = m.campaign_id
JOIN senders s ON s.id = c.sender_id
WHERE m.id = $1 AND m.account_id = $2;

-- name: list_account_messages
-- One page of account $1's messages: newest run first, newest message first within a run,
-- after the cursor (run $2, message $3; NULL: from the newest), with statuses $4 and phone $5
-- (NULL: any), $6 rows. The runs come from batches_account_idx read backwards and each run's
-- messages from messages_pkey over its id range, so the walk stops once the page is full
-- (messages have no index by account; see schema.sql).
SELECT m.id
FROM batches b
CROSS JOIN LATERAL (
    SELECT m.id
    FROM messages m
    WHERE m.id BETWEEN b.first_message_id AND b.last_message_id AND m.batch_id = b.id
      AND ($2::bigint IS NULL OR b.id < $2 OR m.id < $3)
      AND ($4::text[] IS NULL OR m.status = ANY($4::text[]))
      AND ($5::text IS NULL OR m.phone = $5)
    ORDER BY m.id DESC
) m
WHERE b.account_id = $1 AND b.first_message_id IS NOT NULL
  AND ($2::bigint IS NULL OR b.id <= $2)
ORDER BY b.id DESC, m.id DESC
LIMIT $6;

-- name: list_messages_by_client_ref
-- The same page among account $1's messages with client reference $7 (messages_client_ref_idx).
SELECT m.id
FROM messages m
WHERE m.account_id = $1 AND m.client_ref = $7
  AND ($2::bigint IS NULL OR m.batch_id < $2 OR (m.batch_id = $2 AND m.id < $3))
  AND ($4::text[] IS NULL OR m.status = ANY($4::text[]))
  AND ($5::text IS NULL OR m.phone = $5)
ORDER BY m.batch_id DESC, m.id DESC
LIMIT $6;

-- name: messages_by_id
-- Messages $1 (ids from a listing) with what account_message shows, in the order of $1.
SELECT m.id, m.batch_id, m.campaign_id, c.kind, m.phone, m.status, m.reason, m.text,
       m.encoding, m.part_count, m.attempts, m.route, m.bind, m.created_at, m.not_before,
       m.sent_at, m.done_at, m.client_ref, s.address AS sender,
       coalesce((
           SELECT jsonb_agg(jsonb_build_object(
                      'seq', p.seq, 'state', p.state, 'bind', p.bind,
                      'smsc_message_id', p.smsc_id, 'command_status', p.command_status,
                      'submitted_at', p.submitted_at, 'receipt_state', p.receipt_state,
                      'receipt_error', p.receipt_error, 'network_error', p.network_error,
                      'receipt_at', p.receipt_at)
                  ORDER BY p.seq)
           FROM parts p WHERE p.message_id = m.id), '[]'::jsonb) AS parts
FROM unnest($1::bigint[]) WITH ORDINALITY AS i(id, pos)
JOIN messages m ON m.id = i.id
JOIN campaigns c ON c.id = m.campaign_id
JOIN senders s ON s.id = c.sender_id
ORDER BY i.pos;

-- --- idempotency keys ------------------------------------------------------------------------

-- name: claim_idempotency_key
-- Key $2 of account $1 for a request hashing to $3, at $4: 1 when this transaction now owns the
-- key (new, or older than $5 and so started over), 0 when it holds another request's answer.
-- A request with the same key still running holds the row: this waits for its transaction,
-- then (if it committed) locks the row it left; if it rolled back, the insert goes ahead.
WITH claimed AS (
    INSERT INTO idempotency_keys AS k (account_id, key, request_hash, created_at)
    VALUES ($1, $2, $3, $4)
    ON CONFLICT (account_id, key) DO UPDATE
        SET request_hash = excluded.request_hash, created_at = excluded.created_at,
            status = NULL, answer = NULL
        WHERE k.created_at <= $5
    RETURNING 1
)
SELECT count(*) FROM claimed;

-- name: idempotency_answer
-- The stored request hash and answer of key $2 of account $1 (locked by the claim above).
SELECT request_hash, status, answer, created_at
FROM idempotency_keys WHERE account_id = $1 AND key = $2;

-- name: save_idempotency_answer
UPDATE idempotency_keys SET status = $3, answer = $4
WHERE account_id = $1 AND key = $2;

-- name: expire_idempotency_keys
-- Keys created at or before $1, at most $2 of them (idempotency_keys_created_idx).
DELETE FROM idempotency_keys k
USING (SELECT account_id, key FROM idempotency_keys
       WHERE created_at <= $1 ORDER BY created_at LIMIT $2) old
WHERE k.account_id = old.account_id AND k.key = old.key
RETURNING 1;

-- name: set_lock_timeout
-- How long this transaction waits for a lock (a request with the same key) before it fails.
SELECT set_config('lock_timeout', $1, true);
