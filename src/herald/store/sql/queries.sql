-- herald's named queries, loaded once at import by herald.store.queries.
-- Each block starts with "-- name: <name>" and runs until the next one. Status changes are
-- compare-and-set (WHERE status = <expected>): the caller decides the move with
-- herald.states.transition() and the query refuses if someone else moved first.
-- Time-dependent queries take "now" as a parameter so tests inject the clock.

-- --- accounts --------------------------------------------------------------------------------

-- name: ping
-- Readiness (/readyz): the database answers a query through the pool.
SELECT 1;

-- name: create_account
-- Account $1 with its first API key, named 'default' ($2 its hash, $3 its prefix).
WITH account AS (
    INSERT INTO accounts (name, webhook_secret, credit)
    VALUES ($1, $4, $5)
    RETURNING id, created_at
),
first_key AS (
    INSERT INTO api_keys (account_id, name, prefix, hash, created_at)
    SELECT id, 'default', $3, $2, created_at FROM account
)
SELECT id, created_at FROM account;

-- name: get_account_by_key_hash
-- The account of a key that is not revoked; expiry is the caller's to check.
SELECT a.id, a.name, k.prefix AS api_key_prefix, k.expires_at, a.webhook_secret, a.credit,
       a.created_at
FROM api_keys k JOIN accounts a ON a.id = k.account_id
WHERE k.hash = $1 AND k.revoked_at IS NULL;

-- name: add_credit
-- $2 may be negative (a correction); the CHECK refuses a negative balance.
UPDATE accounts SET credit = credit + $2 WHERE id = $1 RETURNING credit;

-- name: reserve_credit
-- Take $2 segments for a run; no row back means the balance is insufficient.
UPDATE accounts SET credit = credit - $2
WHERE id = $1 AND credit >= $2
RETURNING credit;

-- --- senders, contacts, groups, blacklist ----------------------------------------------------

-- name: create_sender
INSERT INTO senders (account_id, address, kind, ton, npi)
VALUES ($1, $2, $3, $4, $5)
RETURNING id;

-- name: senders_by_address
-- A mobile-originated message names the sender it replies to.
SELECT id, account_id, address, kind, ton, npi FROM senders WHERE address = $1;

-- name: upsert_contact
INSERT INTO contacts (account_id, phone, name, labels)
VALUES ($1, $2, $3, $4)
ON CONFLICT (account_id, phone)
DO UPDATE SET name = excluded.name, labels = excluded.labels, updated_at = now()
RETURNING id;

-- name: create_group
INSERT INTO groups (account_id, name) VALUES ($1, $2) RETURNING id;

-- name: add_group_members
INSERT INTO group_members (group_id, contact_id)
SELECT $1, unnest($2::bigint[])
ON CONFLICT DO NOTHING;

-- name: add_to_blacklist
INSERT INTO blacklist (account_id, phone, source)
SELECT $1, unnest($2::text[]), $3
ON CONFLICT DO NOTHING;

-- name: blacklisted_phones
SELECT phone FROM blacklist WHERE account_id = $1;

-- --- campaigns -------------------------------------------------------------------------------

-- name: create_campaign
-- $16 is 'scheduled' or 'running' (campaign table: (new, schedule | run)).
INSERT INTO campaigns (
    account_id, name, sender_id, template, fallback_values, flash, transcode,
    respect_quiet_hours, quiet_hours, scheduled_at, callback_url, campaign_callback_url,
    reminder, ignore_invalid_numbers, mobiles_only, status)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
RETURNING id, created_at;

-- name: get_campaign
SELECT * FROM campaigns WHERE id = $1 AND account_id = $2;

-- name: set_campaign_status
-- Compare-and-set: moves campaign $1 from $2 to $3; no row back means it was not in $2.
UPDATE campaigns SET status = $3, updated_at = now()
WHERE id = $1 AND status = $2
RETURNING id;

-- name: start_campaign
-- Compare-and-set: campaign $1 moves from $2 to 'running' for a run (campaign table:
-- (scheduled | completed | stopped, run) -> running). The schedule is used up (a campaign
-- runs again only when asked), and the last stop's time and reason go.
UPDATE campaigns
SET status = 'running', scheduled_at = NULL, stopped_at = NULL, stop_reason = NULL,
    updated_at = now()
WHERE id = $1 AND status = $2
RETURNING id;

-- name: stop_campaign
-- Compare-and-set: campaign $1 moves from $2 to 'stopped' at $3 for reason $4 ({"code",
-- "message"}). campaign table: (scheduled | running | suspended, stop) -> stopped
UPDATE campaigns
SET status = 'stopped', stopped_at = $3, stop_reason = $4, updated_at = now()
WHERE id = $1 AND status = $2
RETURNING id;

-- name: claim_due_campaigns
-- Scheduled campaigns whose time has come ($1 = now), for one scheduler among several:
WITH due AS (
    SELECT id
    FROM campaigns
    WHERE status = 'scheduled' AND scheduled_at <= $1   -- campaigns_due_idx
    ORDER BY scheduled_at, id
    LIMIT $2
    FOR UPDATE SKIP LOCKED                              -- another herald is starting it
)
-- campaign table: (scheduled, run) -> running
UPDATE campaigns c SET status = 'running', updated_at = now()
FROM due
WHERE c.id = due.id
RETURNING c.id, c.account_id;

