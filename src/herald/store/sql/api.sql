-- Named queries of the campaign API (herald.api over herald.campaigns: service, address_book,
-- optout, callbacks). Every query that reads or changes an account's objects names the
-- account: another account's rows are simply not found.

-- --- accounts --------------------------------------------------------------------------------

-- name: account_by_name
SELECT id, name, credit, created_at, weight, priority
FROM accounts WHERE name = $1;

-- name: set_account_share
-- Account $1's fair share (docs/operations.md): weight $2 and priority $3, each left as it
-- is when NULL. The dispatchers see it at their next read of the due queues.
UPDATE accounts SET weight = coalesce($2, weight), priority = coalesce($3, priority)
WHERE name = $1
RETURNING weight, priority;

-- name: add_credit_by_name
-- $2 may be negative (a correction); the CHECK refuses a negative balance.
UPDATE accounts SET credit = credit + $2 WHERE name = $1 RETURNING id, credit;

-- name: account_balance
SELECT a.credit,
       (SELECT coalesce(sum(b.credit_used), 0)
        FROM batches b JOIN campaigns c ON c.id = b.campaign_id
        WHERE c.account_id = a.id) AS credit_used_total
FROM accounts a
WHERE a.id = $1;

-- name: recent_batches
-- What the account's latest runs cost, newest first.
SELECT b.id, b.campaign_id, c.name AS campaign_name, c.kind, b.number, b.description, b.status,
       b.messages_expected, b.segments_expected, b.credit_used, b.created_at, b.started_at,
       b.finished_at
FROM batches b JOIN campaigns c ON c.id = b.campaign_id
WHERE c.account_id = $1
ORDER BY b.id DESC
LIMIT $2;

-- name: webhook_secrets
SELECT id, webhook_secret FROM accounts WHERE id = ANY($1::bigint[]);

-- --- senders ---------------------------------------------------------------------------------

-- name: list_senders
SELECT id, address, kind, ton, npi, created_at, inbound_callback
FROM senders WHERE account_id = $1 ORDER BY id;

-- name: add_sender
-- No row back: the account already has this address.
INSERT INTO senders (account_id, address, kind, ton, npi)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (account_id, address) DO NOTHING
RETURNING id, address, kind, ton, npi, created_at, inbound_callback;

-- name: account_sender
SELECT id, address, kind, ton, npi, created_at, inbound_callback
FROM senders WHERE account_id = $1 AND address = $2;

-- name: set_sender_inbound_callback
-- Where replies to sender $1 of account $2 are POSTed ($3; NULL: nowhere).
UPDATE senders SET inbound_callback = $3
WHERE id = $1 AND account_id = $2
RETURNING id, address, kind, ton, npi, created_at, inbound_callback;

-- --- contacts --------------------------------------------------------------------------------

-- name: insert_contact
-- No row back: the account already has a contact with this phone.
INSERT INTO contacts (account_id, phone, name, labels)
VALUES ($1, $2, $3, $4)
ON CONFLICT (account_id, phone) DO NOTHING
RETURNING id, phone, name, labels, created_at, updated_at;

-- name: get_contact
SELECT id, phone, name, labels, created_at, updated_at
FROM contacts WHERE id = $1 AND account_id = $2;

-- name: update_contact
UPDATE contacts SET phone = $3, name = $4, labels = $5, updated_at = now()
WHERE id = $1 AND account_id = $2
RETURNING id, phone, name, labels, created_at, updated_at;

-- name: delete_contact
DELETE FROM contacts WHERE id = $1 AND account_id = $2 RETURNING id;

-- name: count_contacts
-- Filters: $2 phone starts with (E.164 digits), $3 name contains (any case), $4 group.
SELECT count(*)
FROM contacts c
WHERE c.account_id = $1
  AND ($2::text IS NULL OR starts_with(c.phone, $2))
  AND ($3::text IS NULL OR strpos(lower(c.name), lower($3)) > 0)
  AND ($4::bigint IS NULL OR EXISTS (SELECT 1 FROM group_members gm
                                     WHERE gm.group_id = $4 AND gm.contact_id = c.id));

