-- Named queries of inbound (mobile-originated) messages (herald.delivery.inbound): parts
-- waiting for the rest, stored messages, keywords, the API's listing.

-- name: inbound_owners
-- The accounts owning a sender whose address is one of $1 (a reply names the sender it was
-- sent to; senders_address_idx), one sender each, with where its replies go.
SELECT DISTINCT ON (account_id) account_id, id AS sender_id, address, inbound_callback
FROM senders WHERE address = ANY($1::text[])
ORDER BY account_id, id;

-- name: lock_inbound_message
-- The parts of one concatenated message ($1 = a hash of its source, destination, reference
-- and count) are stored, counted and assembled one transaction at a time, whichever bind or
-- process each came in on: two parts arriving together must not each miss the other.
SELECT pg_advisory_xact_lock($1);

-- name: add_inbound_part
-- No row back: that part is here already (sent again because its answer was lost).
INSERT INTO inbound_parts (source_addr, destination_addr, reference, total, seq, bind,
                           data_coding, esm_class, user_data, received_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
ON CONFLICT DO NOTHING
RETURNING seq;

-- name: inbound_parts_of
-- The parts of one message stored so far, in order.
SELECT seq, bind, data_coding, esm_class, user_data, received_at
FROM inbound_parts
WHERE source_addr = $1 AND destination_addr = $2 AND reference = $3 AND total = $4
ORDER BY seq;

-- name: take_inbound_parts
-- The parts of one message, taken out to be stored as the message (in order).
DELETE FROM inbound_parts
WHERE source_addr = $1 AND destination_addr = $2 AND reference = $3 AND total = $4
RETURNING seq, bind, data_coding, esm_class, user_data, received_at;

-- name: stale_inbound_messages
-- Messages whose first part came at or before $1 and whose other parts never did: at most $2
-- of them, oldest first (inbound_parts_received_idx).
SELECT source_addr, destination_addr, reference, total, min(received_at) AS first_at
FROM inbound_parts
WHERE received_at <= $1
GROUP BY source_addr, destination_addr, reference, total
ORDER BY first_at
LIMIT $2;

-- name: pending_inbound_parts
SELECT count(*) FROM inbound_parts;

-- name: insert_inbound_messages
-- One inbound message per owning account ($1 account ids, $2 their senders; a single NULL
-- each when no account owns the destination), the rest the same for all.
INSERT INTO inbound_messages (account_id, sender_id, bind, source_addr, phone, destination_addr,
                              text, data_coding, payload, parts, missing_parts, keyword, action,
                              received_at)
SELECT o.account_id, o.sender_id, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14
FROM unnest($1::bigint[], $2::bigint[]) WITH ORDINALITY AS o(account_id, sender_id, pos)
ORDER BY o.pos
RETURNING id, account_id, sender_id, stored_at;

-- name: opt_out_accounts
-- A mobile-originated opt-out: number $2 joins the blacklist of accounts $1 (source opt_out);
-- an account that had it already keeps its entry as it was.
INSERT INTO blacklist (account_id, phone, source)
SELECT unnest($1::bigint[]), $2, 'opt_out'
ON CONFLICT DO NOTHING;

-- name: opt_in_accounts
-- A mobile-originated opt-in: number $2 leaves the blacklist of accounts $1 where its own
-- opt-out put it, never where the account added it. The accounts it left.
DELETE FROM blacklist
WHERE account_id = ANY($1::bigint[]) AND phone = $2 AND source = 'opt_out'
RETURNING account_id;

-- name: list_inbound
-- One page of account $1's inbound messages, newest first, below id $2 (NULL: from the
-- newest), filtered by sender $3, phone $4, received in [$5, $6) (NULL: no filter); $7 rows.
SELECT i.id, i.source_addr, i.phone, i.destination_addr, s.address AS sender, i.sender_id,
       i.text, i.data_coding, i.parts, i.missing_parts, i.keyword, i.action, i.bind,
       i.received_at, i.stored_at
FROM inbound_messages i
LEFT JOIN senders s ON s.id = i.sender_id
WHERE i.account_id = $1
  AND ($2::bigint IS NULL OR i.id < $2)
  AND ($3::bigint IS NULL OR i.sender_id = $3)
  AND ($4::text IS NULL OR i.phone = $4)
  AND ($5::timestamptz IS NULL OR i.received_at >= $5)
  AND ($6::timestamptz IS NULL OR i.received_at < $6)
ORDER BY i.id DESC
LIMIT $7;

-- name: account_sender_by_id
SELECT id, address, kind, ton, npi, created_at, inbound_callback
FROM senders WHERE id = $1 AND account_id = $2;
