"""A send-now campaign's rest is stored once the dispatcher has sent its first claim
(herald/api/routes/campaigns.py, _store_rests): the request waits for `next_send`, and the
rest's COPY no longer takes the loop from that claim."""

from __future__ import annotations

import httpx

from herald.api.app import create_app
from herald.api.context import AppContext
from herald.api.routes.campaigns import FIRST_SEND
from herald.campaigns.runs import FIRST, CampaignRunner
from herald.delivery.router import Router
from herald.metrics import Metrics
from herald.store.accounts import create_account
from herald.store.db import Database
from herald.store.queries import queries
from tests.api.conftest import CONFIG
from tests.api.support import Clock, serve
from tests.e2e.test_send_now_rest import spring_sale

RECIPIENTS = FIRST + 500
LARGE = CONFIG.model_copy(
    update={"api": CONFIG.api.model_copy(update={"max_recipients_per_request": RECIPIENTS})}
)


async def test_the_rest_is_stored_after_the_next_send(database: Database) -> None:
    async with database.acquire() as conn:
        account = await create_account(conn, "acme", RECIPIENTS)
        await conn.execute(queries.create_sender, account.id, "Herald", "alphanumeric", 5, 0)
    events: list[str] = []
    stored_then: list[int] = []

    async def next_send(within: float) -> None:
        events.append(f"next_send {within}")
        async with database.acquire() as conn:
            stored_then.append(await conn.fetchval("SELECT count(*) FROM messages"))

    clock, router = Clock(), Router(LARGE.routes, healthy=lambda _: True)
    runner = CampaignRunner(database, LARGE, router, clock=clock, metrics=Metrics())
    context = AppContext(
        db=database,
        config=LARGE,
        clock=clock,
        runner=runner,
        wake=lambda: events.append("wake"),
        next_send=next_send,
    )
    async with (
        serve(create_app(context)) as url,
        httpx.AsyncClient(
            base_url=url + "/v1", headers={"Authorization": f"Bearer {account.api_key}"}
        ) as api,
    ):
        created = await api.post("/campaigns", json=spring_sale(RECIPIENTS), timeout=60)
    assert created.status_code == 201, created.text
    # Woken first, then waited for the first send with only the first messages stored; the
    # answer comes once the rest is stored too.
    assert events == ["wake", f"next_send {FIRST_SEND}"]
    assert stored_then == [FIRST]
    async with database.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM messages") == RECIPIENTS
