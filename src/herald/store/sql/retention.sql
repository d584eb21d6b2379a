-- Retention (herald.delivery.retention): finished batches' messages and parts are deleted
-- once they are `retention.messages_days` old, the batch keeping their totals; delivered and
-- dead callbacks after `retention.callbacks_days`. Every statement is bounded (a batch, a
-- chunk of messages, a chunk of callbacks) and locks only what it deletes.

-- name: prunable_batches
-- Up to $2 batches that are final, finished before $1 and not yet pruned, oldest first
-- (batches_prunable_idx), after ($3, $4) in (finished_at, id) order: a sweep pages past
-- batches it has to leave for later.
SELECT id, messages_expected, finished_at
FROM batches
WHERE pruned_at IS NULL AND status IN ('completed', 'stopped', 'failed') AND finished_at < $1
  AND (finished_at, id) > ($3, $4)
ORDER BY finished_at, id
LIMIT $2;

-- name: pruning_batches
-- Batches whose messages are being deleted (a sweep stopped half way resumes them first).
SELECT id, prune_from, last_message_id FROM batches WHERE prune_from IS NOT NULL ORDER BY id;

-- name: begin_pruning
-- Batch $1, if it is still prunable (as in prunable_batches, finished before $2) and no other
-- process is at it (SKIP LOCKED), and every one of its messages is final (a message still
-- moving would make the totals wrong: the batch waits for a later sweep): what progress and
-- the report read of its messages and parts is counted into batch_totals, batch_part_totals,
-- batch_minutes and batch_latencies, and it is marked pruned, to be deleted from its first
-- message id (prune_from; NULL for a batch without messages). One pass over its messages and
-- one over its parts by their primary keys over its id range; a range another batch's
-- overlaps (two runs expanded at once) has others' parts, so for it alone each part is
-- checked against its message. Returns the batch if it was marked.
WITH batch AS (
    SELECT b.id, b.first_message_id, b.last_message_id,
           EXISTS (SELECT 1 FROM batches o
                   WHERE o.id <> b.id AND o.first_message_id <= b.last_message_id
                     AND o.last_message_id >= b.first_message_id) AS shared
    FROM batches b
    WHERE b.id = $1 AND b.pruned_at IS NULL AND b.status IN ('completed', 'stopped', 'failed')
      AND b.finished_at < $2
    FOR UPDATE OF b SKIP LOCKED
),
message_rows AS MATERIALIZED (
    SELECT m.status, m.reason, m.country, m.route,
           floor(date_part('epoch', m.done_at) / 60)::bigint AS minute,
           count(*) AS messages,
           coalesce(sum(m.part_count) FILTER (WHERE m.encoding <> 'none'), 0) AS segments
    FROM batch b
    JOIN messages m ON m.id BETWEEN b.first_message_id AND b.last_message_id AND m.batch_id = b.id
    GROUP BY 1, 2, 3, 4, 5
),
ready AS (
    SELECT b.* FROM batch b
    WHERE NOT EXISTS (SELECT 1 FROM message_rows t
                      WHERE t.status IN ('queued', 'deferred', 'sending', 'sent'))
),
part_rows AS MATERIALIZED (
    SELECT p.bind, p.state, m.status AS message_status, p.receipt_at IS NOT NULL AS receipted,
           floor(date_part('epoch', p.submitted_at) / 60)::bigint AS minute,
           CASE WHEN p.state IN ('delivered', 'undeliverable', 'expired', 'deleted', 'rejected',
                                 'unknown')
                THEN date_part('epoch', p.receipt_at - p.submitted_at) END AS latency,
           p.seq = 1 AND p.smsc_id IS NOT NULL AS accepted
    FROM ready b
    JOIN parts p ON p.message_id BETWEEN b.first_message_id AND b.last_message_id
    JOIN messages m ON m.id = p.message_id
    WHERE m.batch_id = b.id
),
kept_messages AS (
    INSERT INTO batch_totals (batch_id, status, reason, country, route, messages, segments)
    SELECT b.id, t.status, t.reason, t.country, t.route, sum(t.messages), sum(t.segments)
    FROM ready b, message_rows t
    GROUP BY b.id, t.status, t.reason, t.country, t.route
),
kept_parts AS (
    INSERT INTO batch_part_totals (batch_id, bind, state, message_status, receipted, parts,
                                   accepted)
    SELECT b.id, t.bind, t.state, t.message_status, t.receipted, count(*),
           count(*) FILTER (WHERE t.accepted)
    FROM ready b, part_rows t
    GROUP BY b.id, t.bind, t.state, t.message_status, t.receipted
),
kept_minutes AS (
    INSERT INTO batch_minutes (batch_id, minute, status, messages, accepted)
    SELECT b.id, t.minute, t.status, sum(t.messages), 0
    FROM ready b, message_rows t
    GROUP BY b.id, t.minute, t.status
    UNION ALL
    SELECT b.id, t.minute, NULL, 0, count(*)
    FROM ready b, part_rows t
    WHERE t.accepted
    GROUP BY b.id, t.minute
),
kept_latencies AS (
    INSERT INTO batch_latencies (batch_id, latency, parts)
    SELECT b.id, l.latency, count(*)
    FROM ready b,
         LATERAL (SELECT CASE WHEN t.latency >= 0.001
                              THEN round(t.latency / power(10, floor(log(t.latency)) - 2))
                                   * power(10, floor(log(t.latency)) - 2)
                              ELSE 0 END AS latency
                  FROM part_rows t WHERE t.latency IS NOT NULL) l
    GROUP BY b.id, l.latency
)
UPDATE batches b SET pruned_at = now(), prune_from = r.first_message_id
FROM ready r
WHERE b.id = r.id
RETURNING b.id, b.prune_from, b.last_message_id,
          (SELECT coalesce(sum(messages), 0) FROM message_rows) AS messages;

