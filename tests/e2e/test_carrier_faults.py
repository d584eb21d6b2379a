"""Carrier faults end to end (issue 25, items 3-5): the real Daemon and PostgreSQL against
simulator personalities that reproduce each fault; what every message ends as."""

from __future__ import annotations

from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from herald.simulator import Simulator, personality_settings
from herald.store.db import Database
from tests.support.factories import (
    add_recipients,
    greek_mobiles,
    make_account,
    make_campaign,
    make_sender,
)
from tests.support.gateway import bind_to, gateway_config, running


async def campaign(database: Database, numbers: list[str]) -> tuple[int, int]:
    async with database.acquire() as conn:
        account = await make_account(conn)
        sender = await make_sender(conn, account.id)
        campaign_id = await make_campaign(conn, account.id, sender, "Hello")
        await add_recipients(conn, campaign_id, numbers)
    return account.id, campaign_id


async def outcomes(database: Database, campaign_id: int) -> dict[tuple[str, str | None], int]:
    async with database.acquire() as conn:
        rows = await conn.fetch(
            "SELECT status, reason, count(*) AS n FROM messages WHERE campaign_id = $1"
            " GROUP BY status, reason",
            campaign_id,
        )
    return {(r["status"], r["reason"]): r["n"] for r in rows}


async def test_an_smsc_unbinding_mid_window_leaves_no_message_unknown(
    database: Database, db_dsn: str, tmp_path: Path
) -> None:
    # The SMSC takes 25 submits of each connection, unbinds, and refuses what reaches it
    # after its unbind. 500 messages through a window of 50: every one delivered, none sent
    # twice, none unknown (it was most of them: the refusals were never read).
    settings = personality_settings("unbind_on_submit", unbind_after=25)
    async with Simulator(settings) as sim:
        bind = bind_to(sim, window=50, reconnect_min=0.05, reconnect_max=0.1)
        config = gateway_config(db_dsn, tmp_path, [bind], dispatcher={"retry_base": 0.1})
        account, campaign_id = await campaign(database, greek_mobiles(500))
        async with running(config) as herald:
            assert herald.runner is not None
            await herald.runner.start_run(campaign_id=campaign_id, account_id=account)
            await sim.wait_for_receipts_acked(500, timeout=60)
            refused = herald.sessions["sim"].stats.submits["rebind"]  # ESME_RINVBNDSTS
        assert sim.stats.unbinds_sent >= 10 and refused > 0
        assert sim.duplicates() == {}
    assert await outcomes(database, campaign_id) == {("delivered", None): 500}


async def test_a_black_hole_is_taken_out_of_rotation_and_its_route_uses_the_other_bind(
    database: Database, db_dsn: str, tmp_path: Path
) -> None:
    # Two binds on one route, one to an SMSC that never answers a submit. After three
    # response timeouts it is out of rotation: only its first window is lost (unknown), the
    # rest go to the other bind (it was fed its share of every claim, all lost).
    async with Simulator(personality_settings("black_hole")) as hole, Simulator() as happy:
        binds = [
            bind_to(hole, name="hole", window=10, response_timeout=0.3, reconnect_min=30.0),
            bind_to(happy, name="happy", window=50),
        ]
        config = gateway_config(db_dsn, tmp_path, binds)
        account, campaign_id = await campaign(database, greek_mobiles(300))
        async with running(config) as herald:
            assert herald.runner is not None
            await herald.runner.start_run(campaign_id=campaign_id, account_id=account)
            await hole.wait_for_submits(10)
            await happy.wait_for_receipts_acked(300 - 10, timeout=30)
            async with httpx.AsyncClient(base_url=herald.api_url) as api:
                ready = (await api.get("/readyz")).json()
                metrics = (await api.get("/metrics")).text
        assert hole.stats.submits == 10  # its window, then nothing more
    assert await outcomes(database, campaign_id) == {
        ("delivered", None): 290,
        ("unknown", "no_response"): 10,
    }
    assert ready["out_of_rotation"] == ["hole"] and ready["binds"]["happy"] == "bound"
    assert ready["ready"] is True  # the other bind carries the route
    samples = {
        (s.name, s.labels.get("bind")): s.value
        for family in text_string_to_metric_families(metrics)
        for s in family.samples
    }
    assert samples[("herald_bind_in_rotation", "hole")] == 0
    assert samples[("herald_bind_in_rotation", "happy")] == 1
    assert samples[("herald_bind_out_of_rotation_total", "hole")] == 1
    assert samples[("herald_submit_timeouts_total", "hole")] == 10


async def test_nacks_for_single_messages_reject_them_and_keep_the_link(
    database: Database, db_dsn: str, tmp_path: Path
) -> None:
    async with Simulator(personality_settings("nack_per_message", seed=3)) as sim:
        config = gateway_config(db_dsn, tmp_path, [bind_to(sim, nack_reconnect_after=3)])
        account, campaign_id = await campaign(database, greek_mobiles(120))
        async with running(config) as herald:
            assert herald.runner is not None
            await herald.runner.start_run(campaign_id=campaign_id, account_id=account)
            nacked = await sim.wait_for(lambda s: s.submits >= 120)
            await sim.wait_for_receipts_acked(120 - nacked.generic_nacks)
            reconnects = herald.sessions["sim"].stats.reconnects
        assert sim.stats.connections == 1 and reconnects == 0
    counts = await outcomes(database, campaign_id)
    assert counts == {
        ("delivered", None): 120 - sim.stats.generic_nacks,
        ("rejected", "ESME_RINVCMDID"): sim.stats.generic_nacks,
    }
    assert sim.stats.generic_nacks >= 20  # about a third, seeded
