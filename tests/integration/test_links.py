"""Links in the store: codes made and COPYed at expansion, a taken code, the ClickRecorder's
bounds and its failed writes, and what deleting a campaign takes with it."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

import pytest

from herald.campaigns.clicks import Click, ClickRecorder
from herald.campaigns.links import new_codes
from herald.campaigns.runs import CampaignRunner
from herald.config import BindConfig, Config, LinksConfig, RouteConfig
from herald.delivery.router import Router
from herald.errors import RequestError
from herald.metrics import Metrics
from herald.store import links as link_store
from herald.store.db import Database
from herald.store.queries import queries
from tests.support.factories import add_recipients, make_account, make_campaign, make_sender

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
CONFIG = Config(
    binds=(
        BindConfig.model_validate(
            {"name": "a", "host": "127.0.0.1", "port": 2775, "system_id": "x"}
        ),
    ),
    routes=(RouteConfig(name="all", binds=("a",)),),
    links=LinksConfig(base_url="https://s.example.com"),
)
NUMBERS = ["+306948530920", "+447400123456", "+12015550123", "not a number", "+306948530921"]


def runner(db: Database, **options: Any) -> CampaignRunner:
    return CampaignRunner(
        db,
        CONFIG,
        Router(CONFIG.routes, healthy=lambda _: True),
        clock=lambda: NOW,
        metrics=Metrics(),
        **options,
    )


async def campaign_with_links(database: Database, template: str) -> tuple[int, int]:
    async with database.acquire() as conn:
        account = await make_account(conn)
        sender = await make_sender(conn, account.id)
        campaign = await make_campaign(conn, account.id, sender, template)
        await link_store.set_campaign_links(
            conn, campaign, "https://shop.example.com/p?x=1", {"utm_source": "sms"}, True
        )
        await add_recipients(conn, campaign, NUMBERS)
        await conn.execute(queries.add_to_blacklist, account.id, ["+306948530921"], "api")
    return account.id, campaign


async def test_a_run_gives_each_queued_message_its_own_codes(database: Database) -> None:
    account, campaign = await campaign_with_links(database, "Sale %Link% stop %OptOutLink%")
    result = await runner(database).start_run(campaign_id=campaign, account_id=account)
    assert (result.count, result.rejected) == (3, 2)
    async with database.acquire() as conn:
        messages = await conn.fetch("SELECT id, phone, text, status, country FROM messages")
        links = await conn.fetch("SELECT code, message_id, batch_id, kind FROM links")
        batch = await conn.fetchrow("SELECT link_url FROM batches")
    assert batch["link_url"] == "https://shop.example.com/p?x=1&utm_source=sms"
    queued = {m["id"]: m for m in messages if m["status"] == "queued"}
    assert {m["phone"]: m["country"] for m in messages} == {
        "+306948530920": "GR",
        "+447400123456": "GB",
        "+12015550123": "US",
        "not a number": None,
        "+306948530921": "GR",  # blacklisted: rejected, still a Greek number
    }
    assert len(links) == 2 * len(queued) and len({r["code"] for r in links}) == len(links)
    for link in links:
        assert link["message_id"] in queued and link["batch_id"] == result.batch_id
        path = {"click": "l", "opt_out": "o"}[link["kind"]]
        assert f"https://s.example.com/{path}/{link['code']}" in queued[link["message_id"]]["text"]


async def test_a_run_whose_template_cannot_fill_its_links_is_refused(database: Database) -> None:
    account, campaign = await campaign_with_links(database, "Sale %Link%")  # opt_out_link true
    with pytest.raises(RequestError) as caught:
        await runner(database).start_run(campaign_id=campaign, account_id=account)
    assert caught.value.code == "opt_out_link_unplaced"
    async with database.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM batches") == 0


async def test_a_taken_code_expands_the_run_again(
    database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    account, campaign = await campaign_with_links(database, "Sale %Link% stop %OptOutLink%")
    async with database.acquire() as conn:
        await conn.execute(
            "INSERT INTO links (code, message_id, batch_id, kind) VALUES ('TAKEN0000000', 0, 0,"
            " 'click')"
        )
    draws = [["TAKEN0000000"]]

    def codes(count: int) -> list[str]:
        return draws.pop() if draws else new_codes(count)

    with caplog.at_level(logging.WARNING, logger="herald.campaigns.runs"):
        result = await runner(database, link_codes=codes).start_run(
            campaign_id=campaign, account_id=account
        )
    assert result.count == 3 and "a link code was taken" in caplog.text
    async with database.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM batches") == 1
        assert await conn.fetchval("SELECT count(*) FROM links") == 1 + 6


async def clicks_stored(database: Database) -> int:
    async with database.acquire() as conn:
        return int(await conn.fetchval("SELECT count(*) FROM link_events"))


async def test_the_recorder_bounds_what_one_link_and_the_buffer_hold(database: Database) -> None:
    metrics = Metrics()
    recorder = ClickRecorder(database, metrics=metrics, per_link=3, max_buffered=5)
    for _ in range(10):
        await recorder.add(Click(1, 1, NOW, "bot"))
    assert (recorder.pending, recorder.dropped) == (3, 7)
    await recorder.add(Click(2, 1, NOW, "x" * 2000))
    await recorder.add(Click(3, 1, NOW, None))
    # Full: the next click waits for a write, and the write makes room.
    waiting = asyncio.ensure_future(recorder.add(Click(4, 1, NOW, None)))
    await asyncio.sleep(0)  # one turn of the loop: the add runs up to its wait, no further
    assert not waiting.done()
    assert await recorder.flush() == 5
    await waiting
    assert await recorder.flush() == 1
    assert (await clicks_stored(database), metrics.link_clicks) == (6, 6)
    async with database.acquire() as conn:
        agent = await conn.fetchval("SELECT user_agent FROM link_events WHERE message_id = 2")
    assert len(agent) == 512


async def test_a_failed_write_keeps_its_clicks_for_the_next(database: Database) -> None:
    recorder = ClickRecorder(database, metrics=Metrics())
    await recorder.add(Click(1, 1, NOW, "a"))
    async with database.acquire() as conn:
        await conn.execute("ALTER TABLE link_events RENAME TO link_events_away")
    with pytest.raises(Exception, match="link_events"):
        await recorder.flush()
    await recorder.add(Click(2, 1, NOW, "b"))
    assert recorder.pending == 2
    async with database.acquire() as conn:
        await conn.execute("ALTER TABLE link_events_away RENAME TO link_events")
    assert await recorder.flush() == 2
    async with database.acquire() as conn:
        rows = await conn.fetch("SELECT message_id FROM link_events ORDER BY id")
    assert [r["message_id"] for r in rows] == [1, 2]  # in the order they came


async def test_the_recorder_writes_what_is_left_when_it_stops(database: Database) -> None:
    recorder = ClickRecorder(database, metrics=Metrics(), flush_interval=3600)
    stop = asyncio.Event()
    task = asyncio.ensure_future(recorder.run(stop))
    await recorder.add(Click(1, 1, NOW, None))
    stop.set()
    await task
    assert await clicks_stored(database) == 1