-- name: list_contacts
-- The same filters as count_contacts; $5 rows from offset $6, in id order.
SELECT c.id, c.phone, c.name, c.labels, c.created_at, c.updated_at
FROM contacts c
WHERE c.account_id = $1
  AND ($2::text IS NULL OR starts_with(c.phone, $2))
  AND ($3::text IS NULL OR strpos(lower(c.name), lower($3)) > 0)
  AND ($4::bigint IS NULL OR EXISTS (SELECT 1 FROM group_members gm
                                     WHERE gm.group_id = $4 AND gm.contact_id = c.id))
ORDER BY c.id
LIMIT $5 OFFSET $6;

-- name: import_contacts
-- Bulk upsert by phone; `inserted` tells a new contact from an updated one (xmax is 0 only
-- for a row this statement inserted).
INSERT INTO contacts AS c (account_id, phone, name, labels)
SELECT $1, r.phone, r.name, r.labels
FROM unnest($2::text[], $3::text[], $4::jsonb[]) AS r(phone, name, labels)
ON CONFLICT (account_id, phone)
DO UPDATE SET name = excluded.name, labels = excluded.labels, updated_at = now()
RETURNING c.id, c.phone, (c.xmax = 0) AS inserted;

-- name: account_contact_ids
-- Which of the ids $2 are contacts of account $1.
SELECT id FROM contacts WHERE account_id = $1 AND id = ANY($2::bigint[]);

-- --- groups ----------------------------------------------------------------------------------

-- name: insert_group
-- No row back: the account already has a group with this name.
INSERT INTO groups (account_id, name) VALUES ($1, $2)
ON CONFLICT (account_id, name) DO NOTHING
RETURNING id, name, created_at, 0::bigint AS member_count;

-- name: get_group
SELECT g.id, g.name, g.created_at,
       (SELECT count(*) FROM group_members gm WHERE gm.group_id = g.id) AS member_count
FROM groups g WHERE g.id = $1 AND g.account_id = $2;

-- name: count_groups
SELECT count(*) FROM groups WHERE account_id = $1;

-- name: list_groups
SELECT g.id, g.name, g.created_at,
       (SELECT count(*) FROM group_members gm WHERE gm.group_id = g.id) AS member_count
FROM groups g WHERE g.account_id = $1
ORDER BY g.id
LIMIT $2 OFFSET $3;

-- name: rename_group
-- Raises a unique violation when the account has another group of that name.
UPDATE groups g SET name = $3 WHERE g.id = $1 AND g.account_id = $2
RETURNING g.id, g.name, g.created_at,
          (SELECT count(*) FROM group_members gm WHERE gm.group_id = g.id) AS member_count;

-- name: delete_group
DELETE FROM groups WHERE id = $1 AND account_id = $2 RETURNING id;

-- name: remove_group_member
DELETE FROM group_members WHERE group_id = $1 AND contact_id = $2 RETURNING contact_id;

-- name: account_group_ids
-- Which of the ids $2 are groups of account $1.
SELECT id FROM groups WHERE account_id = $1 AND id = ANY($2::bigint[]);

-- --- blacklist -------------------------------------------------------------------------------

-- name: count_blacklist
SELECT count(*) FROM blacklist WHERE account_id = $1;

-- name: list_blacklist
SELECT phone, source, created_at FROM blacklist WHERE account_id = $1
ORDER BY phone
LIMIT $2 OFFSET $3;

-- name: remove_from_blacklist
DELETE FROM blacklist WHERE account_id = $1 AND phone = $2 RETURNING phone;

-- name: blacklisted_among
SELECT phone FROM blacklist WHERE account_id = $1 AND phone = ANY($2::text[]);

-- --- campaigns -------------------------------------------------------------------------------

-- name: campaign_with_sender
-- Message requests (kind 'message') are not campaigns to the campaign API.
SELECT c.*, s.address AS sender
FROM campaigns c JOIN senders s ON s.id = c.sender_id
WHERE c.id = $1 AND c.account_id = $2 AND c.kind = 'campaign';

