"""A send-now campaign too large to store with its request (herald/campaigns/runs.py): POSTed
to the real daemon, its first messages go out while the rest is stored, and every message is
delivered, once, with the campaign completing only after the last."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from herald.campaigns.runs import FIRST
from herald.simulator import Simulator
from herald.store.db import Database
from tests.e2e.test_gateway import statuses
from tests.support.factories import greek_mobiles, make_account, make_sender
from tests.support.gateway import bind_to, gateway_config, running
from tests.support.processes import batch_events

RECIPIENTS = 3 * FIRST


async def test_a_large_send_now_campaign_is_sent_whole_and_once(
    database: Database, db_dsn: str, tmp_path: Path
) -> None:
    async with database.acquire() as conn:
        account = await make_account(conn, credit=RECIPIENTS)
        await make_sender(conn, account.id, "Herald")
    async with Simulator() as sim:
        config = gateway_config(db_dsn, tmp_path, [bind_to(sim)])
        async with (
            running(config) as herald,
            batch_events(database) as events,
            httpx.AsyncClient(
                base_url=herald.api_url + "/v1",
                headers={"Authorization": f"Bearer {account.api_key}"},
                timeout=30,
            ) as api,
        ):
            created = await api.post(
                "/campaigns",
                json={
                    "sender": "Herald",
                    "message": "Spring sale",
                    "to": greek_mobiles(RECIPIENTS),
                    # Greek numbers: in Athens' default quiet hours they would wait.
                    "respect_quiet_hours": False,
                },
            )
            assert created.status_code == 201, created.text
            campaign = created.json()
            assert campaign["run"]["count"] == RECIPIENTS
            # Answered once all are stored: the rest too.
            async with database.acquire() as conn:
                stored = await conn.fetchval("SELECT count(*) FROM messages")
                assert stored == RECIPIENTS
            async with asyncio.timeout(60):
                while campaign["id"] not in (await events.get()).get("campaigns_completed", []):
                    pass
            await sim.wait_for_receipts_acked(RECIPIENTS, timeout=60)
    assert await statuses(database, campaign["id"]) == {"delivered": RECIPIENTS}
    assert len({s.destination_addr for s in sim.submits}) == len(sim.submits) == RECIPIENTS
