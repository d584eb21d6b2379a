-- Named queries of campaign insight (herald.campaigns: reports, exports, recipients): a
-- campaign's results in aggregate, its messages as a stream, its audience before a run.
-- Messages and parts are read over each batch's id range (messages_pkey, parts_pkey; see
-- batches.first_message_id), as campaign_progress does.

-- --- report ----------------------------------------------------------------------------------

-- name: report_memory
-- In the report's read-only transactions: room for its hash aggregates. The planner expects
-- far more groups than a campaign has (a few thousand at most) and would otherwise sort a
-- million rows on disk per grouping set instead (4 MB work_mem): 4.7 s against 8.1 s for
-- report_parts at a million parts.
SELECT set_config('work_mem', '64MB', true);

-- name: report_messages
-- Campaign $1's messages in one pass, grouped four ways (GROUPING(...) says which: 0b0111 by
-- reason, 0b1011 by country, 0b1101 by route, 0b1110 by done_at's $2-second bucket, as the
-- bucket's number since the epoch; status in each): counts and segments per status and
-- reason, per destination country, per route, and final statuses over time. Rejected
-- messages were never encoded (encoding 'none') and cost no segment. Batches retention pruned
-- are read by report_pruned_messages.
SELECT m.status, m.reason, m.country, m.route,
       floor(date_part('epoch', m.done_at) / $2) AS done_bucket,
       GROUPING(m.reason, m.country, m.route, floor(date_part('epoch', m.done_at) / $2)) AS g,
       count(*) AS messages,
       coalesce(sum(m.part_count) FILTER (WHERE m.encoding <> 'none'), 0) AS segments
FROM batches b
JOIN messages m ON m.id BETWEEN b.first_message_id AND b.last_message_id AND m.batch_id = b.id
WHERE b.campaign_id = $1 AND b.pruned_at IS NULL
GROUP BY GROUPING SETS (
    (m.status, m.reason),
    (m.status, m.country),
    (m.status, m.route),
    (m.status, floor(date_part('epoch', m.done_at) / $2))
);

-- name: report_parts
-- Campaign $1's parts in one pass of parts_pkey over its batches' ranges, grouped three ways
-- (g): per carrier account and state (0b001); first parts submitted per $2-second bucket
-- (0b110, `accepted`: messages sent over time); and submit-to-receipt latency of parts with a
-- final receipt, in seconds to three significant digits (0b111: a histogram, at most a few
-- thousand rows whatever the carriers do, from which the report reads its percentiles).
-- A batch whose id range another batch's overlaps (two runs expanded at once) has others'
-- parts in its range: for it alone each part is checked against its message.
WITH ours AS MATERIALIZED (
    SELECT b.id, b.first_message_id, b.last_message_id,
           EXISTS (SELECT 1 FROM batches o
                   WHERE o.id <> b.id AND o.first_message_id <= b.last_message_id
                     AND o.last_message_id >= b.first_message_id) AS shared
    FROM batches b
    WHERE b.campaign_id = $1 AND b.pruned_at IS NULL
),
timed AS (
    SELECT p.bind, p.state, p.seq, p.smsc_id, p.submitted_at,
           CASE WHEN p.state IN ('delivered', 'undeliverable', 'expired', 'deleted', 'rejected',
                                 'unknown')
                THEN date_part('epoch', p.receipt_at - p.submitted_at) END AS latency
    FROM ours b
    JOIN parts p ON p.message_id BETWEEN b.first_message_id AND b.last_message_id
    -- A scalar subquery, probed by messages_pkey when needed: an EXISTS here may become a
    -- hash of the whole messages table.
    WHERE NOT b.shared
       OR (SELECT m.batch_id FROM messages m WHERE m.id = p.message_id) = b.id
)
SELECT bind, state,
       floor(date_part('epoch', submitted_at) / $2) AS sent_bucket,
       CASE WHEN latency >= 0.001
            THEN round(latency / power(10, floor(log(latency)) - 2))
                 * power(10, floor(log(latency)) - 2)
            WHEN latency IS NOT NULL THEN 0 END AS latency,
       GROUPING(bind, state, floor(date_part('epoch', submitted_at) / $2)) AS g,
       count(*) AS parts,
       count(*) FILTER (WHERE seq = 1 AND smsc_id IS NOT NULL) AS accepted
FROM timed
GROUP BY GROUPING SETS ((bind, state), (3), (4));

-- name: report_pruned_messages
-- report_messages' rows (the same g) for campaign $1's batches retention pruned, from the
-- totals their messages left (batch_totals; batch_minutes for the timeline, by minute).
WITH totals AS (
    SELECT t.*
    FROM batches b
    JOIN batch_totals t ON t.batch_id = b.id
    WHERE b.campaign_id = $1 AND b.pruned_at IS NOT NULL
)
SELECT status, reason, NULL AS country, NULL AS route, NULL::double precision AS done_bucket,
       7 AS g, sum(messages)::bigint AS messages, sum(segments)::bigint AS segments