-- name: name_campaign
-- A campaign created without a name is called 'campaign <id>' (with a random suffix should
-- the account already have a campaign of that name).
UPDATE campaigns c
SET name = 'campaign ' || c.id
           || CASE WHEN EXISTS (SELECT 1 FROM campaigns o
                                WHERE o.account_id = c.account_id AND o.name = 'campaign ' || c.id)
                   THEN ' ' || substr(md5(random()::text), 1, 6) ELSE '' END
WHERE c.id = $1
RETURNING c.name;

-- name: lock_campaign
-- The campaign row, locked for a lifecycle change or an edit: a run starting at the same
-- time (API or scheduler) waits, or is skipped by the scheduler's SKIP LOCKED claim.
SELECT c.*, s.address AS sender
FROM campaigns c JOIN senders s ON s.id = c.sender_id
WHERE c.id = $1 AND c.account_id = $2 AND c.kind = 'campaign'
FOR UPDATE OF c;

-- name: update_scheduled_campaign
-- campaign table: (scheduled, edit) -> scheduled. No row back: no longer scheduled.
UPDATE campaigns
SET name = $3, sender_id = $4, template = $5, fallback_values = $6, flash = $7,
    transcode = $8, respect_quiet_hours = $9, quiet_hours = $10, scheduled_at = $11,
    callback_url = $12, campaign_callback_url = $13, reminder = $14,
    ignore_invalid_numbers = $15, mobiles_only = $16, updated_at = now()
WHERE id = $1 AND account_id = $2 AND status = 'scheduled'
RETURNING id;

-- name: delete_idle_campaign
-- Only a campaign that is not sending: scheduled, stopped or completed. Its batches go with
-- it (ON DELETE CASCADE); its recipients, messages and parts are deleted here (no foreign
-- keys: see schema.sql), messages and parts by each batch's id range.
WITH campaign AS (
    DELETE FROM campaigns
    WHERE id = $1 AND account_id = $2 AND status IN ('scheduled', 'stopped', 'completed')
    RETURNING id
),
messages_gone AS (
    DELETE FROM messages m
    USING batches b, campaign c
    WHERE b.campaign_id = c.id
      AND m.id BETWEEN b.first_message_id AND b.last_message_id AND m.batch_id = b.id
    RETURNING m.id
),
parts_gone AS (               -- parts_pkey, by the messages just deleted
    DELETE FROM parts p USING messages_gone g WHERE p.message_id = g.id
),
recipients_gone AS (          -- campaign_recipients_campaign_idx
    DELETE FROM campaign_recipients r USING campaign c WHERE r.campaign_id = c.id
),
counts_gone AS (             -- batch_counts has no foreign key either (written per statement)
    DELETE FROM batch_counts n
    USING batches b, campaign c
    WHERE b.campaign_id = c.id AND n.batch_id = b.id
),
links_gone AS (               -- links_message_idx over the same ranges
    DELETE FROM links l
    USING batches b, campaign c
    WHERE b.campaign_id = c.id
      AND l.message_id BETWEEN b.first_message_id AND b.last_message_id AND l.batch_id = b.id
),
link_events_gone AS (
    DELETE FROM link_events e USING campaign c WHERE e.campaign_id = c.id
)
SELECT id FROM campaign;

-- name: count_campaigns
-- Filters: $2 statuses, $3 name contains (any case), $4/$5 created from/before,
-- $6/$7 scheduled from/before (NULL: no bound). Message requests are not listed.
SELECT count(*)
FROM campaigns c
WHERE c.account_id = $1 AND c.kind = 'campaign'                 -- campaigns_listed_idx
  AND ($2::text[] IS NULL OR c.status = ANY($2::text[]))
  AND ($3::text IS NULL OR strpos(lower(c.name), lower($3)) > 0)
  AND ($4::timestamptz IS NULL OR c.created_at >= $4)
  AND ($5::timestamptz IS NULL OR c.created_at < $5)
  AND ($6::timestamptz IS NULL OR c.scheduled_at >= $6)
  AND ($7::timestamptz IS NULL OR c.scheduled_at < $7);

