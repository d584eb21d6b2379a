"""A send-now campaign too large to store with its request (herald/campaigns/runs.py): POSTed
to the real daemon, its first messages go out while the rest is stored, and every message is
delivered, once, with the campaign completing only after the last."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from herald.campaigns.runs import FIRST
from herald.daemon import Running
from herald.simulator import Simulator
from herald.store.db import Database
from tests.e2e.test_gateway import statuses
from tests.support.factories import greek_mobiles, make_account, make_sender
from tests.support.gateway import bind_to, gateway_config, running
from tests.support.processes import batch_events

RECIPIENTS = 3 * FIRST


def spring_sale(count: int) -> dict[str, Any]:
    """A send-now campaign body to `count` Greek mobiles."""
    return {
        "sender": "Herald",
        "message": "Spring sale",
        "to": greek_mobiles(count),
        # Greek numbers: in Athens' default quiet hours they would wait.
        "respect_quiet_hours": False,
    }


@contextlib.asynccontextmanager
async def gateway(
    database: Database, db_dsn: str, tmp_path: Path, credit: int
) -> AsyncIterator[tuple[Simulator, Running, httpx.AsyncClient]]:
    """The daemon bound to a simulator, and an API client of an account with `credit`."""
    async with database.acquire() as conn:
        account = await make_account(conn, credit=credit)
        await make_sender(conn, account.id, "Herald")
    async with Simulator() as sim:
        config = gateway_config(db_dsn, tmp_path, [bind_to(sim)])
        async with (
            running(config) as herald,
            httpx.AsyncClient(
                base_url=herald.api_url + "/v1",
                headers={"Authorization": f"Bearer {account.api_key}"},
                timeout=30,
            ) as api,
        ):
            yield sim, herald, api


async def test_a_large_send_now_campaign_is_sent_whole_and_once(
    database: Database, db_dsn: str, tmp_path: Path
) -> None:
    async with (
        gateway(database, db_dsn, tmp_path, RECIPIENTS) as (sim, _, api),
        batch_events(database) as events,
    ):
        created = await api.post("/campaigns", json=spring_sale(RECIPIENTS))
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


async def test_next_send_ends_when_claimed_parts_reach_the_binds_or_at_its_bound(
    database: Database, db_dsn: str, tmp_path: Path
) -> None:
    """What a send-now request waits for before storing its rest (Dispatcher.next_send):
    the dispatcher's next claim handed to the binds, or its bound when nothing is sent."""
    async with gateway(database, db_dsn, tmp_path, 10) as (sim, herald, api):
        dispatcher = herald.dispatcher
        assert dispatcher is not None
        async with asyncio.timeout(10):  # nothing to send: the bound ends it
            await dispatcher.next_send(0.01)
        assert dispatcher.in_flight == 0
        sim.hold_answers()  # what is handed to the bind stays in flight
        waiting = asyncio.create_task(dispatcher.next_send(60))
        created = await api.post("/campaigns", json=spring_sale(3))
        assert created.status_code == 201, created.text
        async with asyncio.timeout(30):
            await waiting
        assert 1 <= dispatcher.in_flight <= 3
        sim.release_answers()
        await sim.wait_for_receipts_acked(3, timeout=30)