-- name: prune_messages_chunk
-- Up to $3 of batch $1's messages from id $2 on (messages_pkey over its range, skipping other
-- batches' ids in it), with their parts; then the batch's prune_from moves past them, or to
-- NULL when they were the last. A compare-and-set on prune_from, with the batch row locked:
-- two processes never delete the same chunk. The lock is waited for, not skipped: the row is
-- also locked for a moment by another process's begin_pruning of it (which then finds it
-- pruned), and a deleter that gave up on that would leave the batch to nobody. Returns how
-- many messages and parts went, and where the batch stands (no row: another process moved
-- prune_from on, and goes on deleting).
WITH batch AS (
    SELECT id, last_message_id FROM batches
    WHERE id = $1 AND prune_from = $2
    FOR UPDATE
),
chunk AS (
    SELECT m.id
    FROM batch b
    JOIN messages m ON m.id >= $2 AND m.id <= b.last_message_id AND m.batch_id = b.id
    ORDER BY m.id
    LIMIT $3
),
-- The chunk's ids go in as an array, probing the primary keys: joined with the chunk (its
-- size known when planned), the planner hashed it and read all of parts and of messages for
-- every chunk (330,000 rows each, 110 ms, for a chunk of 5,000 of a 300,000-message run).
parts_gone AS (
    DELETE FROM parts p WHERE p.message_id = ANY (ARRAY(SELECT id FROM chunk))    -- parts_pkey
    RETURNING 1
),
messages_gone AS (
    DELETE FROM messages m WHERE m.id = ANY (ARRAY(SELECT id FROM chunk))    -- messages_pkey
    RETURNING m.id
),
moved AS (
    UPDATE batches b
    SET prune_from = CASE WHEN (SELECT count(*) FROM chunk) < $3 THEN NULL
                          ELSE (SELECT max(id) FROM chunk) + 1 END
    FROM batch
    WHERE b.id = batch.id
    RETURNING b.prune_from
)
SELECT (SELECT count(*) FROM messages_gone) AS messages,
       (SELECT count(*) FROM parts_gone) AS parts,
       (SELECT prune_from FROM moved) AS prune_from
FROM moved;

-- name: prune_callbacks
-- Up to $2 delivered or dead callbacks created before $1, oldest first (callback_outbox_pkey:
-- ids grow with time; pending callbacks, never deleted, are at most a few hours old).
WITH old AS (
    SELECT id FROM callback_outbox
    WHERE status IN ('delivered', 'dead') AND created_at < $1
    ORDER BY id
    LIMIT $2
)
DELETE FROM callback_outbox c USING old WHERE c.id = old.id;

-- name: count_prunable_callbacks
SELECT count(*) FROM callback_outbox
WHERE status IN ('delivered', 'dead') AND created_at < $1;
