"""The batches' progress counters (batch_counts in store/sql/schema.sql) against the messages
and parts they count: every statement that moves a message or a part keeps them in step, so
after any test that moves rows only through the store's statements they must agree. The same
for the campaigns' explicit recipient counts (campaign_recipient_counts)."""

from __future__ import annotations

from typing import Any

DRIFT = """
WITH kept AS (
    SELECT batch_id, kind, status, sum(n) AS n FROM batch_counts
    -- a batch retention pruned keeps its counters without its rows
    WHERE batch_id NOT IN (SELECT id FROM batches WHERE pruned_at IS NOT NULL)
    GROUP BY batch_id, kind, status HAVING sum(n) <> 0
),
counted AS (
    SELECT batch_id, 'messages' AS kind, status, count(*) AS n FROM messages
    WHERE batch_id NOT IN (SELECT id FROM batches WHERE pruned_at IS NOT NULL)
    GROUP BY batch_id, status
    UNION ALL
    SELECT m.batch_id, 'segments', segment_status(m.status, p.state, p.receipt_at IS NOT NULL),
           count(*)
    FROM messages m JOIN parts p ON p.message_id = m.id
    WHERE m.batch_id NOT IN (SELECT id FROM batches WHERE pruned_at IS NOT NULL)
    GROUP BY 1, 3
)
SELECT batch_id, kind, status, kept.n AS kept, counted.n AS counted
FROM kept FULL JOIN counted USING (batch_id, kind, status)
WHERE kept.n IS DISTINCT FROM counted.n
UNION ALL
SELECT campaign_id, 'recipients', source, kept.n, counted.n
FROM (SELECT campaign_id, source, n FROM campaign_recipient_counts) AS kept
FULL JOIN (SELECT campaign_id, source, count(*) AS n FROM campaign_recipients
           GROUP BY campaign_id, source) AS counted USING (campaign_id, source)
WHERE coalesce(kept.n, 0) <> coalesce(counted.n, 0)
ORDER BY 1, 2, 3
"""


async def counter_drift(conn: Any) -> list[dict[str, Any]]:
    """Every (batch, kind, status) whose counter differs from a count of its rows; and every
    (campaign, 'recipients', source) whose explicit recipients' count does."""
    return [dict(r) for r in await conn.fetch(DRIFT)]
