"""What a running gateway reports about a campaign it sent: each message's bind, completion
right after the last final status, segments counted by their own state (issue 23)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from herald.simulator import Simulator
from herald.store.accounts import NewAccount
from herald.store.db import Database
from tests.support.factories import (
    add_recipients,
    greek_mobiles,
    make_account,
    make_campaign,
    make_sender,
)
from tests.support.gateway import bind_to, gateway_config, running
from tests.support.processes import batch_events, wait_for_batch


async def campaign(
    database: Database, numbers: list[str], template: str = "Hello", **options: Any
) -> tuple[NewAccount, int]:
    async with database.acquire() as conn:
        account = await make_account(conn)
        sender = await make_sender(conn, account.id)
        campaign_id = await make_campaign(conn, account.id, sender, template, **options)
        await add_recipients(conn, campaign_id, numbers)
    return account, campaign_id


def client(url: str, account: NewAccount) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=url + "/v1", headers={"Authorization": f"Bearer {account.api_key}"}
    )


async def test_messages_show_the_bind_that_sent_them(
    database: Database, db_dsn: str, tmp_path: Path
) -> None:
    async with Simulator() as sim:
        config = gateway_config(db_dsn, tmp_path, [bind_to(sim, name="athens-1")])
        account, campaign_id = await campaign(database, greek_mobiles(5))
        async with running(config) as herald:
            assert herald.runner is not None
            await herald.runner.start_run(campaign_id=campaign_id, account_id=account.id)
            await sim.wait_for_receipts_acked(5)
            async with client(herald.api_url, account) as api:
                page = (await api.get(f"/campaigns/{campaign_id}/messages")).json()
    assert [m["bind"] for m in page["items"]] == ["athens-1"] * 5
    assert {p["bind"] for m in page["items"] for p in m["parts"]} == {
        config.receipt_group("athens-1")
    }


async def test_a_campaign_completes_with_its_last_final_status_not_at_a_sweep(
    database: Database, db_dsn: str, tmp_path: Path
) -> None:
    # Maintenance ticks once at start and then not for an hour: only the write that makes
    # the last message final can complete the batch and the campaign.
    async with Simulator() as sim:
        config = gateway_config(
            db_dsn, tmp_path, [bind_to(sim)], tracker={"sweep_interval": 3600.0}
        )
        account, campaign_id = await campaign(database, greek_mobiles(20))
        async with batch_events(database) as events, running(config) as herald:
            assert herald.runner is not None
            run = await herald.runner.start_run(campaign_id=campaign_id, account_id=account.id)
            await wait_for_batch(events, run.batch_id, within=30)
            async with database.acquire() as conn:
                status = await conn.fetchval(
                    "SELECT status FROM campaigns WHERE id = $1", campaign_id
                )
    assert status == "completed"


async def test_segment_progress_counts_each_part_by_its_own_state(
    database: Database, db_dsn: str, tmp_path: Path
) -> None:
    # 40 three-part messages, about a third of the parts undeliverable: most messages fail
    # for one part, while most of their parts are delivered.
    long_text = "Long message with an euro sign € " * 12
    async with Simulator(outcomes=(("DELIVRD", 0.65), ("UNDELIV", 0.35)), seed=5) as sim:
        config = gateway_config(db_dsn, tmp_path, [bind_to(sim)])
        account, campaign_id = await campaign(database, greek_mobiles(40), long_text)
        async with running(config) as herald:
            assert herald.runner is not None
            await herald.runner.start_run(campaign_id=campaign_id, account_id=account.id)
            await sim.wait_for_receipts_acked(120)
            assert herald.maintenance is not None
            await herald.maintenance.tick()
            async with client(herald.api_url, account) as api:
                progress = (await api.get(f"/campaigns/{campaign_id}")).json()["progress"]
    async with database.acquire() as conn:
        parts = dict(await conn.fetch("SELECT state, count(*) FROM parts GROUP BY state"))
        messages = dict(await conn.fetch("SELECT status, count(*) FROM messages GROUP BY status"))
    assert sum(parts.values()) == 120 and parts["undeliverable"] > 0
    segments = progress["segments"]
    assert (segments["expected"], segments["delivered"], segments["failed"]) == (
        120,
        parts["delivered"],
        parts["undeliverable"],
    )
    assert segments["delivered"] > 3 * messages.get("delivered", 0)  # not by message status
    assert progress["messages"]["failed"] == messages["failed"]
