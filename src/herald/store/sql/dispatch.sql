-- Named queries of the send path beside queries.sql: dispatch context, completion of batches
-- and campaigns, due campaigns, events, which campaigns want callbacks.

-- name: dispatch_context
-- Per campaign, what sending needs: the sender as a source address, quiet hours, callbacks,
-- the validity its messages ask for (NULL: the bind's).
SELECT c.id, c.account_id, c.respect_quiet_hours, c.quiet_hours, c.callback_url,
       c.validity_minutes, s.address AS sender, s.ton AS sender_ton, s.npi AS sender_npi
FROM campaigns c JOIN senders s ON s.id = c.sender_id
WHERE c.id = ANY($1::bigint[]);

-- name: finish_batches
-- Batches whose every message is final. Each probe is a walk, per open batch, of one of the
-- partial status indexes that stops at the first row found. OFFSET 0 keeps it a per-batch
-- probe: the planner would otherwise make it an anti-join over a sequential scan of all of
-- messages at every maintenance tick. The first and last probes order as messages_due_idx
-- and messages_sent_batch_idx do, so each index is walked from the batch's first entry; a
-- sequential scan, which the planner picks while its statistics show most rows in that
-- status (a batch just expanded, or another batch's messages waiting for receipts), reads
-- the whole table when this batch has none.
-- A batch whose rest is still to be stored (rest_pending) is not finished, whatever its
-- stored messages say.
-- Completions skip the rows another transaction holds (the four statements here): the
-- maintenance tick (every batch) and the writer's check (its flush's campaigns) ran at once,
-- each updating the rows it found in its own order, and PostgreSQL broke the deadlock by
-- failing the tick (bench/fairness.py: 300 small campaigns completing). What one skips, the
-- other is completing, or the next tick finds. FOR NO KEY UPDATE is the lock the UPDATE takes
-- anyway: it leaves the key-share locks of the flush's inserts in batch_counts alone.
-- batch table: (sending | suspended, complete) -> completed
UPDATE batches b SET status = 'completed', finished_at = now()
FROM (SELECT f.id FROM batches f
      WHERE f.status IN ('sending', 'suspended') AND NOT f.rest_pending
        AND NOT EXISTS (SELECT 1 FROM messages m
                        WHERE m.batch_id = f.id AND m.status IN ('queued', 'deferred')
                        ORDER BY coalesce(m.route, ''), m.not_before, m.id OFFSET 0)
        AND NOT EXISTS (SELECT 1 FROM messages m
                        WHERE m.batch_id = f.id AND m.status = 'sending' OFFSET 0)
        AND NOT EXISTS (SELECT 1 FROM messages m
                        WHERE m.batch_id = f.id AND m.status = 'sent'
                        ORDER BY m.sent_at OFFSET 0)          -- messages_sent_batch_idx
      FOR NO KEY UPDATE SKIP LOCKED) AS done
WHERE b.id = done.id
RETURNING b.id, b.campaign_id;

-- name: finish_campaigns
-- Running or suspended campaigns whose batches are all final.
-- Rows another transaction holds are skipped (finish_batches).
-- campaign table: (running | suspended, complete) -> completed
UPDATE campaigns c SET status = 'completed', updated_at = now()
FROM (SELECT f.id FROM campaigns f
      WHERE f.status IN ('running', 'suspended')
        AND EXISTS (SELECT 1 FROM batches b WHERE b.campaign_id = f.id)
        AND NOT EXISTS (SELECT 1 FROM batches b
                        WHERE b.campaign_id = f.id
                          AND b.status IN ('expanding', 'sending', 'suspended'))
      FOR NO KEY UPDATE SKIP LOCKED) AS done
WHERE c.id = done.id
RETURNING c.id, c.account_id, c.name, c.campaign_callback_url;

-- name: finish_campaign_batches
-- finish_batches for the open batches of campaigns $1 only (the UNIQUE (campaign_id, number)
-- index finds them): the writer's check after a flush made some of their messages final, so a
-- campaign completes right after its last final status instead of at the next maintenance tick.
-- Rows another transaction holds are skipped, and the probes order as in finish_batches: an
-- order that is not messages_due_idx's sorted every queued message of a sending batch at each
-- check (20,000 read for one).
-- batch table: (sending | suspended, complete) -> completed
UPDATE batches b SET status = 'completed', finished_at = now()
FROM (SELECT f.id FROM batches f
      WHERE f.campaign_id = ANY($1::bigint[])
        AND f.status IN ('sending', 'suspended') AND NOT f.rest_pending
        AND NOT EXISTS (SELECT 1 FROM messages m
                        WHERE m.batch_id = f.id AND m.status IN ('queued', 'deferred')
                        ORDER BY coalesce(m.route, ''), m.not_before, m.id OFFSET 0)
        AND NOT EXISTS (SELECT 1 FROM messages m
                        WHERE m.batch_id = f.id AND m.status = 'sending' OFFSET 0)
        AND NOT EXISTS (SELECT 1 FROM messages m
                        WHERE m.batch_id = f.id AND m.status = 'sent'
                        ORDER BY m.sent_at OFFSET 0)          -- messages_sent_batch_idx
      FOR NO KEY UPDATE SKIP LOCKED) AS done
WHERE b.id = done.id
RETURNING b.id, b.campaign_id;

-- name: finish_listed_campaigns
-- finish_campaigns for campaigns $1 only (by primary key); rows another transaction holds
-- are skipped (finish_batches).
-- campaign table: (running | suspended, complete) -> completed
UPDATE campaigns c SET status = 'completed', updated_at = now()
FROM (SELECT f.id FROM campaigns f
      WHERE f.id = ANY($1::bigint[])
        AND f.status IN ('running', 'suspended')
        AND EXISTS (SELECT 1 FROM batches b WHERE b.campaign_id = f.id)
        AND NOT EXISTS (SELECT 1 FROM batches b
                        WHERE b.campaign_id = f.id
                          AND b.status IN ('expanding', 'sending', 'suspended'))
      FOR NO KEY UPDATE SKIP LOCKED) AS done
WHERE c.id = done.id
RETURNING c.id, c.account_id, c.name, c.campaign_callback_url;

-- name: due_campaigns
-- Scheduled campaigns whose time has come ($1 = now); the run itself locks and re-checks.
SELECT id, account_id FROM campaigns
WHERE status = 'scheduled' AND scheduled_at <= $1             -- campaigns_due_idx
ORDER BY scheduled_at, id
LIMIT $2;

-- name: notify_events
-- Tell every listening herald process (and tests) what changed: a JSON payload.
SELECT pg_notify('herald_events', $1);

-- name: notify_channel
-- Wake the processes listening on channel $1 (herald.store.notify), without a payload.
SELECT pg_notify($1, '');

-- name: campaigns_with_callback
SELECT id FROM campaigns WHERE id = ANY($1::bigint[]) AND callback_url IS NOT NULL;

-- name: fold_batch_counts
-- Progress counters (batch_counts in schema.sql): each batch with more than $1 deltas not yet
-- folded (at most $2 batches) gets all its rows replaced by one per kind and status. Safe in
-- every process at once: a delete takes only the rows its snapshot sees, and what another
-- process folded meanwhile is skipped, so each delta is summed exactly once.
WITH crowded AS (
    SELECT batch_id FROM batch_counts
    WHERE NOT folded                                        -- batch_counts_deltas_idx
    GROUP BY batch_id
    HAVING count(*) > $1
    ORDER BY batch_id
    LIMIT $2
),
gone AS (
    DELETE FROM batch_counts c
    WHERE c.batch_id = ANY (ARRAY(SELECT batch_id FROM crowded))   -- batch_counts_batch_idx
    RETURNING c.batch_id, c.kind, c.status, c.n
)
INSERT INTO batch_counts (batch_id, kind, status, n, folded)
SELECT batch_id, kind, status, sum(n), true
FROM gone
GROUP BY batch_id, kind, status
HAVING sum(n) <> 0
RETURNING batch_id;
