"""The writer's callbacks hook asks the database only about campaigns that want callbacks."""

from __future__ import annotations

from datetime import UTC, datetime

from herald.delivery.callbacks import CallbackGate
from herald.delivery.writer import StatusChange
from herald.store.db import Database
from tests.support.factories import make_account, make_campaign, make_sender

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


async def make_batch(conn: object, campaign: int) -> int:
    return await conn.fetchval(  # type: ignore[attr-defined]
        "INSERT INTO batches (campaign_id, number, status) VALUES ($1, 1, 'sending') RETURNING id",
        campaign,
    )


async def test_only_campaigns_with_a_url_get_outbox_rows(database: Database) -> None:
    async with database.acquire() as conn:
        account = await make_account(conn)
        sender = await make_sender(conn, account.id)
        quiet = await make_campaign(conn, account.id, sender, "a")
        loud = await make_campaign(
            conn, account.id, sender, "b", callback_url="http://127.0.0.1:9/hook"
        )
        ids = {}
        for campaign in (quiet, loud):
            batch = await make_batch(conn, campaign)
            ids[campaign] = await conn.fetchval(
                "INSERT INTO messages (batch_id, campaign_id, account_id, phone, text, encoding,"
                " data_coding, esm_class, part_count, status) VALUES ($1, $2, $3, '+306948530920',"
                " 'x', 'gsm7', 0, 0, 1, 'delivered') RETURNING id",
                batch,
                campaign,
                account.id,
            )
    now = [0.0]
    gate = CallbackGate(ttl=30.0, clock=lambda: now[0])
    async with database.acquire() as conn:
        await gate(conn, [StatusChange(ids[quiet], "sent", "delivered", None, NOW, quiet)])
        assert await conn.fetchval("SELECT count(*) FROM callback_outbox") == 0
        await gate(
            conn,
            [
                StatusChange(ids[quiet], "sent", "delivered", None, NOW, quiet),
                StatusChange(ids[loud], "sent", "delivered", None, NOW, loud),
            ],
        )
        rows = await conn.fetch("SELECT url, body FROM callback_outbox")
        assert [(r["url"], r["body"]["message_id"]) for r in rows] == [
            ("http://127.0.0.1:9/hook", ids[loud])
        ]
        # A URL set later is seen once the cached answer is older than the ttl.
        await conn.execute(
            "UPDATE campaigns SET callback_url = 'http://127.0.0.1:9/q' WHERE id = $1", quiet
        )
        await gate(conn, [StatusChange(ids[quiet], "sent", "delivered", None, NOW, quiet)])
        assert await conn.fetchval("SELECT count(*) FROM callback_outbox") == 1
        now[0] = 31.0
        await gate(conn, [StatusChange(ids[quiet], "sent", "delivered", None, NOW, quiet)])
        assert await conn.fetchval("SELECT count(*) FROM callback_outbox") == 2