FROM totals GROUP BY status, reason
UNION ALL
SELECT status, NULL, country, NULL, NULL, 11, sum(messages), sum(segments)
FROM totals GROUP BY status, country
UNION ALL
SELECT status, NULL, NULL, route, NULL, 13, sum(messages), sum(segments)
FROM totals GROUP BY status, route
UNION ALL
SELECT t.status, NULL, NULL, NULL, floor(t.minute * 60 / $2::double precision), 14,
       sum(t.messages), 0
FROM batches b
JOIN batch_minutes t ON t.batch_id = b.id
WHERE b.campaign_id = $1 AND b.pruned_at IS NOT NULL AND t.status IS NOT NULL
GROUP BY 1, 5;

-- name: report_pruned_parts
-- report_parts' rows (the same g) for campaign $1's batches retention pruned: parts by bind
-- and state (batch_part_totals), first parts accepted per bucket (batch_minutes) and the
-- latency histogram (batch_latencies).
SELECT t.bind, t.state, NULL::double precision AS sent_bucket,
       NULL::double precision AS latency, 1 AS g, sum(t.parts)::bigint AS parts,
       0::bigint AS accepted
FROM batches b
JOIN batch_part_totals t ON t.batch_id = b.id
WHERE b.campaign_id = $1 AND b.pruned_at IS NOT NULL
GROUP BY t.bind, t.state
UNION ALL
SELECT NULL, NULL, floor(t.minute * 60 / $2::double precision), NULL, 6, 0, sum(t.accepted)
FROM batches b
JOIN batch_minutes t ON t.batch_id = b.id
WHERE b.campaign_id = $1 AND b.pruned_at IS NOT NULL AND t.status IS NULL
GROUP BY 3
UNION ALL
SELECT NULL, NULL, NULL, t.latency, 7, sum(t.parts), 0
FROM batches b
JOIN batch_latencies t ON t.batch_id = b.id
WHERE b.campaign_id = $1 AND b.pruned_at IS NOT NULL
GROUP BY t.latency;

-- name: report_links
-- Campaign $1's links: messages given a tracked link (by links_message_idx over each batch's
-- range), clicks, messages clicked, opt-outs through links (link_events_campaign_idx).
SELECT (SELECT count(*)
        FROM batches b
        JOIN links l ON l.message_id BETWEEN b.first_message_id AND b.last_message_id
                    AND l.batch_id = b.id
        WHERE b.campaign_id = $1 AND b.link_url IS NOT NULL AND l.kind = 'click') AS links,
       count(*) FILTER (WHERE e.kind = 'click') AS clicks,
       count(DISTINCT e.message_id) FILTER (WHERE e.kind = 'click') AS unique_clicks,
       count(*) FILTER (WHERE e.kind = 'opt_out') AS opt_outs
FROM link_events e
WHERE e.campaign_id = $1;

-- name: report_clicks_over_time
-- Campaign $1's clicks per $2-second bucket.
SELECT floor(date_part('epoch', e.at) / $2) AS bucket,
       count(*) AS clicks
FROM link_events e
WHERE e.campaign_id = $1 AND e.kind = 'click'
GROUP BY 1;

-- name: report_credit
SELECT coalesce(sum(credit_used), 0) AS credit_used,
       coalesce(sum(segments_expected), 0) AS segments_expected
FROM batches WHERE campaign_id = $1;

-- --- export ----------------------------------------------------------------------------------