-- name: list_campaigns
-- The filters of count_campaigns; sorted by $8 (a whitelisted column name) in order $9
-- ('asc' or 'desc'), id breaking ties; $10 rows from offset $11. The sort is written as one
-- CASE per column and direction so the statement stays static (and prepared once).
SELECT c.*, s.address AS sender
FROM campaigns c JOIN senders s ON s.id = c.sender_id
WHERE c.account_id = $1 AND c.kind = 'campaign'
  AND ($2::text[] IS NULL OR c.status = ANY($2::text[]))
  AND ($3::text IS NULL OR strpos(lower(c.name), lower($3)) > 0)
  AND ($4::timestamptz IS NULL OR c.created_at >= $4)
  AND ($5::timestamptz IS NULL OR c.created_at < $5)
  AND ($6::timestamptz IS NULL OR c.scheduled_at >= $6)
  AND ($7::timestamptz IS NULL OR c.scheduled_at < $7)
ORDER BY
    CASE WHEN $9 = 'asc' AND $8 = 'name' THEN c.name END ASC,
    CASE WHEN $9 = 'desc' AND $8 = 'name' THEN c.name END DESC,
    CASE WHEN $9 = 'asc' AND $8 = 'status' THEN c.status END ASC,
    CASE WHEN $9 = 'desc' AND $8 = 'status' THEN c.status END DESC,
    CASE WHEN $9 = 'asc' AND $8 = 'created_at' THEN c.created_at END ASC,
    CASE WHEN $9 = 'desc' AND $8 = 'created_at' THEN c.created_at END DESC,
    CASE WHEN $9 = 'asc' AND $8 = 'updated_at' THEN c.updated_at END ASC,
    CASE WHEN $9 = 'desc' AND $8 = 'updated_at' THEN c.updated_at END DESC,
    CASE WHEN $9 = 'asc' AND $8 = 'scheduled_at' THEN c.scheduled_at END ASC NULLS LAST,
    CASE WHEN $9 = 'desc' AND $8 = 'scheduled_at' THEN c.scheduled_at END DESC NULLS LAST,
    CASE WHEN $9 = 'asc' THEN c.id END ASC,
    CASE WHEN $9 = 'desc' THEN c.id END DESC
LIMIT $10 OFFSET $11;

-- name: campaign_recipient_counts
-- How campaign $1's audience is given: explicit rows by source (counted as they are stored:
-- campaign_recipient_counts), contacts and groups.
SELECT
    coalesce((SELECT n FROM campaign_recipient_counts
              WHERE campaign_id = $1 AND source = 'number'), 0) AS numbers,
    coalesce((SELECT n FROM campaign_recipient_counts
              WHERE campaign_id = $1 AND source = 'recipient'), 0) AS recipients,
    coalesce((SELECT n FROM campaign_recipient_counts
              WHERE campaign_id = $1 AND source = 'file'), 0) AS file_rows,
    coalesce((SELECT array_agg(contact_id ORDER BY contact_id) FROM campaign_contacts
              WHERE campaign_id = $1), '{}') AS contacts,
    coalesce((SELECT array_agg(group_id ORDER BY group_id) FROM campaign_groups
              WHERE campaign_id = $1), '{}') AS groups;

-- name: delete_campaign_recipients
-- Explicit recipients of campaign $1 from the sources $2, before they are replaced, and
-- their counts.
WITH gone AS (
    DELETE FROM campaign_recipients WHERE campaign_id = $1 AND source = ANY($2::text[])
)
DELETE FROM campaign_recipient_counts WHERE campaign_id = $1 AND source = ANY($2::text[]);

-- name: set_campaign_contacts
-- Replace campaign $1's referenced contacts with $2.
WITH gone AS (
    DELETE FROM campaign_contacts WHERE campaign_id = $1 AND NOT (contact_id = ANY($2::bigint[]))
)
INSERT INTO campaign_contacts (campaign_id, contact_id)
SELECT $1, unnest($2::bigint[])
ON CONFLICT DO NOTHING;

-- name: set_campaign_groups
-- Replace campaign $1's referenced groups with $2.
WITH gone AS (
    DELETE FROM campaign_groups WHERE campaign_id = $1 AND NOT (group_id = ANY($2::bigint[]))
)
INSERT INTO campaign_groups (campaign_id, group_id)
SELECT $1, unnest($2::bigint[])
ON CONFLICT DO NOTHING;

