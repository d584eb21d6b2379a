-- Named queries of campaign insight (herald.campaigns: reports, exports, recipients): a
-- campaign's results in aggregate, its messages as a stream, its audience before a run.
-- Messages and parts are read over each batch's id range (messages_pkey, parts_pkey; see
-- batches.first_message_id), as campaign_progress does.

-- --- report ----------------------------------------------------------------------------------

-- name: report_messages
-- Campaign $1's messages in one pass, grouped four ways (GROUPING(...) says which: 0b0111 by
-- reason, 0b1011 by country, 0b1101 by route, 0b1110 by the $2-second bucket of done_at;
-- status in each): counts and segments per status and reason, per destination country, per
-- route, and final statuses over time. Rejected messages were never encoded (encoding 'none')
-- and cost no segment.
SELECT m.status,
       m.reason,
       m.country,
       m.route,
       to_timestamp(floor(date_part('epoch', m.done_at) / $2) * $2) AS done_bucket,
       GROUPING(m.reason, m.country, m.route,
                to_timestamp(floor(date_part('epoch', m.done_at) / $2) * $2)) AS g,
       count(*) AS messages,
       coalesce(sum(m.part_count) FILTER (WHERE m.encoding <> 'none'), 0) AS segments
FROM batches b
JOIN messages m ON m.id BETWEEN b.first_message_id AND b.last_message_id AND m.batch_id = b.id
WHERE b.campaign_id = $1
GROUP BY GROUPING SETS (
    (m.status, m.reason),
    (m.status, m.country),
    (m.status, m.route),
    (m.status, to_timestamp(floor(date_part('epoch', m.done_at) / $2) * $2))
);

-- name: report_parts
-- Campaign $1's parts in one pass: per carrier account (bind) and state (g = 0b01), and the
-- first parts submitted per $2-second bucket (g = 0b10: messages sent over time); `accepted`
-- counts first parts a carrier took (messages sent). Parts are read through their messages,
-- so a batch expanded at the same time as another (interleaved ids) counts only its own.
SELECT p.bind,
       p.state,
       to_timestamp(floor(date_part('epoch', p.submitted_at) / $2) * $2) AS sent_bucket,
       GROUPING(p.bind, p.state) AS g,
       count(*) AS parts,
       count(*) FILTER (WHERE p.seq = 1 AND p.smsc_id IS NOT NULL) AS accepted
FROM batches b
JOIN messages m ON m.id BETWEEN b.first_message_id AND b.last_message_id AND m.batch_id = b.id
JOIN parts p ON p.message_id = m.id
WHERE b.campaign_id = $1
GROUP BY GROUPING SETS (
    (p.bind, p.state),
    (to_timestamp(floor(date_part('epoch', p.submitted_at) / $2) * $2))
);

-- name: report_latency
-- Submit-to-receipt latency of campaign $1's parts with a final receipt, in seconds: p50,
-- p95, p99 and how many parts they are of.
SELECT count(*) AS samples,
       percentile_cont(ARRAY[0.5, 0.95, 0.99]::float8[]) WITHIN GROUP (
           ORDER BY date_part('epoch', p.receipt_at - p.submitted_at)) AS quantiles
FROM batches b
JOIN messages m ON m.id BETWEEN b.first_message_id AND b.last_message_id AND m.batch_id = b.id
JOIN parts p ON p.message_id = m.id
WHERE b.campaign_id = $1
  AND p.receipt_at IS NOT NULL AND p.submitted_at IS NOT NULL
  AND p.state IN ('delivered', 'undeliverable', 'expired', 'deleted', 'rejected', 'unknown');

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
SELECT to_timestamp(floor(date_part('epoch', e.at) / $2) * $2) AS bucket,
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
-- campaign's first id: a chunk costs the same at the millionth row as at the first), with
-- their parts' carrier ids and, when $4 (the campaign has clicks), their clicks.
SELECT m.id, m.batch_id, m.phone, m.country, m.status, m.reason, m.part_count, m.route,
       m.created_at, m.sent_at, m.done_at,
       (SELECT string_agg(p.smsc_id, ' ' ORDER BY p.seq)
        FROM parts p WHERE p.message_id = m.id) AS smsc_ids,
       k.clicks, k.clicked_at
FROM messages m
CROSS JOIN LATERAL (          -- link_events_message_idx; not even probed when $4 is false
    SELECT count(*) AS clicks, min(e.at) AS clicked_at
    FROM link_events e
    WHERE $4 AND e.message_id = m.id AND e.kind = 'click'
) k
WHERE m.id > greatest($2, (SELECT min(b.first_message_id) - 1 FROM batches b
                           WHERE b.campaign_id = $1))
  AND m.id <= (SELECT max(b.last_message_id) FROM batches b WHERE b.campaign_id = $1)
  AND m.campaign_id = $1
ORDER BY m.id
LIMIT $3;

-- name: campaign_has_clicks
SELECT EXISTS (SELECT 1 FROM link_events WHERE campaign_id = $1 AND kind = 'click');

-- name: count_campaign_messages_all
-- Campaign $1's messages (every batch), for an export's progress.
SELECT coalesce(sum(messages_expected), 0) FROM batches WHERE campaign_id = $1;

-- --- audience --------------------------------------------------------------------------------

-- name: campaign_audience_sizes
-- Campaign $1's audience as its parts stand: explicit rows (numbers, recipient objects, file
-- rows), contacts named, and group member rows (a contact in two groups counts twice, as a run
-- reads it; the run sends to each number once).
SELECT (SELECT count(*) FROM campaign_recipients WHERE campaign_id = $1) AS explicit,
       (SELECT count(*) FROM campaign_contacts WHERE campaign_id = $1) AS contacts,
       (SELECT count(*) FROM campaign_groups cg JOIN group_members gm ON gm.group_id = cg.group_id
        WHERE cg.campaign_id = $1) AS members;

-- name: campaign_recipient_totals
-- The audience size (as campaign_audience_sizes adds it up) of each of campaigns $1.
SELECT c.id,
       (SELECT count(*) FROM campaign_recipients r WHERE r.campaign_id = c.id)
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