-- name: export_messages
-- Up to $3 of campaign $1's messages after id $2, in id order (messages_pkey from the
-- campaign's first id: a chunk costs the same at the millionth row as at the first), as the
-- cells of the CSV export, which COPY writes: their parts' carrier ids and, when $4 (the
-- campaign has clicks), their clicks. Times are ISO 8601 in UTC. A cell a spreadsheet would
-- run as a formula (= + - @ or a tab first; carriers' ids and reasons, callers' client_ref
-- are not ours) gets a leading ', except an E.164 number; line breaks become spaces, so every
-- message is one line and the last line's first cell is the chunk's last id.
WITH chunk AS (
    SELECT m.id, m.batch_id, m.phone, m.country, m.status, m.reason, m.part_count, m.route,
           m.created_at, m.sent_at, m.done_at,
           (SELECT string_agg(p.smsc_id, ' ' ORDER BY p.seq)
            FROM parts p WHERE p.message_id = m.id) AS smsc_ids,
           k.clicks, k.clicked_at, m.client_ref
    FROM messages m
    CROSS JOIN LATERAL (      -- link_events_message_idx; not even probed when $4 is false
        SELECT count(*) AS clicks, min(e.at) AS clicked_at
        FROM link_events e
        WHERE $4 AND e.message_id = m.id AND e.kind = 'click'
    ) k
    WHERE m.id > greatest($2, (SELECT min(b.first_message_id) - 1 FROM batches b
                               WHERE b.campaign_id = $1))
      AND m.id <= (SELECT max(b.last_message_id) FROM batches b WHERE b.campaign_id = $1)
      AND m.campaign_id = $1
    ORDER BY m.id
    LIMIT $3
),
cells AS (
    SELECT id, batch_id, status, part_count, clicks, country, created_at, sent_at, done_at,
           clicked_at,
           translate(phone, E'\r\n', '  ') AS phone,
           translate(reason, E'\r\n', '  ') AS reason,
           translate(smsc_ids, E'\r\n', '  ') AS smsc_ids,
           translate(route, E'\r\n', '  ') AS route,
           translate(client_ref, E'\r\n', '  ') AS client_ref
    FROM chunk
)
SELECT id AS message_id, batch_id,
       CASE WHEN phone ~ '^\+[0-9]{1,15}$' OR left(phone, 1) NOT IN ('=', '+', '-', '@', E'\t')
            THEN phone ELSE '''' || phone END AS phone,
       country, status,
       CASE WHEN left(reason, 1) IN ('=', '+', '-', '@', E'\t') THEN '''' || reason
            ELSE reason END AS reason,
       part_count AS parts,
       CASE WHEN left(smsc_ids, 1) IN ('=', '+', '-', '@', E'\t') THEN '''' || smsc_ids
            ELSE smsc_ids END AS smsc_message_ids,
       CASE WHEN left(route, 1) IN ('=', '+', '-', '@', E'\t') THEN '''' || route
            ELSE route END AS route,
       to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS created_at,
       to_char(sent_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS sent_at,
       to_char(done_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS done_at,
       CASE WHEN status = 'delivered'
            THEN to_char(done_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
       END AS delivered_at,
       clicks,
       to_char(clicked_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS clicked_at,
       CASE WHEN left(client_ref, 1) IN ('=', '+', '-', '@', E'\t') THEN '''' || client_ref
            ELSE client_ref END AS client_ref
FROM cells
ORDER BY id;

-- name: campaign_has_clicks
SELECT EXISTS (SELECT 1 FROM link_events WHERE campaign_id = $1 AND kind = 'click');

-- name: count_campaign_messages_all
-- Campaign $1's messages (every batch), for an export's progress.
SELECT coalesce(sum(messages_expected), 0) FROM batches WHERE campaign_id = $1;

-- --- audience --------------------------------------------------------------------------------

-- name: campaign_audience_sizes
-- Campaign $1's audience as its parts stand: explicit rows (numbers, recipient objects, file
-- rows), contacts named, and group member rows (a contact in two groups counts twice, as a run
-- reads it; the run sends to each number once). Explicit rows from their counts
-- (campaign_recipient_counts, kept by the statements that add and remove them).
SELECT coalesce((SELECT sum(n) FROM campaign_recipient_counts
                 WHERE campaign_id = $1), 0)::bigint AS explicit,
       (SELECT count(*) FROM campaign_contacts WHERE campaign_id = $1) AS contacts,
       (SELECT count(*) FROM campaign_groups cg JOIN group_members gm ON gm.group_id = cg.group_id
        WHERE cg.campaign_id = $1) AS members;

-- name: campaign_recipient_totals
-- The audience size (as campaign_audience_sizes adds it up) of each of campaigns $1.
SELECT c.id,
       coalesce((SELECT sum(n) FROM campaign_recipient_counts r
                 WHERE r.campaign_id = c.id), 0)::bigint
       + (SELECT count(*) FROM campaign_contacts cc WHERE cc.campaign_id = c.id)
       + (SELECT count(*) FROM campaign_groups cg
          JOIN group_members gm ON gm.group_id = cg.group_id
          WHERE cg.campaign_id = c.id) AS recipients
FROM unnest($1::bigint[]) AS c(id);

-- name: audience_explicit_page
-- Campaign $1's explicit recipients in the order they were added ($2 rows from offset $3):
-- campaign_recipients_campaign_idx, no sort.
SELECT r.source, r.phone_raw, r.name, r.labels, r.file_row,
       NULL::bigint AS contact_id, NULL::bigint AS group_id
FROM campaign_recipients r
WHERE r.campaign_id = $1
ORDER BY r.id
LIMIT $2 OFFSET $3;

-- name: audience_contacts_page
SELECT 'contact' AS source, c.phone AS phone_raw, c.name, c.labels, NULL::integer AS file_row,
       c.id AS contact_id, NULL::bigint AS group_id
FROM campaign_contacts cc JOIN contacts c ON c.id = cc.contact_id
WHERE cc.campaign_id = $1
ORDER BY c.id
LIMIT $2 OFFSET $3;

-- name: audience_members_page
SELECT 'group' AS source, c.phone AS phone_raw, c.name, c.labels, NULL::integer AS file_row,
       c.id AS contact_id, cg.group_id
FROM campaign_groups cg
JOIN group_members gm ON gm.group_id = cg.group_id
JOIN contacts c ON c.id = gm.contact_id
WHERE cg.campaign_id = $1
ORDER BY cg.group_id, c.id
LIMIT $2 OFFSET $3;