-- name: sendable_contacts
-- Among contacts $2 and the members of groups $3 of account $1: how many distinct phones, and
-- how many of those are not blacklisted.
SELECT count(DISTINCT c.phone) AS phones,
       count(DISTINCT c.phone) FILTER (WHERE b.phone IS NULL) AS sendable
FROM contacts c
LEFT JOIN blacklist b ON b.account_id = c.account_id AND b.phone = c.phone
WHERE c.account_id = $1
  AND (c.id = ANY($2::bigint[])
       OR c.id IN (SELECT gm.contact_id FROM group_members gm
                   WHERE gm.group_id = ANY($3::bigint[])));

-- --- progress, batches and messages -----------------------------------------------------------

-- name: campaign_counts
-- Campaign $1's runs (a reminder's batch is not part of the campaign's progress): messages by
-- status and segments by the status they count under, summed from batch_counts (a few rows
-- per batch, not its messages).
SELECT c.kind, c.status, sum(c.n)::bigint AS n
FROM batches b
JOIN batch_counts c ON c.batch_id = b.id                      -- batch_counts_batch_idx
WHERE b.campaign_id = $1 AND b.kind = 'run'
GROUP BY c.kind, c.status;

-- name: campaign_progress
-- Messages of campaign $1's runs by status (a reminder's batch is not part of the campaign's
-- progress), read batch by batch from messages_pkey over each batch's id range (see
-- batches.first_message_id). A batch retention pruned (pruned_at) is read from its totals
-- instead, from the moment they were taken, while its messages are still being deleted too.
SELECT status, sum(messages)::bigint AS messages
FROM (
    SELECT m.status, count(*) AS messages
    FROM batches b
    JOIN messages m ON m.id BETWEEN b.first_message_id AND b.last_message_id
                   AND m.batch_id = b.id
    WHERE b.campaign_id = $1 AND b.kind = 'run' AND b.pruned_at IS NULL
    GROUP BY m.status
    UNION ALL
    SELECT t.status, sum(t.messages)
    FROM batches b
    JOIN batch_totals t ON t.batch_id = b.id
    WHERE b.campaign_id = $1 AND b.kind = 'run' AND b.pruned_at IS NOT NULL
    GROUP BY t.status
) AS counted
GROUP BY status;

-- name: campaign_deferred
-- Campaign $1's deferred messages by reason (quiet_hours, no_bind, a retried ESME status...),
-- with when the first and the last of them are due: per batch, the deferred entries of
-- messages_due_idx, walked in its order (OFFSET 0 keeps it a per-batch probe: joined as a
-- set, the planner reads all of messages).
SELECT d.reason, count(*) AS messages, min(d.not_before) AS next_at,
       max(d.not_before) AS last_at
FROM batches b
CROSS JOIN LATERAL (
    SELECT m.reason, m.not_before
    FROM messages m
    WHERE m.batch_id = b.id AND m.status IN ('queued', 'deferred') AND m.status = 'deferred'
    ORDER BY m.not_before, m.id
    OFFSET 0
) d
WHERE b.campaign_id = $1 AND b.kind = 'run'
GROUP BY d.reason
ORDER BY next_at;

-- name: campaign_part_states
-- Parts of campaign $1's runs by their own state, with their message's status (a pending part
-- counts as its message does) and whether a receipt set the state (the receipt sweep expires
-- parts without one). Both tables are read over each batch's id range: messages_pkey, and
-- parts_pkey from the range's first message id. Rejected messages have no parts. A pruned
-- batch's are read from its totals (as in campaign_progress).
SELECT status, state, receipted, sum(parts)::bigint AS parts
FROM (
    SELECT m.status, p.state, p.receipt_at IS NOT NULL AS receipted, count(*) AS parts
    FROM batches b
    JOIN messages m ON m.id BETWEEN b.first_message_id AND b.last_message_id
                   AND m.batch_id = b.id
    JOIN parts p ON p.message_id = m.id
                AND p.message_id BETWEEN b.first_message_id AND b.last_message_id
    WHERE b.campaign_id = $1 AND b.kind = 'run' AND b.pruned_at IS NULL
    GROUP BY m.status, p.state, receipted
    UNION ALL
    SELECT t.message_status, t.state, t.receipted, sum(t.parts)
    FROM batches b
    JOIN batch_part_totals t ON t.batch_id = b.id
    WHERE b.campaign_id = $1 AND b.kind = 'run' AND b.pruned_at IS NOT NULL
    GROUP BY t.message_status, t.state, t.receipted
) AS counted
GROUP BY status, state, receipted;