-- name: count_campaign_recipients
-- Recipients of campaign $1 just added ($2 sources, $3 how many of each: the rows are COPYed,
-- store/campaigns.py): campaign_recipient_counts, which a campaign's reads show instead of
-- counting its rows.
INSERT INTO campaign_recipient_counts AS c (campaign_id, source, n)
SELECT $1, a.source, a.n FROM unnest($2::text[], $3::bigint[]) AS a(source, n)
ON CONFLICT (campaign_id, source) DO UPDATE SET n = c.n + excluded.n;

-- name: campaign_audience
-- Every recipient of campaign $1 as it stands now: explicit rows, referenced contacts and the
-- current members of referenced groups. Duplicates are removed after E.164 normalisation.
SELECT r.phone_raw, r.name, r.labels, r.source, r.file_row, r.client_ref
FROM campaign_recipients r
WHERE r.campaign_id = $1
UNION ALL
SELECT c.phone, c.name, c.labels, 'contact', NULL, NULL
FROM campaign_contacts cc JOIN contacts c ON c.id = cc.contact_id
WHERE cc.campaign_id = $1
UNION ALL
SELECT c.phone, c.name, c.labels, 'group', NULL, NULL
FROM campaign_groups cg
JOIN group_members gm ON gm.group_id = cg.group_id
JOIN contacts c ON c.id = gm.contact_id
WHERE cg.campaign_id = $1;

-- --- batches ---------------------------------------------------------------------------------

-- name: create_batch
-- batch table: (new, create) -> expanding. Numbered 1, 2, ... within the campaign; $4 is
-- 'run', or 'reminder' for the test numbers' send ahead of a scheduled run.
INSERT INTO batches (campaign_id, number, description, template, status, kind, account_id)
SELECT $1, coalesce(max(number), 0) + 1, $2, $3, 'expanding', $4,
       (SELECT account_id FROM campaigns WHERE id = $1)
FROM batches WHERE campaign_id = $1
RETURNING id, number;

