-- Named queries of per-recipient links (herald.campaigns.links, clicks, opt-out pages):
-- campaigns' link settings, the redirect's lookup, clicks and opt-outs, their callbacks.

-- name: campaign_link_settings
SELECT track_link_url, track_link_params, opt_out_link FROM campaigns WHERE id = $1;

-- name: campaign_click_counts
-- Clicks on campaign $1's tracked links, and the messages clicked (link_events_campaign_idx).
SELECT count(*) AS clicks, count(DISTINCT message_id) AS unique
FROM link_events WHERE campaign_id = $1 AND kind = 'click';

-- name: set_campaign_links
-- Campaign $1's link settings, written with the campaign (create, or an edit while scheduled).
UPDATE campaigns SET track_link_url = $2, track_link_params = $3, opt_out_link = $4
WHERE id = $1
RETURNING id;

-- name: set_batch_link_url
-- Where batch $1's tracked links redirect, fixed as it expands.
UPDATE batches SET link_url = $2 WHERE id = $1 AND status = 'expanding' RETURNING id;

-- name: link_by_code
-- The redirect's and the opt-out page's one read: link $1 of kind $2 with its batch (where it
-- redirects, when its run ended) by two primary keys.
SELECT l.code, l.kind, l.message_id, l.batch_id, b.campaign_id, b.link_url, b.finished_at
FROM links l JOIN batches b ON b.id = l.batch_id
WHERE l.code = $1 AND l.kind = $2;

-- name: opt_out_subject
-- Who an opt-out link of message $1 speaks for: the number, its account and the sender it
-- was sent from, and whether it opted out through this link already.
SELECT m.id AS message_id, m.account_id, m.phone, s.address AS sender,
       EXISTS (SELECT 1 FROM link_events e
               WHERE e.message_id = m.id AND e.kind = 'opt_out') AS opted_out
FROM messages m
JOIN campaigns c ON c.id = m.campaign_id
JOIN senders s ON s.id = c.sender_id
WHERE m.id = $1;

-- name: opt_out_through_link
-- Message $1's number ($3, account $2) joins the account's blacklist (source opt_out_link;
-- a number already there stays as it was) and the opt-out is recorded once per link, at $5
-- from user agent $6, for campaign $4. Returns the event's id when this call recorded it.
WITH listed AS (
    INSERT INTO blacklist (account_id, phone, source)
    VALUES ($2, $3, 'opt_out_link')
    ON CONFLICT DO NOTHING
)
INSERT INTO link_events (message_id, campaign_id, kind, at, user_agent)
VALUES ($1, $4, 'opt_out', $5, $6)
ON CONFLICT (message_id) WHERE kind = 'opt_out' DO NOTHING
RETURNING id;

-- name: insert_clicks
-- A flush of recorded clicks: ($1 message ids, $2 campaign ids, $3 times, $4 user agents).
INSERT INTO link_events (message_id, campaign_id, kind, at, user_agent)
SELECT r.message_id, r.campaign_id, 'click', r.at, r.user_agent
FROM unnest($1::bigint[], $2::bigint[], $3::timestamptz[], $4::text[])
     AS r(message_id, campaign_id, at, user_agent)
RETURNING id;

-- name: enqueue_click_callbacks
-- One `message.clicked` callback per click event $1 whose campaign has a per-message callback
-- URL: the message, this click, and the message's clicks so far (this one included).
-- callback table: (new, create) -> pending
INSERT INTO callback_outbox (account_id, url, body, kind)
SELECT m.account_id, c.callback_url,
       jsonb_build_object(
           'event', 'message.clicked',
           'message_id', m.id, 'campaign_id', m.campaign_id, 'batch_id', m.batch_id,
           'phone', m.phone, 'status', m.status, 'at', e.at, 'user_agent', e.user_agent,
           'clicks', k.clicks, 'first_clicked_at', k.first_at),
       'clicked'
FROM link_events e
JOIN messages m ON m.id = e.message_id
JOIN campaigns c ON c.id = e.campaign_id
CROSS JOIN LATERAL (
    SELECT count(*) AS clicks, min(p.at) AS first_at
    FROM link_events p
    WHERE p.message_id = e.message_id AND p.kind = 'click' AND p.id <= e.id
) k
WHERE e.id = ANY($1::bigint[]) AND c.callback_url IS NOT NULL
ORDER BY e.id
RETURNING id;