-- name: campaign_batches
SELECT id, number, kind, description, template, status, messages_expected, segments_expected,
       credit_used, created_at, started_at, finished_at, link_url, pruned_at
FROM batches WHERE campaign_id = $1 ORDER BY number;

-- name: count_campaign_messages
-- Filters: $2 statuses, $3 one batch (NULL: none). By batch id range, as campaign_progress.
SELECT count(*)
FROM batches b
JOIN messages m ON m.id BETWEEN b.first_message_id AND b.last_message_id AND m.batch_id = b.id
WHERE b.campaign_id = $1
  AND ($2::text[] IS NULL OR m.status = ANY($2::text[]))
  AND ($3::bigint IS NULL OR b.id = $3);

-- name: list_campaign_messages
-- One page of campaign $1's messages with their parts and receipt detail, in id order, and
-- their clicks (link_events_message_idx).
SELECT m.id, m.batch_id, m.phone, m.status, m.reason, m.text, m.encoding, m.part_count,
       m.attempts, m.route, m.bind, m.created_at, m.not_before, m.sent_at, m.done_at,
       m.client_ref,
       m.country, k.clicks, k.clicked_at,
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
CROSS JOIN LATERAL (
    SELECT count(*) AS clicks, min(e.at) AS clicked_at
    FROM link_events e WHERE e.message_id = m.id AND e.kind = 'click'
) k
-- messages_pkey in order, from the first id of the campaign's (or batch $3's) first batch
-- (or past the cursor $6, the last id of the page before) to the last of its last: the page
-- ends the walk. A range, not a join per batch, so the rows come out in id order with no sort
-- of the whole campaign, and a page after the millionth row costs what the first one does.
WHERE m.id BETWEEN greatest((SELECT min(b.first_message_id) FROM batches b
                             WHERE b.campaign_id = $1 AND ($3::bigint IS NULL OR b.id = $3)),
                            coalesce($6::bigint, 0) + 1)
               AND (SELECT max(b.last_message_id) FROM batches b
                    WHERE b.campaign_id = $1 AND ($3::bigint IS NULL OR b.id = $3))
  AND m.campaign_id = $1
  AND ($2::text[] IS NULL OR m.status = ANY($2::text[]))
  AND ($3::bigint IS NULL OR m.batch_id = $3)
ORDER BY m.id
LIMIT $4 OFFSET $5;

-- --- lifecycle -------------------------------------------------------------------------------

-- name: set_campaign_batches_status
-- Every batch of campaign $1 in one of the states $2 moves to $3 (the caller names the row
-- of the batch table: (sending, suspend) -> suspended, (suspended, resume) -> sending,
-- (expanding | sending | suspended, stop) -> stopped). finished_at is set on stop.
UPDATE batches
SET status = $3,
    finished_at = CASE WHEN $3 IN ('stopped', 'completed', 'failed') THEN now() END
WHERE campaign_id = $1 AND status = ANY($2::text[])
RETURNING id;

