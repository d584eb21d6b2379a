"""A campaign whose run finished long ago, as retention finds it (tests of retention and of
`herald prune`)."""

from __future__ import annotations

from datetime import datetime

from herald.campaigns.runs import CampaignRunner
from herald.config import BindConfig, Config, RouteConfig
from herald.delivery.router import Router
from herald.metrics import Metrics
from herald.store.db import Database
from tests.support.factories import (
    add_recipients,
    greek_mobiles,
    make_account,
    make_campaign,
    make_sender,
)

CONFIG = Config(
    binds=(
        BindConfig.model_validate(
            {"name": "a", "host": "127.0.0.1", "port": 2775, "system_id": "x"}
        ),
    ),
    routes=(RouteConfig(name="all", binds=("a",)),),
)


async def finished_campaign(
    database: Database,
    count: int,
    *,
    finished: datetime,
    now: datetime,
    text: str = "Hi",
    statuses: tuple[str, ...] = ("delivered", "failed"),
) -> tuple[int, int]:
    """A campaign whose one run sent `count` messages, final in turn with `statuses` (parts
    delivered or undeliverable), the batch completed at `finished`: (campaign id, batch id)."""
    cfg = CONFIG
    async with database.acquire() as conn:
        account = await make_account(conn)
        sender = await make_sender(conn, account.id)
        campaign = await make_campaign(conn, account.id, sender, text)
        await add_recipients(conn, campaign, greek_mobiles(count))
    runner = CampaignRunner(
        database, cfg, Router(cfg.routes, lambda _: True), clock=lambda: now, metrics=Metrics()
    )
    await runner.start_run(campaign_id=campaign, account_id=account.id)
    async with database.acquire() as conn:
        batch = await conn.fetchval("SELECT id FROM batches WHERE campaign_id = $1", campaign)
        await conn.execute(
            """
            UPDATE messages m SET status = ($2::text[])[1 + (m.id % cardinality($2::text[]))],
                   route = 'all', sent_at = $3, done_at = $3,
                   reason = CASE WHEN m.id % 2 = 1 THEN 'UNDELIV' END
            WHERE m.batch_id = $1
            """,
            batch,
            list(statuses),
            finished,
        )
        await conn.execute(
            """
            UPDATE parts p SET state = CASE m.status WHEN 'delivered' THEN 'delivered'
                                                     ELSE 'undeliverable' END,
                   bind = 'x@127.0.0.1:2775', submitted_at = $2, receipt_at = $2
            FROM messages m WHERE m.id = p.message_id AND m.batch_id = $1
            """,
            batch,
            finished,
        )
        await conn.execute(
            "UPDATE batches SET status = 'completed', finished_at = $2 WHERE id = $1",
            batch,
            finished,
        )
        # The rows were moved by hand: count the batch's progress counters afresh, as
        # migration 0014 counted what existed (the store's statements keep them in step).
        await conn.execute("DELETE FROM batch_counts WHERE batch_id = $1", batch)
        await conn.execute(
            """
            INSERT INTO batch_counts (batch_id, kind, status, n, folded)
            SELECT batch_id, 'messages', status, count(*), true
            FROM messages WHERE batch_id = $1 GROUP BY batch_id, status
            UNION ALL
            SELECT m.batch_id, 'segments',
                   segment_status(m.status, p.state, p.receipt_at IS NOT NULL), count(*), true
            FROM messages m JOIN parts p ON p.message_id = m.id
            WHERE m.batch_id = $1 GROUP BY 1, 3
            """,
            batch,
        )
    return campaign, batch
