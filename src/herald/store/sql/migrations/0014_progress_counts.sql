-- Progress counters (issue 18): a campaign's progress is read from a few counter rows per
-- batch instead of counting its messages and parts at every poll (46-66 ms at 20,000
-- messages, and growing with them).
--
-- batch_counts holds deltas: every statement that moves a message's status or a part's state
-- adds, in that statement, how many of each status it took away and added, per batch
-- (claim_due_messages, write_results, apply_receipts, ... in store/sql/*.sql). Maintenance
-- folds a batch's deltas into one row per kind and status. Messages count by their status,
-- segments (parts) by the status they show under (segment_status, states.segment_status).
CREATE TABLE batch_counts (
    batch_id  bigint NOT NULL,
    kind      text NOT NULL CHECK (kind IN ('messages', 'segments')),
    status    text NOT NULL
              CHECK (status IN ('queued', 'deferred', 'sending', 'sent', 'delivered', 'failed',
                                'rejected', 'unknown', 'stopped')),
    n         bigint NOT NULL,
    folded    boolean NOT NULL DEFAULT false
);
CREATE INDEX batch_counts_batch_idx ON batch_counts (batch_id);
CREATE INDEX batch_counts_deltas_idx ON batch_counts (batch_id) WHERE NOT folded;

-- How many explicit recipients a campaign has from each source, kept by the statements that
-- add and remove them.
CREATE TABLE campaign_recipient_counts (
    campaign_id  bigint NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    source       text NOT NULL CHECK (source IN ('number', 'recipient', 'file')),
    n            bigint NOT NULL CHECK (n >= 0),
    PRIMARY KEY (campaign_id, source)
);

-- The status a part counts under in its campaign's segment progress: a pending part as its
-- message, otherwise by its own state (herald/states.py segment_status says the same).
CREATE FUNCTION segment_status(message_status text, part_state text, receipted boolean)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN part_state = 'pending' THEN message_status
        WHEN part_state IN ('submitted', 'enroute', 'accepted') THEN 'sent'
        WHEN part_state = 'delivered' THEN 'delivered'
        WHEN part_state = 'refused' THEN 'rejected'
        WHEN part_state = 'expired' AND NOT receipted THEN 'unknown'
        WHEN part_state IN ('undeliverable', 'expired', 'deleted', 'rejected') THEN 'failed'
        ELSE 'unknown'
    END
$$;

-- What exists already, counted once (reads messages and parts once).
INSERT INTO batch_counts (batch_id, kind, status, n, folded)
SELECT m.batch_id, 'messages', m.status, count(*), true
FROM messages m
GROUP BY m.batch_id, m.status;
INSERT INTO batch_counts (batch_id, kind, status, n, folded)
SELECT m.batch_id, 'segments', segment_status(m.status, p.state, p.receipt_at IS NOT NULL),
       count(*), true
FROM messages m JOIN parts p ON p.message_id = m.id
GROUP BY 1, 3;
INSERT INTO campaign_recipient_counts (campaign_id, source, n)
SELECT campaign_id, source, count(*) FROM campaign_recipients GROUP BY 1, 2;