-- name: stop_campaign_messages
-- Campaign $1 stopped: its messages not yet handed to a dispatcher are stopped at $2.
-- Messages already leased ('sending') finish their submit and keep their outcome. The
-- progress counters move with them: the messages and their pending parts (read as before).
-- message table: (queued | deferred, stop) -> stopped
WITH waiting AS (
    SELECT m.id, m.batch_id, m.status
    FROM batches b
    JOIN messages m ON m.id BETWEEN b.first_message_id AND b.last_message_id
                   AND m.batch_id = b.id
    WHERE b.campaign_id = $1 AND m.status IN ('queued', 'deferred')
    FOR UPDATE OF m
),
stopped AS (
    UPDATE messages m
    SET status = 'stopped', reason = 'campaign_stopped', done_at = $2
    FROM waiting w
    WHERE m.id = w.id AND m.status IN ('queued', 'deferred')
    RETURNING m.id, m.batch_id, m.part_count, w.status AS was
),
pending AS (
    SELECT p.message_id AS id, count(*) AS n FROM parts p
    WHERE p.message_id = ANY (ARRAY(SELECT id FROM stopped)) AND p.state = 'pending'
    GROUP BY p.message_id
),
counted AS (
    INSERT INTO batch_counts (batch_id, kind, status, n)
    SELECT batch_id, kind, status, sum(n)
    FROM (
        SELECT batch_id, 'messages' AS kind, was AS status, -1 AS n FROM stopped
        UNION ALL
        SELECT batch_id, 'messages', 'stopped', 1 FROM stopped
        UNION ALL
        SELECT s.batch_id, 'segments', s.was, -p.n FROM stopped s JOIN pending p USING (id)
        UNION ALL
        SELECT s.batch_id, 'segments', 'stopped', p.n FROM stopped s JOIN pending p USING (id)
    ) AS delta
    GROUP BY batch_id, kind, status
    HAVING sum(n) <> 0
)
SELECT id, batch_id, part_count FROM stopped;

-- name: refund_batches
-- Segments that will never be sent go back: off each batch's credit_used ($1 batch ids,
-- $2 segments) and onto account $3's credit. Returns the new credit.
WITH refunds AS (
    UPDATE batches b SET credit_used = b.credit_used - r.segments
    FROM unnest($1::bigint[], $2::bigint[]) AS r(id, segments)
    WHERE b.id = r.id
    RETURNING r.segments
)
UPDATE accounts SET credit = credit + (SELECT coalesce(sum(segments), 0) FROM refunds)
WHERE id = $3
RETURNING credit;

-- --- callbacks -------------------------------------------------------------------------------

-- name: enqueue_message_callbacks
-- One per-message status callback for each change ($1 ids, $2 new statuses, $3 reasons,
-- $4 times, $5 sequences: the order of the status among the message's callbacks) whose
-- campaign has a callback URL, with the parts as they stand now.
-- callback table: (new, create) -> pending
INSERT INTO callback_outbox (account_id, url, body, kind)
SELECT m.account_id, c.callback_url,
       jsonb_build_object(
           'event', 'message.status',
           'message_id', m.id,
           -- a message request (POST /v1/messages) is no campaign to its caller
           'campaign_id', CASE WHEN c.kind = 'campaign' THEN m.campaign_id END,
           'batch_id', CASE WHEN c.kind = 'campaign' THEN m.batch_id END,
           'client_ref', m.client_ref,
           'sequence', r.sequence,
           'phone', m.phone, 'status', r.status, 'reason', coalesce(r.reason, m.reason),
           'at', r.at, 'part_count', m.part_count, 'sent_at', m.sent_at, 'done_at', m.done_at,
           'parts', coalesce((
               SELECT jsonb_agg(jsonb_build_object(
                          'seq', p.seq, 'state', p.state, 'smsc_message_id', p.smsc_id,
                          'submitted_at', p.submitted_at, 'receipt_state', p.receipt_state,
                          'receipt_error', p.receipt_error, 'network_error', p.network_error,
                          'receipt_at', p.receipt_at)
                      ORDER BY p.seq)
               FROM parts p WHERE p.message_id = m.id), '[]'::jsonb)),
       'message'
FROM unnest($1::bigint[], $2::text[], $3::text[], $4::timestamptz[], $5::integer[])
     WITH ORDINALITY AS r(id, status, reason, at, sequence, pos)
JOIN messages m ON m.id = r.id
JOIN campaigns c ON c.id = m.campaign_id
WHERE c.callback_url IS NOT NULL
ORDER BY r.pos                -- outbox ids (hence delivery order) follow the changes' order
RETURNING id;

-- name: callback_outbox_depth
SELECT count(*) FROM callback_outbox WHERE status = 'pending';
