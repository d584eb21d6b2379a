-- Named queries for starting a run of a campaign (herald.campaigns.runs).

-- name: campaign_for_run
-- The campaign with its sender, locked so two runs (an API call and the scheduler, or two
-- herald processes) cannot start at once; the second waits and then sees 'running'.
SELECT c.id, c.account_id, c.name, c.status, c.template, c.fallback_values, c.flash,
       c.transcode, c.respect_quiet_hours, c.quiet_hours, c.ignore_invalid_numbers,
       c.mobiles_only, c.scheduled_at,
       c.reminder, c.callback_url, c.campaign_callback_url, c.kind, c.in_reply_to,
       s.address AS sender, s.ton AS sender_ton, s.npi AS sender_npi
FROM campaigns c JOIN senders s ON s.id = c.sender_id
WHERE c.id = $1 AND c.account_id = $2
FOR UPDATE OF c;

-- name: account_credit
SELECT credit FROM accounts WHERE id = $1;

-- name: mark_reminder_sent
-- Compare-and-set: the reminder of campaign $1 goes out once, whichever process gets here.
UPDATE campaigns
SET reminder = reminder || jsonb_build_object('sent_at', $2::timestamptz)
WHERE id = $1 AND status = 'scheduled' AND reminder IS NOT NULL AND NOT reminder ? 'sent_at'
RETURNING id;

-- name: due_reminders
-- Scheduled campaigns whose reminder lead time has come ($1 = now) and which have not sent it.
SELECT id, account_id FROM campaigns
WHERE status = 'scheduled' AND reminder IS NOT NULL AND NOT reminder ? 'sent_at'
  AND scheduled_at - make_interval(secs => (reminder->>'lead_seconds')::double precision) <= $1
ORDER BY scheduled_at, id
LIMIT $2;

-- name: blacklisted_recipients
-- The numbers of campaign $1's own recipient rows that account $2 blacklisted: what a message
-- request (its numbers stored as E.164) needs, instead of the account's whole blacklist.
SELECT b.phone
FROM campaign_recipients r
JOIN blacklist b ON b.account_id = $2 AND b.phone = r.phone_raw
WHERE r.campaign_id = $1;

-- name: add_batch_counts
-- Progress counters of batch $1 for messages just stored by expansion: ($2 kind, $3 status,
-- $4 how many) rows, as every statement that moves messages adds them (schema.sql).
INSERT INTO batch_counts (batch_id, kind, status, n)
SELECT $1, c.kind, c.status, c.n
FROM unnest($2::text[], $3::text[], $4::bigint[]) AS c(kind, status, n)
WHERE c.n <> 0;

-- --- the rest of a send-now run (herald.campaigns.runs, migration 0015) ---------------------

-- name: lock_rest
-- Batch $1's campaign and batch rows locked (as a run, a stop or maintenance locks them), and
-- whether its rest is still to be stored; NULL when the batch is gone (its run rolled back).
SELECT b.rest_pending, b.campaign_id, c.account_id, b.template,
       b.messages_expected, b.segments_expected, b.first_message_id, b.last_message_id
FROM batches b JOIN campaigns c ON c.id = b.campaign_id
WHERE b.id = $1
FOR UPDATE OF c, b;

-- name: end_rest
-- Batch $1's rest stored: it may complete now. $2, $3: its message and segment counts as
-- finally stored (the same as planned unless it was expanded again after a restart); $4, $5
-- widen its id range with the ids that expansion took.
UPDATE batches
SET rest_pending = false, messages_expected = $2, segments_expected = $3,
    first_message_id = least(first_message_id, $4), last_message_id = greatest(last_message_id, $5)
WHERE id = $1 AND rest_pending
RETURNING id;

-- name: pending_rests
-- Batches whose rest is still to be stored though their run started before $1 (the request
-- storing it ended without doing so: herald stopped), oldest first, at most $2; with $3 the
-- batches of that campaign only, whenever they started (a stop stores the rest first).
SELECT b.id
FROM batches b
WHERE b.rest_pending AND ($3::bigint IS NULL AND b.started_at < $1 OR b.campaign_id = $3)
ORDER BY b.id
LIMIT $2;

-- name: stored_batch_messages
-- What batch $1 already has: each message's number (as expansion keys it: E.164, or the raw
-- form of an invalid one) and its segments (its parts: a message rejected by expansion has
-- none).
SELECT m.phone, (SELECT count(*) FROM parts p WHERE p.message_id = m.id)::integer AS segments
FROM batches b
JOIN messages m ON m.id BETWEEN b.first_message_id AND b.last_message_id AND m.batch_id = b.id
WHERE b.id = $1;
