"""Each route has its own part of the dispatcher's slots, end to end: the real Daemon, two
simulators behind two routes, one of them a carrier that stops answering."""

from __future__ import annotations

from pathlib import Path

from herald.config import RouteConfig
from herald.simulator import Simulator
from herald.store.db import Database
from tests.support.factories import add_recipients, make_account, make_campaign, make_sender
from tests.support.gateway import bind_to, gateway_config, running


async def campaign(database: Database, numbers: list[str]) -> tuple[int, int]:
    async with database.acquire() as conn:
        account = await make_account(conn)
        sender = await make_sender(conn, account.id)
        campaign_id = await make_campaign(conn, account.id, sender, "Hello")
        await add_recipients(conn, campaign_id, numbers)
    return account.id, campaign_id


async def test_a_silent_carrier_holds_only_its_own_routes_slots(
    database: Database, db_dsn: str, tmp_path: Path
) -> None:
    # One slot pool for every route let the silent carrier's messages, claimed first, fill
    # it until their responses timed out: the other route sent nothing meanwhile. Now the
    # silent route holds at most its own bind's pipeline (four claims of 64 at window 4).
    # Silent by holding its answers (until the end), not by never answering: a response
    # timeout would end the silence while the other route is still at work on a slow machine.
    async with Simulator() as silent, Simulator() as happy:
        config = gateway_config(
            db_dsn,
            tmp_path,
            [
                bind_to(silent, name="silent", window=4, response_timeout=60.0),
                bind_to(happy, name="happy", window=50),
            ],
            routes=[
                RouteConfig(name="spain", prefixes=("34",), binds=("silent",)),
                RouteConfig(name="greece", prefixes=("30",), binds=("happy",)),
            ],
        )
        spain = await campaign(database, [f"+3460000{i:04d}" for i in range(300)])
        greece = await campaign(database, [f"+30694000{i:04d}" for i in range(300)])
        async with running(config) as herald:
            assert herald.runner is not None
            silent.hold_answers()
            await herald.runner.start_run(campaign_id=spain[1], account_id=spain[0])
            await silent.wait_for_submits(4)
            await herald.runner.start_run(campaign_id=greece[1], account_id=greece[0])
            await happy.wait_for_receipts_acked(300, timeout=30)
            async with database.acquire() as conn:
                spanish = await conn.fetch(
                    "SELECT status, count(*) AS n FROM messages WHERE campaign_id = $1"
                    " GROUP BY status",
                    spain[1],
                )
            assert silent.stats.submits == 4  # its window, not answered
            assert silent.release_answers() == 4  # the stop need not wait for a timeout
    counts = {r["status"]: r["n"] for r in spanish}
    assert counts == {"sending": 256, "queued": 44}  # no more leased than the route's pipeline