-- name: finish_expansion
-- batch table: (expanding, expanded) -> sending, with the counts the run will cost and the
-- range of the ids its messages took ($5, $6; NULL when it has none). $7: whether some of
-- them are stored after this transaction (a send-now run's rest, campaigns/runs.py).
UPDATE batches
SET status = 'sending', messages_expected = $2, segments_expected = $3, credit_used = $4,
    first_message_id = $5, last_message_id = $6, started_at = now(), rest_pending = $7
WHERE id = $1 AND status = 'expanding'
RETURNING id;

-- name: set_batch_status
-- Compare-and-set: moves batch $1 from $2 to $3 (finished_at set on final states).
UPDATE batches
SET status = $3,
    finished_at = CASE WHEN $3 IN ('stopped', 'completed', 'failed') THEN now() END
WHERE id = $1 AND status = $2
RETURNING id;

-- --- messages: expansion and the dispatcher --------------------------------------------------

-- name: reserve_message_ids
-- Ids for $1 messages, so expansion can COPY messages and parts without a round trip each.
SELECT nextval('messages_id_seq') AS id FROM generate_series(1, $1);

-- name: due_queues
-- The dispatcher's queues: every (batch, route) of a batch that is sending with messages
-- queued or deferred, the earliest not_before among them (in the future when all of them
-- wait: quiet hours, retry backoff), with the campaign and account they belong to, for the
-- fair share (herald/delivery/fair_share.py). Only batches with an id above $1: 0 for all
-- of them (read at a bounded rate), or the newest a dispatcher has seen (read on wake-ups:
-- the runs started since). Never per claim. A batch costs one probe of messages_due_idx per
-- route it has due, and one more that finds no further route: the walk skips from one
-- route to the next (the first entry of each route is its earliest), never reading a
-- queue's backlog.
WITH RECURSIVE queue AS (
    SELECT b.id AS batch_id, f.route, f.next_due, f.campaign_id, f.account_id
    FROM batches b
    CROSS JOIN LATERAL (
        SELECT coalesce(m.route, '') AS route, m.not_before AS next_due, m.campaign_id,
               m.account_id
        FROM messages m
        WHERE m.batch_id = b.id AND m.status IN ('queued', 'deferred')
        ORDER BY coalesce(m.route, ''), m.not_before, m.id
        LIMIT 1
    ) f
    WHERE b.status = 'sending' AND b.id > $1                    -- batches_sending_idx
    UNION ALL
    SELECT q.batch_id, n.route, n.next_due, q.campaign_id, q.account_id
    FROM queue q
    CROSS JOIN LATERAL (
        SELECT coalesce(m.route, '') AS route, m.not_before AS next_due
        FROM messages m
        WHERE m.batch_id = q.batch_id AND coalesce(m.route, '') > q.route
          AND m.status IN ('queued', 'deferred')
        ORDER BY coalesce(m.route, ''), m.not_before, m.id
        LIMIT 1
    ) n
)
SELECT batch_id, route, next_due, campaign_id, account_id FROM queue;

-- name: newest_sending_batch
-- The newest batch sending (batches_sending_idx, read backwards): where the next read of
-- the newest batches' queues starts (see due_queues).
SELECT coalesce(max(id), 0) FROM batches WHERE status = 'sending';

-- name: queue_owners
-- What the fair share needs to know of campaigns $1: the traffic class, and the weight and
-- priority of the account. Read for campaigns new to a dispatcher, and now and then for all
-- it knows (an operator may change an account's share), not at every read of the queues.
SELECT c.id AS campaign_id, c.traffic_class, a.weight, a.priority
FROM campaigns c JOIN accounts a ON a.id = c.account_id
WHERE c.id = ANY($1::bigint[]);

-- name: claim_due_messages
-- The dispatcher's claim: lease to dispatcher $1, until $6 ($5 = now), up to $4[i] due
-- messages of each queue the fair share chose (batch $2[i], route $3[i]; see due_queues),
-- and return them with their parts still to send (one row per part, in order; a message
-- with no part left to send comes back once, with NULL part columns). The batches' progress
-- counters move with them (batch_counts: the messages, and their pending parts, which count
-- as their message does).
WITH due AS (
    -- Per chosen queue, its oldest due messages read in order from messages_due_idx: a
    -- claim reads and locks only the rows it takes, of the queues it was given, however
    -- many batches are sending. A batch no longer sending (suspended or stopped since the
    -- queues were read) gives nothing. Rows another dispatcher has locked are skipped, not
    -- waited for.
    SELECT d.id, d.status
    FROM unnest($2::bigint[], $3::text[], $4::integer[]) AS q(batch_id, route, quota)
    CROSS JOIN LATERAL (
        SELECT m.id, m.status
        FROM messages m
        WHERE m.batch_id = q.batch_id AND coalesce(m.route, '') = q.route
          AND m.status IN ('queued', 'deferred')
          AND m.not_before <= $5
          -- Inside the probe, a check per queue by primary key: joined, the planner hashed
          -- every batch there is (a sequential scan, growing with every batch ever run).
          AND EXISTS (SELECT FROM batches b WHERE b.id = q.batch_id AND b.status = 'sending')
        ORDER BY m.not_before, m.id
        LIMIT q.quota
        FOR UPDATE SKIP LOCKED
    ) d
),
claimed AS (
    -- message table: (queued | deferred, claim) -> sending
    -- The ids go in as an array, not as a join with `due`: joined, the planner hashes them
    -- and reads the whole messages table once per claim (a sequential scan that grows with
    -- every batch ever expanded); as an array it probes messages_pkey once per id.
    UPDATE messages m
    SET status = 'sending', lease_owner = $1, lease_expires = $6, attempts = m.attempts + 1
    WHERE m.id = ANY (ARRAY(SELECT id FROM due))
    RETURNING m.id, m.batch_id, coalesce(m.route, '') AS route, m.campaign_id, m.account_id,
              m.phone, m.tz, m.data_coding, m.esm_class, m.part_count, m.attempts
),
claimed_parts AS (
    SELECT c.*, p.seq, p.short_message, p.tlvs
    FROM claimed c
    LEFT JOIN LATERAL (
        -- Per claimed message, its pending parts from parts_pkey; OFFSET 0 keeps this a
        -- per-row probe, for the same reason as above (else: a hash join over all of parts).
        SELECT p.seq, p.short_message, p.tlvs
        FROM parts p
        WHERE p.message_id = c.id AND p.state = 'pending'
        OFFSET 0
    ) p ON true
),
counted AS (
    INSERT INTO batch_counts (batch_id, kind, status, n)
    SELECT c.batch_id, k.kind, k.status, sum(k.n)
    FROM (SELECT id, batch_id, count(seq) AS pending FROM claimed_parts GROUP BY id, batch_id) c
    JOIN due d ON d.id = c.id
    CROSS JOIN LATERAL (VALUES ('messages', d.status, -1), ('messages', 'sending', 1),
                               ('segments', d.status, -c.pending),
                               ('segments', 'sending', c.pending)) AS k(kind, status, n)
    GROUP BY 1, 2, 3
    HAVING sum(k.n) <> 0
)
SELECT id, batch_id, route, campaign_id, account_id, phone, tz, data_coding, esm_class,
       part_count, attempts, seq, short_message, tlvs
FROM claimed_parts
ORDER BY id, seq;

-- name: write_results
-- One flush's writes in one statement (atomic on its own, so the common flush needs no
-- explicit transaction): submit_sm_resp results ($1), results whose receipt arrived in the
-- same flush ($2: the part is written once, with both), both as part_outcome rows,
-- and message statuses as a batched compare-and-set ($3, status_move rows; each moves from
-- its expected status to the new one with the reason that goes with it; leaving 'sending'
-- clears the lease). Times come as epoch seconds (see the row types in schema.sql). Returns
-- the messages moved. The batches' progress counters move in the same statement.
-- Each update is driven by its rows: a probe of the primary key per row, the unnested array
-- outside (its plan is generic after five runs: the array's size unknown, ten rows guessed).
-- A key list beside the join (`p.message_id = ANY (ARRAY(...))`) let that plan walk the keys
-- and read the whole array again for each one: where the statistics said few parts were
-- pending (a run beside a million old ones, bench/retention.py), a flush of 1,157 receipted
-- parts compared 1,337,492 pairs and took 470 ms.
-- part table: (pending, accept) -> submitted, (pending, refuse) -> refused,
-- (pending, retry) -> pending, (pending, lose) -> unknown; then (submitted, <receipt state>).
WITH results AS (
    UPDATE parts p
    SET state = r.state, smsc_id = r.smsc_id, canonical_id = r.canonical_id,
        command_status = r.command_status, submitted_at = to_timestamp(r.submitted_at),
        bind = r.bind
    FROM unnest($1::part_outcome[]) AS r
    WHERE p.message_id = r.message_id AND p.seq = r.seq AND p.state = 'pending'   -- parts_pkey
    RETURNING p.message_id, p.state, p.receipt_at IS NOT NULL AS receipted
),
receipted AS (
    UPDATE parts p
    SET state = r.state, smsc_id = r.smsc_id, canonical_id = r.canonical_id,
        command_status = r.command_status, submitted_at = to_timestamp(r.submitted_at),
        bind = r.bind, receipt_state = r.receipt_state, receipt_error = r.receipt_error,
        network_error = r.network_error, receipt_at = to_timestamp(r.receipt_at)
    FROM unnest($2::part_outcome[]) AS r
    WHERE p.message_id = r.message_id AND p.seq = r.seq AND p.state = 'pending'   -- parts_pkey
    RETURNING p.message_id, p.state, true AS receipted
),
first_submit AS (             -- parts accepted and receipted in this flush: when they went,
    -- by message, as one value (a map) read once: with the arrays' sizes unknown to a generic
    -- plan, a table of one row per message was rescanned for every status move (100 moves:
    -- 2.1 ms of a 3.0 ms statement), so the flush had to be planned anew each time.
    SELECT jsonb_object_agg(message_id, at) AS at
    FROM (SELECT message_id, min(submitted_at) AS at
          FROM unnest($2::part_outcome[])
          GROUP BY message_id) AS by_message
),
moved AS (                    -- message table: the row the caller decided on
    UPDATE messages m
    SET status = r.status,
        reason = r.reason,
        not_before = coalesce(to_timestamp(r.not_before), m.not_before),
        bind = coalesce(r.bind, m.bind),
        lease_owner = CASE WHEN r.status = 'sending' THEN m.lease_owner END,
        lease_expires = CASE WHEN r.status = 'sending' THEN m.lease_expires END,
        -- A message whose receipts came in the flush that stores its submit results goes from
        -- 'sending' straight to its final status: it was sent when its parts were accepted
        -- (their times are in $2 here, or already stored when the writer settles it from its
        -- parts; by parts_pkey, and only for such a message).
        sent_at = CASE
            WHEN r.status = 'sent' THEN to_timestamp(r.at)
            WHEN m.sent_at IS NULL AND r.expected = 'sending'
                 AND r.status IN ('delivered', 'failed', 'unknown')
            THEN coalesce(to_timestamp(((SELECT at FROM first_submit) ->> r.id::text)::float8),
                          (SELECT min(p.submitted_at) FROM parts p
                           WHERE p.message_id = m.id AND p.smsc_id IS NOT NULL))
            ELSE m.sent_at END,
        done_at = CASE WHEN r.status IN ('delivered', 'failed', 'rejected', 'unknown', 'stopped')
                       THEN to_timestamp(r.at) ELSE m.done_at END
    FROM unnest($3::status_move[]) AS r
    WHERE m.id = r.id AND m.status = r.expected                   -- messages_pkey
    RETURNING m.id, m.batch_id, m.part_count, r.expected AS was, r.status AS now
),
-- Counting. Every CTE reads the rows as they were before this statement, so: a stored part
-- was pending and counted as its message's status before; a moved message's parts still
-- pending after it are those pending before, less the ones it stored.
stored AS (
    SELECT * FROM results UNION ALL SELECT * FROM receipted
),
stored_by AS (
    SELECT message_id AS id, count(*) AS n FROM stored GROUP BY message_id
),
touched AS (              -- every message concerned: its batch, its status before and after
    SELECT id, batch_id, part_count, was, now FROM moved
    UNION ALL
    SELECT m.id, m.batch_id, m.part_count, m.status, m.status
    FROM messages m
    WHERE m.id = ANY (ARRAY(SELECT id FROM stored_by EXCEPT SELECT id FROM moved))
),
still_pending AS (        -- only messages that moved with parts this statement did not store
    SELECT p.message_id AS id, count(*) - coalesce(max(s.n), 0) AS n
    FROM parts p LEFT JOIN stored_by s ON s.id = p.message_id
    WHERE p.message_id = ANY (ARRAY(
            SELECT t.id FROM touched t LEFT JOIN stored_by s ON s.id = t.id
            WHERE t.was <> t.now AND t.part_count > coalesce(s.n, 0)))
      AND p.state = 'pending'
    GROUP BY p.message_id
),
counted AS (
    INSERT INTO batch_counts (batch_id, kind, status, n)
    SELECT batch_id, kind, status, sum(n)
    FROM (
        SELECT batch_id, 'messages' AS kind, was AS status, -1 AS n FROM moved
        UNION ALL
        SELECT batch_id, 'messages', now, 1 FROM moved
        UNION ALL
        SELECT t.batch_id, 'segments', t.was, -1 FROM stored s JOIN touched t ON t.id = s.message_id
        UNION ALL
        SELECT t.batch_id, 'segments', segment_status(t.now, s.state, s.receipted), 1
        FROM stored s JOIN touched t ON t.id = s.message_id
        UNION ALL
        SELECT t.batch_id, 'segments', t.was, -p.n FROM still_pending p JOIN touched t USING (id)
        UNION ALL
        SELECT t.batch_id, 'segments', t.now, p.n FROM still_pending p JOIN touched t USING (id)
    ) AS delta
    GROUP BY batch_id, kind, status
    HAVING sum(n) <> 0
)
SELECT id FROM moved;

-- name: message_part_states
-- Current status and part states of messages $1, to settle them (states.settle_message).
SELECT m.id, m.status, m.campaign_id, array_agg(p.state ORDER BY p.seq) AS part_states
FROM messages m JOIN parts p ON p.message_id = m.id
WHERE m.id = ANY($1::bigint[])
GROUP BY m.id;

-- name: renew_leases
-- A live dispatcher ($1) keeps its leases: those expiring before $2 run until $3. Parts wait in
-- a bind's queue behind its window, and a slow bind (a low rate, slow answers, throttling) can
-- hold them longer than lease_seconds: without this their leases expired while they were still
-- to be sent, and reclaim_expired_leases made them unknown (sent and delivered all the same),
-- or queued them again under resend (sent twice). A dead dispatcher renews nothing: its
-- leases expire lease_seconds after its last renewal at most.
UPDATE messages m
SET lease_expires = $3
WHERE m.status = 'sending'                                    -- messages_lease_idx
  AND m.lease_expires < $2
  AND m.lease_owner = $1;

-- name: reclaim_expired_leases
-- Leases of dispatchers that died ($1 = now), or every lease of owner $3 (this process's name,
-- restarted after a crash). A dispatcher hands what it claims to its binds at once, so a
-- leased message may have gone out. Policy mark_unknown ($4 false): it becomes unknown, never
-- re-sent blindly. Policy resend ($4 true): it goes back to the queue (parts already accepted
-- keep their state and are not resent). At most the dispatcher's capacity is leased at any
-- time (docs/architecture.md, durability).
-- Under mark_unknown the parts still 'pending' of a message made unknown become unknown too
-- (whether they went out is not known either); parts with a submit result keep it, and their
-- receipts still land.
-- message table: (sending, lose) -> unknown | (sending, release) -> queued
-- part table: (pending, lose) -> unknown
WITH expired AS (
    -- The first bound on lease_expires is what makes the walk of messages_lease_idx stop at
    -- the first live lease: on its own, the OR below is only a filter, and every tick read
    -- each live lease (up to the in-flight window) to find none expired. With an owner
    -- (once, at start) every lease is a candidate.
    SELECT m.id
    FROM messages m
    WHERE m.status = 'sending'                                -- messages_lease_idx
      AND m.lease_expires < CASE WHEN $3::text IS NULL THEN $1::timestamptz ELSE 'infinity' END
      AND (m.lease_expires < $1 OR m.lease_owner = $3)
    ORDER BY m.lease_expires
    LIMIT $2
    FOR UPDATE OF m SKIP LOCKED
),
lost_parts AS (
    UPDATE parts p SET state = 'unknown'
    WHERE NOT $4
      AND p.message_id = ANY (ARRAY(SELECT id FROM expired))        -- parts_pkey
      AND p.state = 'pending'
),
released AS (
    UPDATE messages m
    SET status = CASE WHEN $4 THEN 'queued' ELSE 'unknown' END,
        reason = CASE WHEN $4 THEN m.reason ELSE 'lease_expired' END,
        done_at = CASE WHEN $4 THEN m.done_at ELSE $1 END,
        lease_owner = NULL, lease_expires = NULL
    WHERE m.id = ANY (ARRAY(SELECT id FROM expired))    -- as an array: see claim_due_messages
    RETURNING m.id, m.batch_id, m.status
),
-- Counting (batch_counts): each message leaves 'sending'; its pending parts (read as they were
-- before this statement) count as it does: queued again, or unknown as their own state.
pending AS (
    SELECT p.message_id AS id, count(*) AS n FROM parts p
    WHERE p.message_id = ANY (ARRAY(SELECT id FROM expired)) AND p.state = 'pending'
    GROUP BY p.message_id
),
counted AS (
    INSERT INTO batch_counts (batch_id, kind, status, n)
    SELECT batch_id, kind, status, sum(n)
    FROM (
        SELECT batch_id, 'messages' AS kind, 'sending' AS status, -1 AS n FROM released
        UNION ALL
        SELECT batch_id, 'messages', status, 1 FROM released
        UNION ALL
        SELECT r.batch_id, 'segments', 'sending', -p.n FROM released r JOIN pending p USING (id)
        UNION ALL
        SELECT r.batch_id, 'segments', r.status, p.n FROM released r JOIN pending p USING (id)
    ) AS delta
    GROUP BY batch_id, kind, status
    HAVING sum(n) <> 0
)
SELECT id, status FROM released;

-- --- receipts --------------------------------------------------------------------------------
-- A receipt belongs to the newest part with its receipt group and canonical id that still
-- waits for a receipt, submitted no later than the receipt came in and no earlier than the
-- receipt window before (validity plus margin: the sweep gives up on older parts). Carriers
-- reuse ids (a restart resets their counter, short ids wrap), so an older part with the same
-- id, already final or long given up, never takes a newer message's receipt, and a receipt
-- never lands on a part submitted after it arrived. docs/protocol.md §5.8 has the rules.

-- name: apply_receipts
-- A batch of receipts, at most one per receipt group and canonical id (the caller keeps one),
-- each applied to the part it belongs to (see above; $10 = the receipt window in seconds).
-- Returns one row per receipt applied, by its 1-based position in the arrays, with its part's
-- submitted_at as epoch seconds; a receipt missing from the result found no part waiting for
-- it: the caller parks it as an orphan (park_orphan_receipts), since its part's id may not be
-- stored yet. A single-part message waiting in 'sent' follows its part at once: $8 and $9 are
-- the status and reason the caller's state machine gives it for each receipt ('sent' where it
-- stays), and `settled` says it moved. Every other applied receipt leaves its message for the
-- caller to settle from all its parts (multipart aggregation).
-- part table: (submitted | enroute | accepted, <receipt state>) -> <receipt state>
-- message table: (sent, <its single part's final receipt>) -> delivered | failed | unknown
WITH r AS (
    -- $7, the receipts' times, as epoch seconds: see the row types in schema.sql.
    SELECT r.bind, r.canonical_id, r.state, r.receipt_state, r.receipt_error, r.network_error,
           to_timestamp(r.receipt_epoch) AS receipt_at, r.single_status, r.single_reason, r.pos
    FROM unnest($1::text[], $2::text[], $3::text[], $4::smallint[], $5::text[], $6::text[],
                $7::float8[], $8::text[], $9::text[])
         WITH ORDINALITY
         AS r(bind, canonical_id, state, receipt_state, receipt_error, network_error,
              receipt_epoch, single_status, single_reason, pos)
),
found AS (
    -- One walk of parts_receipt_idx (bind, canonical_id, submitted_at) per receipt, backwards
    -- from the receipt's time: the first entry still waiting is its part. OFFSET 0 is implied
    -- by the LIMIT: the planner cannot flatten this into a hash join over every part that
    -- has an id, which it prefers when its statistics still show a fresh batch as 'pending'.
    SELECT r.*, p.message_id, p.seq, p.submitted_at
    FROM r CROSS JOIN LATERAL (
        SELECT p.message_id, p.seq, p.submitted_at
        FROM parts p
        WHERE p.bind = r.bind AND p.canonical_id = r.canonical_id
          AND p.submitted_at <= r.receipt_at
          AND p.submitted_at >= r.receipt_at - make_interval(secs => $10::float8)
          AND p.state IN ('submitted', 'enroute', 'accepted')
        ORDER BY p.submitted_at DESC
        LIMIT 1
    ) p
),
applied AS (
    -- Compare-and-set on the part's state as well: a receipt another herald process applied
    -- since this statement's snapshot is not overwritten (that receipt is then not applied
    -- here, and the caller parks it).
    UPDATE parts p
    SET state = f.state, receipt_state = f.receipt_state, receipt_error = f.receipt_error,
        network_error = f.network_error, receipt_at = f.receipt_at
    FROM found f
    WHERE p.message_id = f.message_id AND p.seq = f.seq          -- parts_pkey
      AND p.state IN ('submitted', 'enroute', 'accepted')
    RETURNING f.pos, f.message_id, f.seq, f.submitted_at, f.receipt_at, f.single_status,
              f.single_reason, f.state
),
single AS MATERIALIZED (
    -- 'sent' comes in as a column, not as a constant in the UPDATE below: given the constant,
    -- the planner may walk every 'sent' message in messages_sent_idx (and its dead entries)
    -- instead of probing the primary key once per receipt.
    SELECT a.message_id, a.single_status, a.single_reason, a.receipt_at, 'sent' AS expected
    FROM applied a
    WHERE a.single_status <> 'sent'
),
settled AS (
    -- Driven by its rows, a primary key probe each (see write_results).
    UPDATE messages m
    SET status = s.single_status, reason = s.single_reason, done_at = s.receipt_at
    FROM single s
    WHERE m.id = s.message_id AND m.status = s.expected           -- messages_pkey
      AND m.part_count = 1
    RETURNING m.id, m.campaign_id, m.batch_id, s.single_status
),
-- Counting (batch_counts): an applied part counted as sent (it was waiting for its receipt)
-- and now counts by its receipt's state; a settled message moves from sent.
batch_of AS (
    SELECT m.id, m.batch_id FROM messages m
    WHERE m.id = ANY (ARRAY(SELECT message_id FROM applied))      -- messages_pkey
),
counted AS (
    INSERT INTO batch_counts (batch_id, kind, status, n)
    SELECT batch_id, kind, status, sum(n)
    FROM (
        SELECT b.batch_id, 'segments' AS kind, 'sent' AS status, -1 AS n
        FROM applied a JOIN batch_of b ON b.id = a.message_id
        UNION ALL
        SELECT b.batch_id, 'segments', segment_status('sent', a.state, true), 1
        FROM applied a JOIN batch_of b ON b.id = a.message_id
        UNION ALL
        SELECT batch_id, 'messages', 'sent', -1 FROM settled
        UNION ALL
        SELECT batch_id, 'messages', single_status, 1 FROM settled
    ) AS delta
    GROUP BY batch_id, kind, status
    HAVING sum(n) <> 0
)
SELECT a.pos, a.message_id, a.seq, date_part('epoch', a.submitted_at) AS submitted_at,
       s.id IS NOT NULL AS settled, s.campaign_id
FROM applied a LEFT JOIN settled s ON s.id = a.message_id
ORDER BY a.pos;

-- name: park_orphan_receipts
-- Receipts no part waits for yet; $8, when they were received, as epoch seconds.
INSERT INTO orphan_receipts (bind, canonical_id, state, receipt_state, receipt_error,
                             network_error, payload, received_at)
SELECT r.bind, r.canonical_id, r.state, r.receipt_state, r.receipt_error, r.network_error,
       r.payload, to_timestamp(r.received_epoch)
FROM unnest($1::text[], $2::text[], $3::text[], $4::smallint[], $5::text[], $6::text[],
            $7::jsonb[], $8::float8[])
     AS r(bind, canonical_id, state, receipt_state, receipt_error, network_error, payload,
          received_epoch);

-- name: take_orphans_for_ids
-- Orphans with the receipt groups and canonical ids ($1, $2) a flush has just stored, that a
-- part waiting for a receipt may own: one submitted before the orphan was received and within
-- the receipt window ($3 seconds) of it, so a stale orphan never lands on a newer part that
-- got its id again. Removed here and replayed through apply_receipts in the same transaction
-- (which parks again any that still finds no part). One probe of orphan_receipts_id_idx per
-- id: the cost follows the flush, not the number of orphans waiting.
DELETE FROM orphan_receipts o
WHERE o.id = ANY (ARRAY(
    SELECT w.id
    FROM unnest($1::text[], $2::text[]) AS k(bind, canonical_id)
    CROSS JOIN LATERAL (
        SELECT o.id
        FROM orphan_receipts o
        CROSS JOIN LATERAL (
            -- As in apply_receipts: newest first, so the walk stops at the part just stored
            -- instead of reading every older part that had the id.
            SELECT 1
            FROM parts p
            WHERE p.bind = o.bind AND p.canonical_id = o.canonical_id
              AND p.submitted_at <= o.received_at
              AND p.submitted_at >= o.received_at - make_interval(secs => $3::float8)
              AND p.state IN ('submitted', 'enroute', 'accepted')
            ORDER BY p.submitted_at DESC
            LIMIT 1
        ) p
        WHERE o.bind = k.bind AND o.canonical_id = k.canonical_id
        OFFSET 0
    ) w
))
RETURNING o.bind, o.canonical_id, o.state, o.receipt_state, o.receipt_error, o.network_error,
          date_part('epoch', o.received_at) AS received_at, o.payload;

-- name: take_matching_orphans
-- The periodic sweep: up to $2 orphans (oldest first) that a part waiting for a receipt may
-- own, as in take_orphans_for_ids ($1 = the receipt window in seconds), whoever parked them
-- (another herald process bound to the same carrier account may have).
DELETE FROM orphan_receipts o
WHERE o.id = ANY (ARRAY(
    SELECT o.id
    FROM orphan_receipts o
    CROSS JOIN LATERAL (
        SELECT 1
        FROM parts p
        WHERE p.bind = o.bind AND p.canonical_id = o.canonical_id
          AND p.submitted_at <= o.received_at
          AND p.submitted_at >= o.received_at - make_interval(secs => $1::float8)
          AND p.state IN ('submitted', 'enroute', 'accepted')
        ORDER BY p.submitted_at DESC
        LIMIT 1
    ) p
    ORDER BY o.received_at
    LIMIT $2
))
RETURNING o.bind, o.canonical_id, o.state, o.receipt_state, o.receipt_error, o.network_error,
          date_part('epoch', o.received_at) AS received_at, o.payload;

-- name: orphans_waiting
SELECT EXISTS (SELECT 1 FROM orphan_receipts);

-- name: drop_duplicate_orphans
-- Orphans received before $1 (long enough ago that every part submitted before them has its
-- submit result stored), that no part waits for, and whose part had already taken its final
-- receipt by then: the same state again (the carrier resent it) or an intermediate state
-- overtaken by the final one. Up to $3, oldest first; $2 = the receipt window in seconds.
-- Counted as duplicates. Each test is a probe of parts_receipt_idx.
DELETE FROM orphan_receipts o
WHERE o.id = ANY (ARRAY(
    SELECT o.id
    FROM orphan_receipts o
    WHERE o.received_at < $1                                     -- orphan_receipts_received_idx
      AND EXISTS (SELECT 1 FROM parts p
                  WHERE p.bind = o.bind AND p.canonical_id = o.canonical_id
                    AND p.submitted_at <= o.received_at
                    AND p.submitted_at >= o.received_at - make_interval(secs => $2::float8)
                    AND p.receipt_at <= o.received_at
                    AND (p.state = o.state
                         OR (o.state IN ('enroute', 'accepted')
                             AND p.state NOT IN ('submitted', 'enroute', 'accepted'))))
      AND NOT EXISTS (SELECT 1 FROM parts p
                      WHERE p.bind = o.bind AND p.canonical_id = o.canonical_id
                        AND p.submitted_at <= o.received_at
                        AND p.submitted_at >= o.received_at - make_interval(secs => $2::float8)
                        AND p.state IN ('submitted', 'enroute', 'accepted'))
    ORDER BY o.received_at
    LIMIT $3
))
RETURNING o.id;

-- name: drop_old_orphans
-- Up to $2 orphans older than $1 (the orphan time to live) that never found their part:
-- given up on, and reported one by one.
DELETE FROM orphan_receipts o
WHERE o.id = ANY (ARRAY(
    SELECT id FROM orphan_receipts
    WHERE received_at < $1                                       -- orphan_receipts_received_idx
    ORDER BY received_at
    LIMIT $2
))
RETURNING o.bind, o.canonical_id, o.state, o.received_at, o.payload;

-- name: sweep_unreceipted
-- Messages sent before $1 (validity + margin ago) still without a final receipt ($2 = now).
-- part table: (submitted | enroute | accepted, sweep) -> expired;
-- message table: (sent, expire) -> unknown
WITH stale AS (
    SELECT id FROM messages
    WHERE status = 'sent' AND sent_at < $1                 -- messages_sent_idx
    ORDER BY sent_at
    LIMIT $3
    FOR UPDATE SKIP LOCKED
),
parts_swept AS (
    -- The ids go in as arrays, here and below, as in claim_due_messages: joined with
    -- `stale`, the planner hashed them and read all of parts and of messages at every sweep,
    -- even with nothing stale.
    UPDATE parts p SET state = 'expired'
    WHERE p.message_id = ANY (ARRAY(SELECT id FROM stale))
      AND p.state IN ('submitted', 'enroute', 'accepted')
    RETURNING p.message_id, p.receipt_at IS NOT NULL AS receipted
),
expired AS (
    UPDATE messages m
    SET status = 'unknown', reason = 'no_final_receipt', done_at = $2
    WHERE m.id = ANY (ARRAY(SELECT id FROM stale))
    RETURNING m.id, m.batch_id
),
-- Counting (batch_counts): sent -> unknown; a swept part counted as sent, now as expired
-- (unknown without a receipt, failed after an intermediate one: states.segment_status).
counted AS (
    INSERT INTO batch_counts (batch_id, kind, status, n)
    SELECT batch_id, kind, status, sum(n)
    FROM (
        SELECT batch_id, 'messages' AS kind, 'sent' AS status, -1 AS n FROM expired
        UNION ALL
        SELECT batch_id, 'messages', 'unknown', 1 FROM expired
        UNION ALL
        SELECT e.batch_id, 'segments', 'sent', -1
        FROM parts_swept p JOIN expired e ON e.id = p.message_id
        UNION ALL
        SELECT e.batch_id, 'segments', segment_status('unknown', 'expired', p.receipted), 1
        FROM parts_swept p JOIN expired e ON e.id = p.message_id
    ) AS delta
    GROUP BY batch_id, kind, status
    HAVING sum(n) <> 0
)
-- Counted once per message, not by a subquery per returned row (n² over a full sweep).
SELECT e.id, coalesce(c.parts, 0) AS parts_swept
FROM expired e
LEFT JOIN (SELECT message_id, count(*) AS parts FROM parts_swept GROUP BY message_id) c
       ON c.message_id = e.id;

-- --- callbacks -------------------------------------------------------------------------------

-- name: enqueue_callback
INSERT INTO callback_outbox (account_id, url, body, kind) VALUES ($1, $2, $3, $4)
RETURNING id;

-- name: claim_due_callbacks
-- Up to $2 due callbacks ($1 = now); pushing next_attempt_at to $3 leases them, so another
-- worker skips them even after this transaction commits.
WITH due AS (
    SELECT id
    FROM callback_outbox
    WHERE status = 'pending' AND next_attempt_at <= $1      -- callback_outbox_due_idx
    ORDER BY next_attempt_at, id
    LIMIT $2
    FOR UPDATE SKIP LOCKED
)
-- callback table: (pending, retry) -> pending
UPDATE callback_outbox c
SET next_attempt_at = $3, attempts = c.attempts + 1
FROM due
WHERE c.id = due.id
RETURNING c.id, c.account_id, c.url, c.body, c.kind, c.attempts;

-- name: callback_delivered
-- callback table: (pending, deliver) -> delivered
UPDATE callback_outbox SET status = 'delivered', last_error = NULL
WHERE id = $1 AND status = 'pending';

-- name: callback_failed
-- callback table: (pending, retry) -> pending at $3, or (pending, give_up) -> dead when $3
-- is NULL.
UPDATE callback_outbox
SET status = CASE WHEN $3::timestamptz IS NULL THEN 'dead' ELSE 'pending' END,
    next_attempt_at = coalesce($3, next_attempt_at), last_error = $2
WHERE id = $1 AND status = 'pending';

-- --- the demo account of `make run` ----------------------------------------------------------

-- name: get_account_by_name
SELECT id, name, credit FROM accounts WHERE name = $1;

-- --- what operators watch ------------------------------------------------------------------

-- name: backlog
-- Messages of sending batches waiting to be sent, database-wide: queued, deferred, and the
-- seconds since the oldest one due now ($1) became due. Suspended and stopped batches' are not
-- waiting to be sent. Per sending batch, messages_due_idx holds exactly these rows.
SELECT count(*) FILTER (WHERE m.status = 'queued') AS queued,
       count(*) FILTER (WHERE m.status = 'deferred') AS deferred,
       coalesce(extract(epoch FROM $1 - min(m.not_before) FILTER (WHERE m.not_before <= $1)),
                0)::float8 AS oldest_due
FROM batches b
JOIN messages m ON m.batch_id = b.id AND m.status IN ('queued', 'deferred')
WHERE b.status = 'sending';

-- name: active_accounts_credit
-- The credit of the accounts whose campaigns ran since $2, and what they used since $3, at
-- most $1 of them (the most used first): for herald_account_credit_segments.
SELECT a.name, a.credit,
       coalesce(sum(b.credit_used) FILTER (WHERE b.created_at >= $3), 0)::bigint AS used_24h
FROM batches b
JOIN campaigns c ON c.id = b.campaign_id
JOIN accounts a ON a.id = c.account_id
WHERE b.created_at >= $2
GROUP BY a.id
ORDER BY used_24h DESC, a.id
LIMIT $1;
