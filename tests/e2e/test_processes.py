"""Real `herald run` processes sharing one PostgreSQL: scale-out, SIGKILL and SIGTERM mid-campaign.

The simulator runs in the test's loop and counts, per (destination, text), every message it
accepted more than once: that is what "sent twice" means here.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from herald.campaigns.run_result import RunResult
from herald.campaigns.runs import CampaignRunner
from herald.config import BindConfig, Config, RouteConfig
from herald.delivery.router import Router
from herald.metrics import Metrics
from herald.simulator import Simulator
from herald.store.db import Database
from tests.support.factories import (
    add_recipients,
    greek_mobiles,
    make_account,
    make_campaign,
    make_sender,
)
from tests.support.processes import HeraldProcess, batch_events, wait_for_batch, write_config

pytestmark = pytest.mark.slow

FINAL = {"delivered", "failed", "rejected", "unknown", "stopped"}
PROFILE = Config(
    binds=(BindConfig.model_validate({"name": "p", "host": "h", "port": 1, "system_id": "x"}),),
    routes=(RouteConfig(name="all", binds=("p",)),),
)


async def start_campaign(database: Database, count: int) -> RunResult:
    """A campaign of `count` recipients, run from the test process (as the API would)."""
    async with database.acquire() as conn:
        account = await make_account(conn, credit=10 * count)
        sender = await make_sender(conn, account.id)
        campaign = await make_campaign(conn, account.id, sender, "Flash sale today")
        await add_recipients(conn, campaign, greek_mobiles(count))
    runner = CampaignRunner(
        database,
        PROFILE,
        Router(PROFILE.routes, lambda _: True),
        clock=lambda: datetime.now(UTC),
        metrics=Metrics(),
    )
    result = await runner.start_run(campaign_id=campaign, account_id=account.id)
    async with database.acquire() as conn:
        await conn.execute("NOTIFY herald_dispatch")
    return result


async def statuses(database: Database) -> dict[str, int]:
    async with database.acquire() as conn:
        rows = await conn.fetch("SELECT status, count(*) AS n FROM messages GROUP BY status")
    return {r["status"]: r["n"] for r in rows}


async def test_two_processes_split_a_campaign_nothing_twice_nothing_left(
    database: Database, db_dsn: str, tmp_path: Path
) -> None:
    count = 50_000
    sim = Simulator(accounts={"sys-a": "pw-a", "sys-b": "pw-b"}, keep_submits=0)
    async with sim:
        herald_a = HeraldProcess(
            write_config(
                tmp_path / "a.toml",
                dsn=db_dsn,
                node="a",
                sim=sim,
                system_id="sys-a",
                password="pw-a",
                window=200,
            )
        )
        herald_b = HeraldProcess(
            write_config(
                tmp_path / "b.toml",
                dsn=db_dsn,
                node="b",
                sim=sim,
                system_id="sys-b",
                password="pw-b",
                window=200,
            )
        )
        await herald_a.start()
        await herald_b.start()
        async with batch_events(database) as events:
            result = await start_campaign(database, count)
            await wait_for_batch(events, result.batch_id, within=300)
        codes = [await herald_a.terminate(), await herald_b.terminate()]
    assert codes == [0, 0]
    assert await statuses(database) == {"delivered": count}
    assert sim.stats.duplicate_messages == 0
    assert sim.stats.accepted == count
    async with database.acquire() as conn:
        shares = {
            r["bind"]: r["n"]
            for r in await conn.fetch("SELECT bind, count(*) AS n FROM parts GROUP BY bind")
        }
    # Both processes took a real share of the work.
    assert set(shares) == {
        f"sys-a@{sim.address[0]}:{sim.address[1]}",
        f"sys-b@{sim.address[0]}:{sim.address[1]}",
    }
    assert min(shares.values()) > count // 10


def sigterm(herald: HeraldProcess) -> None:
    assert herald.proc is not None
    herald.proc.send_signal(15)


async def crash_and_restart(
    database: Database,
    db_dsn: str,
    tmp_path: Path,
    *,
    policy: str,
    stop: Callable[[HeraldProcess], object],
) -> tuple[Simulator, int]:
    count, window = 20_000, 50
    sim = Simulator(keep_submits=0)
    async with sim:
        config = write_config(
            tmp_path / "h.toml",
            dsn=db_dsn,
            node="crashy",
            sim=sim,
            system_id="herald",
            password="secret",
            window=window,
            rate=5000,
            unknown_policy=policy,
        )
        first = HeraldProcess(config)
        await first.start()
        async with batch_events(database) as events:
            result = await start_campaign(database, count)
            await sim.wait_for_submits(count // 4, timeout=120)
            stop(first)
            exit_code = await first.wait()
            second = HeraldProcess(config)
            await second.start()
            await wait_for_batch(events, result.batch_id, within=300)
            assert await second.terminate() == 0
    async with database.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM messages") == count  # none lost
    assert set(await statuses(database)) <= FINAL  # and every one settled
    return sim, exit_code


@pytest.mark.parametrize("policy", ["mark_unknown", "resend"])
async def test_sigkill_mid_campaign_loses_nothing_and_resends_at_most_what_was_leased(
    database: Database, db_dsn: str, tmp_path: Path, policy: str
) -> None:
    sim, code = await crash_and_restart(
        database, db_dsn, tmp_path, policy=policy, stop=HeraldProcess.kill
    )
    assert code == -9
    counts = await statuses(database)
    # What the dead process had leased: at most twice its bind's pipeline, which at window 50
    # is four claims of 64 parts (docs/architecture.md, durability).
    leased = 2 * 4 * 64
    if policy == "mark_unknown":
        # What was leased at the kill is unknown, never sent twice.
        assert sim.stats.duplicate_messages == 0
        assert counts.get("unknown", 0) <= leased
        assert counts.get("delivered", 0) + counts.get("unknown", 0) == 20_000
    else:
        # What was leased is sent again: at most that many twice.
        assert sim.stats.duplicate_messages <= leased
        assert counts == {"delivered": 20_000}


async def test_sigterm_mid_campaign_drains_exits_0_and_a_restart_finishes(
    database: Database, db_dsn: str, tmp_path: Path
) -> None:
    sim, code = await crash_and_restart(
        database, db_dsn, tmp_path, policy="mark_unknown", stop=sigterm
    )
    assert code == 0
    assert sim.stats.duplicate_messages == 0
    assert await statuses(database) == {"delivered": 20_000}
